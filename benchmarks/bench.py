"""Speed and memory benchmark: the paper's Monet coastline, painted from its doodle.

    python benchmarks/bench.py                  # default settings: where the time goes, per phase
    python benchmarks/bench.py --reference      # also the exact path (fp32 network, exact search at
                                                # every evaluation) at the same settings: speed ratio
    python benchmarks/bench.py --sizes 256,512,768,1024   # time and peak memory against size
    python benchmarks/bench.py --skip-default --sizes 512,1024 --old-path --loss
                                                # the size table with the previous (exact) search
                                                # beside each size, and every style loss afresh

Every run happens in a fresh subprocess, so each peak RSS belongs to one run alone. Results are
printed as Markdown tables headed by the machine, the command and the date; the latest ones are
kept in benchmarks/README.md. Extra `paint` settings go after `--`, e.g. `-- --iterations 30`.
The samples come from ../shared/samples (or --samples DIR); they are never copied into the project.
"""

from __future__ import annotations

import time

PROCESS_STARTED = time.perf_counter()  # before the heavy imports, so process time includes them

import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The exact path the speed-ups are measured against: float32 network, exact search of every style
# patch at every evaluation. Everything else (iterations, phases, weights, seed) stays the same.
REFERENCE = {"precision": "fp32", "matcher": "exact", "search": "all", "rematch_every": 1}
# The search the engine used before propagation search: exact, by label, bfloat16 scores re-checked
# in float32 (what `auto` chose on this CPU until 2026-12-02).
OLD_PATH = {"matcher": "bf16"}
SEARCH_NAMES = {"patchmatch": "propagation", "bf16": "exact (bf16)", "exact": "exact (fp32)"}


def parse_overrides(words: list[str]) -> dict[str, object]:
    """`--iterations 30 --matcher exact` -> {"iterations": 30, "matcher": "exact"}, typed from PaintConfig."""
    from doodle.config import default_of

    if len(words) % 2:
        sys.exit(f"paint settings come in pairs (--flag value), not {' '.join(words)}")
    overrides: dict[str, object] = {}
    for flag, value in zip(words[::2], words[1::2]):
        name = flag.lstrip("-").replace("-", "_")
        try:
            default = default_of(name)
        except KeyError:
            sys.exit(f"{flag}: not a doodle paint setting (see doodle paint --help)")
        if isinstance(default, tuple):
            overrides[name] = tuple(part for part in value.split(",") if part)
        else:
            overrides[name] = type(default)(value)
    return overrides


def worker(spec: dict) -> dict:
    """One painting run in this process; returns its measurements."""
    import numpy as np
    import torch

    from doodle import PaintConfig, paint
    from doodle.images import read_image, read_map, to_uint8, write_image
    from doodle.metrics import region_score

    samples = Path(spec["samples"])
    config = PaintConfig().with_overrides(**spec["overrides"])
    size = None if spec["width"] is None else (spec["width"], spec["width"] * 3 // 4)
    result = paint(samples / "Monet.jpg", style_map=samples / "Monet_sem.png",
                   target_map=samples / "Coastline_sem.png", size=size, config=config)
    wall = time.perf_counter() - PROCESS_STARTED
    gpu_peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # before the yardstick below
    output = Path(spec["output"])
    output.parent.mkdir(parents=True, exist_ok=True)
    write_image(output, result.image)
    # The region check compares with the doodle at its own size: a larger painting is scaled down to it.
    target = read_map(samples / "Coastline_sem.png")
    painted = read_image(output)
    if painted.shape[:2] != target.shape[:2]:
        from PIL import Image

        painted = np.asarray(Image.fromarray(to_uint8(painted)).resize(
            (target.shape[1], target.shape[0]), Image.Resampling.LANCZOS), dtype=np.float32) / 255
    score = region_score(painted, target, read_image(samples / "Monet.jpg"), read_map(samples / "Monet_sem.png")).score
    record = result.record
    # The losses a run reports at its last evaluation use the matches it had then, which --rematch-every
    # may have left stale; to compare runs fairly, measure every painting again with one yardstick:
    # one evaluation of the reference path (fp32 network, exact search of every patch).
    fresh: list[dict[str, float]] = []
    if spec["yardstick"]:
        yardstick = config.with_overrides(phases=1, iterations=1, final_iterations=0, tolerance=0.0, init=str(output),
                                          **REFERENCE)
        paint(samples / "Monet.jpg", style_map=samples / "Monet_sem.png", target_map=samples / "Coastline_sem.png",
              size=size, config=yardstick, callback=lambda progress: fresh.append(progress.losses))
    phases = [{"size": f"{p.size[0]}x{p.size[1]}", "evaluations": p.evaluations, "searches": p.searches,
               "seconds": p.seconds, "network": p.network_seconds, "matching": p.match_seconds,
               "converged": p.converged, "losses": p.losses} for p in record.phases]
    return {"seconds": record.seconds, "wall": wall, "phases": phases, "score": score,
            "fresh_losses": fresh[0] if fresh else None, "peak_rss": peak_rss, "gpu_peak": gpu_peak,
            "device": record.device, "model": record.model, "matcher": record.matcher,
            "precision": record.precision, "estimated_bytes": record.estimated_bytes, "output": str(output)}


def run_in_subprocess(spec: dict) -> dict:
    process = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True,
                             text=True)
    if process.returncode != 0:
        sys.exit(f"benchmark run failed:\n{process.stderr[-3000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def samples() -> Path:
    """The paper's sample images, or exit with where to put them."""
    from doodle.samples import samples_dir

    folder = samples_dir()
    if not (folder / "Monet.jpg").is_file():
        sys.exit(f"{folder}: the sample images are not here; set DOODLE_SAMPLES to their folder")
    return folder


def header(title: str) -> None:
    """A result table's heading: the machine, the command that made it and the date."""
    print(f"## {title}\n")
    print(f"- machine: {machine()}")
    print(f"- command: `python benchmarks/{Path(sys.argv[0]).name} {shlex.join(sys.argv[1:])}`")
    print(f"- date: {datetime.date.today().isoformat()}\n")


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    text = f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    from doodle.matching import fast_bfloat16

    text += f", native bf16: {'yes' if fast_bfloat16(torch.device('cpu')) else 'no'}"
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name()}"
    return text


def gib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**30:.2f}"


def style_loss(run: dict) -> float:
    """The painting's style loss (patch and Gram terms) measured afresh with the reference path (see `worker`)."""
    return sum(value for name, value in run["fresh_losses"].items() if name.startswith(("style:", "gram:")))


def phase_table(name: str, run: dict) -> list[str]:
    lines = [f"**{name}**: {run['model']}, {run['precision']} network, {run['matcher']} matching, "
             f"on {run['device']}",
             "",
             "| phase | size | evaluations | searches | total s | network s | matching s | rest s | losses |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for index, phase in enumerate(run["phases"], start=1):
        rest = phase["seconds"] - phase["network"] - phase["matching"]
        losses = ", ".join(f"{key} {value:.4g}" for key, value in phase["losses"].items())
        stop = " (converged)" if phase["converged"] else ""
        lines.append(f"| {index} | {phase['size']} | {phase['evaluations']}{stop} | {phase['searches']} | "
                     f"{phase['seconds']:.1f} | {phase['network']:.1f} | {phase['matching']:.1f} | {rest:.1f} | "
                     f"{losses} |")
    totals = {key: sum(phase[key] for phase in run["phases"]) for key in ("seconds", "network", "matching",
                                                                           "evaluations", "searches")}
    lines.append(f"| all | | {totals['evaluations']} | {totals['searches']} | {totals['seconds']:.1f} | "
                 f"{totals['network']:.1f} | {totals['matching']:.1f} | "
                 f"{totals['seconds'] - totals['network'] - totals['matching']:.1f} | |")
    lines += ["", f"paint() wall time {run['seconds']:.1f} s (the whole process, with Python's start and "
                  f"imports: {run['wall']:.1f} s); peak RSS {gib(run['peak_rss'])} GiB; peak GPU memory "
                  f"{gib(run['gpu_peak'])} GiB; region score {run['score']:.3f}; final style loss measured afresh "
                  f"(fp32 network, exact search) {style_loss(run):.4g}", ""]
    return lines


def size_row(run: dict) -> str:
    """One line of the size table."""
    sums = {key: sum(phase[key] for phase in run["phases"]) for key in ("evaluations", "network", "matching")}
    search = SEARCH_NAMES.get(run["matcher"], run["matcher"])
    loss = f"{style_loss(run):.4g}" if run["fresh_losses"] else "-"
    return (f"| {run['phases'][-1]['size']} | {search} | {run['seconds']:.1f} | {sums['evaluations']} | "
            f"{sums['network']:.1f} | {sums['matching']:.1f} | {gib(run['peak_rss'])} | {gib(run['gpu_peak'])} | "
            f"{gib(run['estimated_bytes'])} | {run['score']:.3f} | {loss} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", action="store_true", help="also run the exact fp32 path and compare")
    parser.add_argument("--sizes", default="", help="comma-separated widths for the size table, e.g. 256,512,768,1024")
    parser.add_argument("--samples", type=Path, default=None,
                        help="folder with Monet.jpg and its maps (default: $DOODLE_SAMPLES, else ../shared/samples)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench", help="where the paintings go")
    parser.add_argument("--skip-default", action="store_true", help="only the size table")
    parser.add_argument("--old-path", action="store_true",
                        help="in the size table, also the previous default search (exact, by label, in bfloat16)")
    parser.add_argument("--loss", action="store_true",
                        help="in the size table, measure each painting's style loss afresh (one exact float32 search "
                             "of every patch: minutes at 1024 px)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    arguments, extra = parser.parse_known_args()
    if arguments.worker:
        print(json.dumps(worker(json.loads(arguments.worker))))
        return
    extra = [word for word in extra if word != "--"]
    overrides = parse_overrides(extra)
    if arguments.samples is None:
        from doodle.samples import samples_dir

        arguments.samples = samples_dir()
    if not (arguments.samples / "Monet.jpg").is_file():
        sys.exit(f"{arguments.samples}: no Monet.jpg here; pass --samples DIR (the paper's samples)")

    def spec(name: str, width: int | None, changes: dict) -> dict:
        return {"samples": str(arguments.samples), "width": width, "overrides": {**overrides, **changes},
                "output": str(arguments.out / f"{name}.png"), "yardstick": width is None or arguments.loss}

    command = "python benchmarks/bench.py " + shlex.join(sys.argv[1:])
    header = [f"- Machine: {machine()}", f"- Command: `{command}`",
              f"- Date: {datetime.datetime.now().isoformat(timespec='minutes')}", ""]
    print("\n".join(header), flush=True)
    if not arguments.skip_default:
        fast = run_in_subprocess(spec("coast", None, {}))
        print("\n".join(phase_table("Default settings" + (f" with {' '.join(extra)}" if extra else ""), fast)),
              flush=True)
        if arguments.reference:
            reference = run_in_subprocess(spec("coast-reference", None, REFERENCE))
            print("\n".join(phase_table("Reference (exact path)", reference)))
            change = (style_loss(fast) - style_loss(reference)) / style_loss(reference)
            print(f"Speed-up over the reference: **{reference['seconds'] / fast['seconds']:.1f}x** "
                  f"({reference['seconds']:.1f} s -> {fast['seconds']:.1f} s); final style loss "
                  f"{style_loss(fast):.4g} vs {style_loss(reference):.4g} ({change:+.1%}); region score "
                  f"{fast['score']:.3f} vs {reference['score']:.3f}\n", flush=True)
    if arguments.sizes:
        print("| size | search | paint s | evaluations | network s | matching s | peak RSS GiB | peak GPU GiB | "
              "estimate GiB | region score | final style loss |\n"
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |", flush=True)
        paths = [("", {})] + ([("-old", OLD_PATH)] if arguments.old_path else [])
        for width in (int(part) for part in arguments.sizes.split(",")):
            for suffix, changes in paths:
                run = run_in_subprocess(spec(f"coast-{width}{suffix}", width, changes))
                print(size_row(run), flush=True)


if __name__ == "__main__":
    main()
