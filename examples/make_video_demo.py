"""Make the README's video preview: a 2-second animated doodle (the Coastline map with shapes of
Monet's map colours moving over it), painted by a Monet doodle model and by the optimisation path,
both through `doodle video`.

    .venv/bin/python examples/make_video_demo.py MODEL [SAMPLES_DIR] [OUT_DIR]

MODEL is a doodle model of Monet's painting (`doodle train --style Monet.jpg ...`). Writes, under
OUT_DIR (default out/video-demo): the doodle clip (`doodle.mp4`), its paintings (`model.mp4`,
`optimised.mp4`: H.264 that browsers play) and `examples/gallery/video.gif`, the three side by side
at half size. Prints the command and time of each painting. Only doodles and paintings are written,
never the sample images.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from doodle.images import read_map
from doodle.samples import samples_dir
from doodle.semantic import find_palette
from doodle.video.clips import ClipWriter, open_clip
from doodle.video.motion import animated_doodle

SIZE = (256, 192)  # (width, height) of the clip
FPS = 24
FRAMES = 2 * FPS
GAP = 4
PREVIEW = Path(__file__).parent / "gallery" / "video.gif"


def doodle_clip(samples: Path, target: Path) -> None:
    background = np.asarray(Image.fromarray(read_map(samples / "Coastline_sem.png")).resize(SIZE, Image.NEAREST))
    clip = animated_doodle(background, frames=FRAMES, shapes=4,
                           colours=find_palette([read_map(samples / "Monet_sem.png")]), seed=3)
    with ClipWriter(target, FPS, force=True) as writer:
        for frame in clip.frames:
            writer.write(frame)


def paint(args: list[str]) -> float:
    command = [str(Path(sys.executable).with_name("doodle")), "video", *map(str, args), "--force", "--quiet"]
    print("$", " ".join(command[1:]))
    started = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - started
    print(f"  {seconds:.1f} s")
    return seconds


def preview(clips: list[Path], target: Path) -> None:
    """The clips side by side at half size, as a looping GIF."""
    readers = [open_clip(path).frames() for path in clips]
    width, height = SIZE[0] // 2, SIZE[1] // 2
    frames = []
    for row in zip(*readers):
        sheet = Image.new("RGB", (len(row) * width + (len(row) - 1) * GAP, height), "white")
        for index, frame in enumerate(row):
            sheet.paste(Image.fromarray(frame).resize((width, height), Image.LANCZOS), (index * (width + GAP), 0))
        frames.append(sheet.quantize(128, method=Image.Quantize.FASTOCTREE))
    target.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(target, save_all=True, append_images=frames[1:], duration=round(1000 / FPS), loop=0, optimize=True)


def main() -> None:
    model = Path(sys.argv[1])
    samples = Path(sys.argv[2]) if len(sys.argv) > 2 else samples_dir()
    out = Path(sys.argv[3]) if len(sys.argv) > 3 else Path("out/video-demo")
    out.mkdir(parents=True, exist_ok=True)
    doodle_clip(samples, out / "doodle.mp4")
    paint([out / "doodle.mp4", "--model", model, "-o", out / "model.mp4"])
    paint([out / "doodle.mp4", "--doodles", "--style", samples / "Monet.jpg", "-o", out / "optimised.mp4"])
    preview([out / "doodle.mp4", out / "model.mp4", out / "optimised.mp4"], PREVIEW)
    print(f"wrote {PREVIEW} ({PREVIEW.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
