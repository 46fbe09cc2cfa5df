"""Temporal stability of painted clips: warping error and frames per second on clips with known motion.

    python benchmarks/video.py clips                     # make both clips; their own warping error
    python benchmarks/video.py models --model out/video/gogh.doodle out/video/gogh-stable.doodle
    python benchmarks/video.py models --clip doodle --model out/video/monet.doodle out/video/monet-stable.doodle
    python benchmarks/video.py optimise                  # the pan clip: each frame alone, then the temporal path
    python benchmarks/video.py optimise --clip doodle -- --iterations 20   # any doodle paint setting after --
    python benchmarks/video.py speed --model out/ff/gogh.doodle --size 512x384 --frames 48 240

The clips come from doodle/video/motion.py, so the flow between frames is exact and no estimator
is needed to score them: "pan" is a camera panning and zooming across a scikit-image photograph
(one the content models never train on), "doodle" is the Coastline map with shapes in the Monet
map's colours moving over it. The warping error is the mean absolute difference between each
painted frame and the previous painted frame warped by the true flow, over the pixels visible in
both (0 to 1; lower is steadier); the input clip's own error is printed with it. Frames per second
of `models` and `optimise` count the painting alone (the clip is made in memory, nothing is decoded
or encoded); `speed` times the real command end to end: the pan clip is written as an mp4 first,
then `doodle video --model` runs in a fresh process, as a user runs it, and the wall time from its
start to its exit (Python and torch start-up, decoding, painting, encoding) divides the frames.

Results are Markdown tables headed by the machine, the command and the date; the latest are kept in
benchmarks/README.md. Paintings go to --out (default out/video) as animated GIFs; `clips` writes
the input frames there as numbered PNGs, a folder `doodle video` reads. The samples come from
$DOODLE_SAMPLES, else ../shared/samples; they are never copied into the project.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import header, parse_overrides, samples  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLIPS = ("pan", "doodle")
# Per frame at 256 px wide: the pan moves 3 px right and 1 px down and zooms 1% closer (pixels scale
# with --size); the doodle's shapes move 1-4 px a frame.
PAN, ZOOM = (3.0, 1.0), 1.01


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        sys.exit(f"--size {text}: give WIDTHxHEIGHT, e.g. 256x192")


def make_clip(name: str, size: tuple[int, int], frames: int):
    """The benchmark's clip `name` at `size` (width, height) with `frames` frames."""
    from doodle.images import read_map, resize_map
    from doodle.semantic import find_palette
    from doodle.video.motion import animated_doodle, photo_pan

    if name == "pan":
        scale = size[0] / 256
        return photo_pan(size=size, frames=frames, pan=(PAN[0] * scale, PAN[1] * scale), zoom=ZOOM)
    folder = samples()
    background = resize_map(read_map(folder / "Coastline_sem.png"), size)
    return animated_doodle(background, frames=frames, colours=find_palette([read_map(folder / "Monet_sem.png")]))


def as_uint8(frame: np.ndarray) -> np.ndarray:
    return frame if frame.dtype == np.uint8 else (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)


def write_gif(path: Path, frames: list[np.ndarray], fps: float = 12.0) -> None:
    """An animated GIF of the frames, to look at the flicker (a browser plays it)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pictures = [Image.fromarray(as_uint8(frame)) for frame in frames]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=round(1000 / fps), loop=0)


def clips(arguments: argparse.Namespace) -> None:
    """Make both clips, write their frames, and print their own warping error and motion."""
    from PIL import Image

    header("The benchmark's clips")
    print("| clip | frames | size | mean motion px/frame | visible in both | input warping error |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for name in CLIPS:
        clip = make_clip(name, arguments.size, arguments.frames)
        folder = arguments.out / f"{name}-frames"
        folder.mkdir(parents=True, exist_ok=True)
        for index, frame in enumerate(clip.frames, 1):
            Image.fromarray(as_uint8(frame)).save(folder / f"frame_{index:05d}.png")
        write_gif(arguments.out / f"{name}.gif", clip.frames)
        motion = np.mean([np.linalg.norm(flow, axis=-1).mean() for flow in clip.flows])
        print(f"| {name} | {len(clip.frames)} | {clip.size[0]}x{clip.size[1]} | {motion:.2f} | "
              f"{np.mean([mask.mean() for mask in clip.masks]):.1%} | {clip.input_error():.4f} |")


def moving_noise_paintings(stylizer, clip, seed: int) -> tuple[list[np.ndarray], float]:
    """A doodle model's paintings of the clip with its noise carried along the clip's true flow
    (fresh noise where something was uncovered), and the seconds they took."""
    import torch

    from doodle.feedforward.data import move_noise
    from doodle.images import tensor_to_image

    network = stylizer.network
    inputs = [stylizer.input_tensor(frame) for frame in clip.frames]
    fresh = torch.Generator().manual_seed(seed + 1)
    noise = network.draw_noise(inputs[0], torch.Generator().manual_seed(seed))
    painted, seconds = [], 0.0
    for index, labels in enumerate(inputs):
        started = time.perf_counter()
        if index:
            flow = torch.from_numpy(clip.flows[index - 1])[None]
            mask = torch.from_numpy(clip.masks[index - 1])[None, None]
            noise = move_noise(noise, flow, mask, network.draw_noise(labels, fresh))
        with torch.inference_mode():
            painted.append(tensor_to_image(network(labels, noise=noise)))
        seconds += time.perf_counter() - started
    return painted, seconds


def models(arguments: argparse.Namespace) -> None:
    """Each model's paintings of the clip, frame by frame, with one seed (as `doodle video --model`)."""
    from doodle.feedforward.models import Stylizer
    from doodle.video.motion import warping_error

    clip = make_clip(arguments.clip, arguments.size, arguments.frames)
    wanted = "content" if arguments.clip == "pan" else "doodle"
    header(f"Models on the {arguments.clip} clip ({len(clip.frames)} frames, {clip.size[0]}x{clip.size[1]})")
    print(f"The input clip's own warping error: {clip.input_error():.4f}\n")
    print("| model | stability weight | steps | frames/s | warping error |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for path in arguments.model:
        stylizer = Stylizer.load(path)
        if stylizer.info.kind != wanted:
            sys.exit(f"{path}: a {stylizer.info.kind} model; the {arguments.clip} clip needs a {wanted} model")
        training = stylizer.info.training
        stylizer(clip.frames[0], seed=arguments.seed)  # warm-up: first calls pay for allocation and kernel choice
        runs = []
        started = time.perf_counter()
        painted = [stylizer(frame, seed=arguments.seed) for frame in clip.frames]
        runs.append(("", painted, time.perf_counter() - started))
        if wanted == "doodle":
            runs.append((", noise moved with the true flow", *moving_noise_paintings(stylizer, clip, arguments.seed)))
        for suffix, painted, seconds in runs:
            error = warping_error(painted, clip.flows, clip.masks)
            write_gif(arguments.out / f"{arguments.clip}-{Path(path).stem}{'-moved' if suffix else ''}.gif", painted)
            print(f"| {Path(path).name}{suffix} | {training.get('stability', 0):g} | {stylizer.step} | "
                  f"{len(painted) / seconds:.1f} | {error:.4f} |", flush=True)


def optimise(arguments: argparse.Namespace) -> None:
    """The optimisation path: every frame painted alone, then the temporal path (each later frame
    started from the previous painting warped by the flow and held there by the temporal loss)."""
    from doodle import PaintConfig
    from doodle.synthesis import paint
    from doodle.temporal import TemporalGuide
    from doodle.video.flow import flow_and_mask, warp
    from doodle.video.motion import warping_error

    clip = make_clip(arguments.clip, arguments.size, arguments.frames)
    folder = samples()
    config = PaintConfig().with_overrides(**{"seed": arguments.seed, **parse_overrides(arguments.settings)})
    later = config if not arguments.frame_iterations else \
        config.with_overrides(phases=1, iterations=arguments.frame_iterations)
    if arguments.clip == "pan":
        inputs = {"style": folder / "Gogh.jpg"}
        frame_input = "content"
    else:
        inputs = {"style": folder / "Monet.jpg", "style_map": folder / "Monet_sem.png"}
        frame_input = "target_map"

    def painted_clip(temporal: bool) -> tuple[list[np.ndarray], float]:
        painted, seconds = [], 0.0
        for index, frame in enumerate(clip.frames):
            started = time.perf_counter()
            guide = None
            if temporal and index:
                if arguments.true_flow:
                    flow, mask = clip.flows[index - 1], clip.masks[index - 1]
                else:  # as `doodle video` does: DIS flow both ways and the consistency check
                    flow, mask = flow_and_mask(clip.frames[index - 1], frame)
                guide = TemporalGuide(warp(painted[-1], flow), mask, arguments.temporal_weight)
            result = paint(**inputs, **{frame_input: frame}, config=later if temporal and index else config,
                           encoder=encoder, guide=guide)
            painted.append(result.image)
            seconds += time.perf_counter() - started
            print(f"  {'temporal' if temporal else 'alone'} frame {index + 1}/{len(clip.frames)}: "
                  f"{time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        return painted, seconds

    from doodle.encoder import load_encoder
    from doodle.plan import pick_device

    encoder = load_encoder(config.model, config.pooling, pick_device(config.device))
    flow_name = "the true flow" if arguments.true_flow else "DIS flow and its consistency mask"
    header(f"The optimisation path on the {arguments.clip} clip ({len(clip.frames)} frames, "
           f"{clip.size[0]}x{clip.size[1]})")
    print(f"Settings: {' '.join(arguments.settings) or 'defaults'}; temporal path: weight "
          f"{arguments.temporal_weight:g}, {flow_name}, later frames "
          f"{f'one phase of {arguments.frame_iterations} iterations' if arguments.frame_iterations else 'as the first'}."
          f" The input clip's own warping error: {clip.input_error():.4f}\n")
    print("| path | s per frame | frames/s | warping error |")
    print("| --- | ---: | ---: | ---: |")
    for name, temporal in (("each frame alone", False), ("temporal", True)):
        painted, seconds = painted_clip(temporal)
        write_gif(arguments.out / f"{arguments.clip}-{'temporal' if temporal else 'alone'}.gif", painted)
        print(f"| {name} | {seconds / len(painted):.1f} | {len(painted) / seconds:.3f} | "
              f"{warping_error(painted, clip.flows, clip.masks):.4f} |", flush=True)


def speed(arguments: argparse.Namespace) -> None:
    """`doodle video --model` end to end, in a fresh process, on the pan clip encoded as an mp4."""
    import re
    import subprocess
    import tempfile

    from doodle.video.clips import ClipWriter

    header(f"doodle video --model {arguments.model.name} end to end, {arguments.size[0]}x{arguments.size[1]}")
    print("| frames | --precision | wall s (whole command) | frames/s (whole command) | "
          "open clip to written video, s | frames/s (the painting loop) |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as folder:
        for frames in arguments.frames:
            source = Path(folder) / f"pan-{frames}.mp4"
            with ClipWriter(source, 24) as writer:
                for frame in make_clip("pan", arguments.size, frames).frames:
                    writer.write(frame)
            for precision in arguments.precision:
                command = [sys.executable, "-m", "doodle", "video", str(source), "--model", str(arguments.model),
                           "--output", str(Path(folder) / "painted.mp4"), "--force", "--precision", precision]
                started = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True)
                wall = time.perf_counter() - started
                if done.returncode:
                    sys.exit(f"{' '.join(command)} failed: {done.stderr.strip()}")
                said = re.search(r"in ([0-9.]+) s, ([0-9.]+) frames/s", done.stderr)
                clip_seconds, loop_rate = (said.group(1), said.group(2)) if said else ("?", "?")
                print(f"| {frames} | {precision} | {wall:.1f} | {frames / wall:.2f} | {clip_seconds} | {loop_rate} |",
                      flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("clips", help="make both clips, write their frames, print their own warping error")
    sub = commands.add_parser("models", help="warping error and speed of trained models")
    sub.add_argument("--model", type=Path, nargs="+", required=True, help="model files (content for pan, doodle "
                     "for doodle), e.g. the same training without and with --stability")
    sub = commands.add_parser("optimise", help="each frame optimised alone against the temporal path")
    sub.add_argument("--temporal-weight", type=float, default=None,
                     help="as doodle video's (default: its default)")
    sub.add_argument("--frame-iterations", type=int, default=0,
                     help="later frames of the temporal path: one phase of N iterations (0 = as the first frame)")
    sub.add_argument("--true-flow", action="store_true", help="warp by the clip's exact flow, not DIS's estimate")
    sub.add_argument("settings", nargs="*", help="doodle paint settings after --, e.g. -- --iterations 20")
    sub = commands.add_parser("speed", help="doodle video --model end to end on the pan clip, in a fresh process")
    sub.add_argument("--model", type=Path, required=True, help="a content model")
    sub.add_argument("--frames", type=int, nargs="+", default=[48, 240], help="clip lengths to time")
    sub.add_argument("--precision", nargs="+", default=["fp32", "bf16"], help="as doodle video's --precision")
    for name, sub in commands.choices.items():
        if name not in ("clips", "speed"):
            sub.add_argument("--clip", choices=CLIPS, default="pan")
        if name != "speed":
            sub.add_argument("--frames", type=int, default=12)
        sub.add_argument("--size", type=parse_size, default=(256, 192), help="WIDTHxHEIGHT of the frames")
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--out", type=Path, default=ROOT / "out" / "video")
    arguments = parser.parse_args()
    if min(arguments.frames if isinstance(arguments.frames, list) else [arguments.frames]) < 2:
        sys.exit("--frames must be at least 2")
    if getattr(arguments, "temporal_weight", 0) is None:
        from doodle.video_request import DEFAULT_TEMPORAL_WEIGHT

        arguments.temporal_weight = DEFAULT_TEMPORAL_WEIGHT
    arguments.out.mkdir(parents=True, exist_ok=True)
    {"clips": clips, "models": models, "optimise": optimise, "speed": speed}[arguments.command](arguments)


if __name__ == "__main__":
    main()
