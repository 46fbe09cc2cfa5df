"""The network alone: one forward and backward pass to the default style layers, per size and
arithmetic, with its time and the peak memory it adds, against `doodle.memory.network_bytes`.

    python benchmarks/network.py                          # 512x384, 1024x768, 2048x1536 in bf16 and fp32
    python benchmarks/network.py --sizes 1024 --precisions bf16

Each size and arithmetic runs in a fresh subprocess, so each peak belongs to that pass alone: the
peak RSS after the pass less the peak before it (the process with torch and the network loaded).
The time is the median of three passes after a first, warm-up one. Run it by hand; the tests never
time anything.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import machine  # noqa: E402

LAYERS = ("relu3_1", "relu4_1")


def worker(width: int, precision: str) -> dict:
    import torch

    from doodle.encoder import load_encoder
    from doodle.optimise import encode

    encoder = load_encoder("auto", "avg", "cpu")
    image = torch.rand(1, 3, width * 3 // 4, width, requires_grad=True)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    seconds = []
    for _ in range(4):
        started = time.perf_counter()
        features = encode(encoder, image, LAYERS, precision)
        sum(value.pow(2).mean() for value in features.values()).backward()
        seconds.append(time.perf_counter() - started)
        image.grad = None
        del features
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"seconds": statistics.median(seconds[1:]), "added": peak - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="512,1024,2048", help="comma-separated widths (height = 3/4 of each)")
    parser.add_argument("--precisions", default="bf16,fp32", help="comma-separated: bf16, fp32")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        width, precision = json.loads(arguments.worker)
        print(json.dumps(worker(width, precision)))
        return
    from doodle.memory import network_bytes

    print(f"- Machine: {machine()}\n- Command: `python benchmarks/network.py {' '.join(sys.argv[1:])}`\n")
    print("| size | arithmetic | forward and backward s | peak added GiB | estimate GiB |\n"
          "| --- | --- | ---: | ---: | ---: |", flush=True)
    for width in (int(part) for part in arguments.sizes.split(",")):
        for precision in arguments.precisions.split(","):
            process = subprocess.run([sys.executable, __file__, "--worker", json.dumps([width, precision])],
                                     capture_output=True, text=True)
            if process.returncode != 0:
                sys.exit(f"network benchmark failed:\n{process.stderr[-3000:]}")
            run = json.loads(process.stdout.strip().splitlines()[-1])
            height = width * 3 // 4
            estimate = network_bytes((height, width), LAYERS, precision)
            print(f"| {width}x{height} | {precision} | {run['seconds']:.2f} | {run['added'] / 2**30:.2f} | "
                  f"{estimate / 2**30:.2f} |", flush=True)


if __name__ == "__main__":
    main()
