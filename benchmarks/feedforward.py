"""Feed-forward models against the paper's samples: training curves, inference speed, and the
optimisation path started from a model.

    python benchmarks/feedforward.py doodle  --steps 550     # train a Monet doodle model, with its curve
    python benchmarks/feedforward.py content --steps 600     # train a Gogh content model (not on Seth.jpg)
    python benchmarks/feedforward.py speed   --model out/ff/monet.doodle --sizes 256,512,1024
    python benchmarks/feedforward.py init    --model out/ff/monet.doodle   # --init from the model vs default
    python benchmarks/feedforward.py compare --model out/ff/gogh.doodle    # model vs optimisation, one yardstick

Results are Markdown tables headed by the machine, the command and the date; the latest are kept in
benchmarks/README.md. Models and paintings go to --out (default out/ff). The samples come from
$DOODLE_SAMPLES, else ../shared/samples; they are never copied into the project.
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
from bench import header, samples  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def coastline_score(image) -> float:
    from doodle.images import read_image, read_map
    from doodle.metrics import region_score

    folder = samples()
    return region_score(image, read_map(folder / "Coastline_sem.png"), read_image(folder / "Monet.jpg"),
                        read_map(folder / "Monet_sem.png")).score


def train(kind: str, arguments: argparse.Namespace) -> None:
    """Train through the request layer, as `doodle train` does, scoring the model as it goes."""
    from doodle.feedforward.painting import model_painting
    from doodle.images import write_image
    from doodle.train_request import train as run_training
    from doodle.train_request import train_request

    folder = samples()
    style = folder / ("Monet.jpg" if kind == "doodle" else "Gogh.jpg")
    output = arguments.out / ("monet.doodle" if kind == "doodle" else "gogh.doodle")
    arguments.out.mkdir(parents=True, exist_ok=True)
    request = train_request(style, output, kind=kind, steps=arguments.steps, batch=arguments.batch,
                            size=arguments.size, width=arguments.width, force=True, preview_every=0,
                            checkpoint_every=0, preset=arguments.preset)
    rows, scoring = [], [0.0]

    def on_step(progress) -> None:
        if progress.step % arguments.every and progress.step != progress.steps:
            return
        started = time.perf_counter()
        score = ""
        if kind == "doodle":
            score = f"{coastline_score(model_painting(progress.stylizer, folder / 'Coastline_sem.png', None)):.3f}"
        scoring[0] += time.perf_counter() - started
        rows.append(f"| {progress.step} | {progress.elapsed - scoring[0]:.0f} | {progress.total:.4f} | {score} |")

    stylizer, record = run_training(request, callback=on_step)
    painted = model_painting(stylizer, folder / ("Coastline_sem.png" if kind == "doodle" else "Seth.jpg"), None)
    write_image(arguments.out / f"{kind}-model-painting.png", painted)
    header(f"Training a {kind} model of {style.name}")
    print(f"{record.seconds - scoring[0]:.0f} s of training ({record.seconds:.0f} s with the scoring below), "
          f"{stylizer.step} steps of batch {arguments.batch} at {arguments.size} px, width {arguments.width}; "
          f"model {output}\n")
    print("| step | training s | loss (batch) | coastline region score |")
    print("| ---: | ---: | ---: | ---: |")
    print("\n".join(rows))


def speed_worker(spec: dict) -> dict:
    """Paint the sample at one width, in a fresh process, so that its peak memory is its own."""
    import numpy as np
    import torch

    from doodle.feedforward.models import Stylizer
    from doodle.images import read_image, read_map, resize_map

    torch.set_num_threads(spec["threads"]) if spec["threads"] else None
    stylizer = Stylizer.load(spec["model"])
    folder = Path(spec["samples"])
    if stylizer.info.kind == "doodle":
        source = read_map(folder / "Coastline_sem.png")
        height = round(source.shape[0] * spec["width"] / source.shape[1])
        source = resize_map(source, (spec["width"], height))
    else:
        photo = read_image(folder / "Seth.jpg")
        height = round(photo.shape[0] * spec["width"] / photo.shape[1])
        from PIL import Image

        source = np.asarray(Image.fromarray((photo * 255).astype(np.uint8)).resize((spec["width"], height)))
    inputs = stylizer.input_tensor(source)
    stylizer.paint_tensor(inputs)  # warm-up: first calls pay for allocation and kernel choice
    times = []
    for _ in range(spec["repeats"]):
        started = time.perf_counter()
        stylizer.paint_tensor(inputs)
        times.append(time.perf_counter() - started)
    return {"width": spec["width"], "height": height, "ms": 1000 * statistics.median(times),
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def speed(arguments: argparse.Namespace) -> None:
    header(f"Painting with {arguments.model.name}")
    print("| size | ms per image (median of %d) | peak RSS |" % arguments.repeats)
    print("| --- | ---: | ---: |")
    for width in [int(part) for part in arguments.sizes.split(",")]:
        spec = {"model": str(arguments.model), "samples": str(samples()), "width": width,
                "repeats": arguments.repeats, "threads": arguments.threads}
        found = subprocess.run([sys.executable, __file__, "_speed", json.dumps(spec)], check=True,
                               capture_output=True, text=True).stdout
        result = json.loads(found.strip().splitlines()[-1])
        print(f"| {result['width']}x{result['height']} | {result['ms']:.0f} | {result['peak_mib']:.0f} MiB |")


def init(arguments: argparse.Namespace) -> None:
    """The default optimisation of the coastline against the same run started from the model."""
    from doodle import PaintConfig, paint
    from doodle.images import write_image

    folder = samples()
    runs = [("default settings", {}), *((f"--init {arguments.model.name} --iterations {n}",
                                          {"init": str(arguments.model), "iterations": n})
                                         for n in arguments.iterations)]
    header("The optimisation path started from a model")
    print("| run | paint() s | region score |")
    print("| --- | ---: | ---: |")
    for name, settings in runs:
        result = paint(folder / "Monet.jpg", style_map=folder / "Monet_sem.png",
                       target_map=folder / "Coastline_sem.png", config=PaintConfig(**settings))
        write_image(arguments.out / f"init-{settings.get('iterations', 'default')}.png", result.image)
        print(f"| {name} | {result.record.seconds:.1f} | {coastline_score(result.image):.3f} |", flush=True)


def yardstick(image, style, content) -> dict[str, float]:
    """One measure for any painting of `content` in the style of `style` (no maps): doodle's default
    patch loss at relu3_1 and relu4_1 (one search each) and its content loss at relu4_2, unweighted."""
    import torch

    from doodle.config import PaintConfig
    from doodle.encoder import load_encoder
    from doodle.images import image_to_tensor, resize_image
    from doodle.optimise import encode
    from doodle.style_bank import StyleCopy
    from doodle.terms import build_terms

    config = PaintConfig(smoothness=0)
    encoder = load_encoder("vgg16")
    layers = list(config.style_layer_names) + list(config.content_layers)
    pixels = image_to_tensor(image)
    with torch.no_grad():
        style_tensor = image_to_tensor(style)
        copies = [(StyleCopy(style_tensor, None, None, 1.0, 1.0, True), encode(encoder, style_tensor, layers, "fp32"))]
        content_features = encode(encoder, resize_image(image_to_tensor(content), tuple(pixels.shape[-2:])),
                                  config.content_layers, "fp32")
        features = encode(encoder, pixels, layers, "fp32")
        terms = build_terms(config, tuple(pixels.shape[-2:]), copies, None, content_features, "exact")
        return {item.name: item.term(pixels, features).item() for item in terms}


def compare(arguments: argparse.Namespace) -> None:
    """A content model's painting of Seth.jpg against the optimisation path's, on one yardstick."""
    from doodle import paint
    from doodle.feedforward.models import Stylizer
    from doodle.images import read_image, write_image

    folder = samples()
    style, content = read_image(folder / "Gogh.jpg"), read_image(folder / "Seth.jpg")
    stylizer = Stylizer.load(arguments.model)
    stylizer(content)  # warm-up
    started = time.perf_counter()
    fast = stylizer(content)
    fast_seconds = time.perf_counter() - started
    slow = paint(folder / "Gogh.jpg", content=folder / "Seth.jpg")
    write_image(arguments.out / "compare-model.png", fast)
    write_image(arguments.out / "compare-optimisation.png", slow.image)
    header("Gogh to Seth: a content model against the optimisation path")
    rows = [("model " + arguments.model.name, fast_seconds, yardstick(fast, style, content)),
            ("optimisation, default settings (with the maps)", slow.record.seconds,
             yardstick(slow.image, style, content))]
    names = list(rows[0][2])
    print("| painting | seconds | " + " | ".join(names) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in names) + " |")
    for name, seconds, losses in rows:
        print(f"| {name} | {seconds:.2f} | " + " | ".join(f"{losses[key]:.3f}" for key in names) + " |")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "_speed":
        print(json.dumps(speed_worker(json.loads(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for kind in ("doodle", "content"):
        sub = commands.add_parser(kind, help=f"train a {kind} model and print its training curve")
        sub.add_argument("--steps", type=int, default=550)
        sub.add_argument("--batch", type=int, default=2)
        sub.add_argument("--size", type=int, default=256)
        sub.add_argument("--width", type=int, default=16)
        sub.add_argument("--preset", default="painterly", help="as doodle train's --preset")
        sub.add_argument("--every", type=int, default=50, help="score and log every N steps")
    sub = commands.add_parser("speed", help="inference time and memory per size")
    sub.add_argument("--model", type=Path, required=True)
    sub.add_argument("--sizes", default="256,512,1024")
    sub.add_argument("--repeats", type=int, default=5)
    sub.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    sub = commands.add_parser("init", help="--init from a model against the default optimisation")
    sub.add_argument("--model", type=Path, required=True)
    sub.add_argument("--iterations", type=lambda text: [int(part) for part in text.split(",")], default=[10, 20])
    sub = commands.add_parser("compare", help="a content model against the optimisation path on Gogh and Seth")
    sub.add_argument("--model", type=Path, required=True)
    for sub in commands.choices.values():
        sub.add_argument("--out", type=Path, default=ROOT / "out" / "ff")
    arguments = parser.parse_args()
    arguments.out.mkdir(parents=True, exist_ok=True)
    {"doodle": lambda: train("doodle", arguments), "content": lambda: train("content", arguments),
     "speed": lambda: speed(arguments), "init": lambda: init(arguments), "compare": lambda: compare(arguments)
     }[arguments.command]()


if __name__ == "__main__":
    main()
