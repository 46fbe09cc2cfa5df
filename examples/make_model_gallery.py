"""Make the README's pictures of models: one Monet doodle model painting several new doodles, and
a Van Gogh content model's portrait beside the optimisation path's.

    .venv/bin/python examples/make_model_gallery.py MODEL [CONTENT_MODEL] [SAMPLES_DIR] [OUT_DIR]

MODEL is a doodle model of Monet's painting (`doodle train --style Monet.jpg ...`, or
`benchmarks/feedforward.py doodle`). In `models.jpg` the top row holds the doodles: the paper's
coastline and two drawn here in the model's own colours; the bottom row the optimisation path's
painting of the coastline (`examples/gallery/coast.jpg`, default settings), then the model's
paintings, one call each. CONTENT_MODEL, a content model of Van Gogh's self-portrait, gives
`content-model.jpg`: the optimisation path's painting of Seth.jpg (`examples/gallery/portrait.jpg`,
default settings, with the maps) beside the model's. Only doodles and paintings are written, never
the sample images themselves.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from doodle.feedforward.models import Stylizer
from doodle.images import read_image, read_map, to_uint8, write_image
from doodle.samples import samples_dir

WIDTH, HEIGHT = 512, 384
TILE = 256
GAP = 6
CAPTION = 18


def colour(model: Stylizer, wanted: tuple[int, int, int]) -> tuple[int, int, int]:
    """The model's label colour nearest to `wanted` (the doodles use only colours it knows)."""
    palette = np.array(model.info.palette)
    return tuple(int(c) for c in palette[np.argmin(np.abs(palette - np.array(wanted)).sum(1))])


def lone_stack(model: Stylizer) -> np.ndarray:
    """Sky, sea, a single tall rock with a green top, and a beach along the bottom."""
    image = Image.new("RGB", (WIDTH, HEIGHT), colour(model, (255, 255, 255)))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 230, WIDTH, HEIGHT], fill=colour(model, (0, 0, 255)))
    draw.polygon([(200, 300), (230, 90), (270, 70), (300, 110), (320, 300)], fill=colour(model, (255, 51, 31)))
    draw.ellipse([225, 60, 300, 100], fill=colour(model, (0, 255, 0)))
    draw.polygon([(0, 330), (WIDTH, 300), (WIDTH, HEIGHT), (0, HEIGHT)], fill=colour(model, (0, 255, 0)))
    return np.asarray(image)


def two_headlands(model: Stylizer) -> np.ndarray:
    """Cliffs on both sides, a dark cave, the sea between them and a low horizon."""
    image = Image.new("RGB", (WIDTH, HEIGHT), colour(model, (255, 255, 255)))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 260, WIDTH, HEIGHT], fill=colour(model, (0, 0, 255)))
    draw.polygon([(0, 40), (140, 80), (170, 320), (0, 340)], fill=colour(model, (255, 51, 31)))
    draw.ellipse([20, 200, 120, 330], fill=colour(model, (192, 0, 0)))
    draw.polygon([(WIDTH, 120), (380, 150), (350, 300), (WIDTH, 310)], fill=colour(model, (255, 51, 31)))
    draw.polygon([(380, 150), (WIDTH, 120), (WIDTH, 135), (390, 165)], fill=colour(model, (0, 255, 0)))
    return np.asarray(image)


def tile(picture: np.ndarray, caption: str) -> Image.Image:
    image = Image.fromarray(picture if picture.dtype == np.uint8 else to_uint8(picture))
    image = image.resize((TILE, round(TILE * image.height / image.width)), Image.LANCZOS)
    framed = Image.new("RGB", (image.width, image.height + CAPTION), "white")
    framed.paste(image, (0, 0))
    ImageDraw.Draw(framed).text((4, image.height + 3), caption, fill=(0, 0, 0))
    return framed


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__.split("\n\n")[1])
    model = Stylizer.load(sys.argv[1])
    content_model = Stylizer.load(sys.argv[2]) if len(sys.argv) > 2 else None
    samples = Path(sys.argv[3]) if len(sys.argv) > 3 else samples_dir()
    out = Path(sys.argv[4]) if len(sys.argv) > 4 else Path(__file__).resolve().parent / "gallery"
    doodles = [("the paper's coastline", read_map(samples / "Coastline_sem.png")),
               ("a lone stack", lone_stack(model)), ("two headlands", two_headlands(model))]
    optimised = np.asarray(Image.open(out / "coast.jpg").convert("RGB"))
    top = [tile(doodles[0][1], "doodle: " + doodles[0][0])] + [tile(d, "doodle: " + name) for name, d in doodles]
    bottom = [tile(optimised, "optimisation, default settings")]
    for name, doodle in doodles:
        model(doodle)  # warm-up, so the time below is one call: labelling the doodle and the forward pass
        started = time.perf_counter()
        painted = model(doodle)
        bottom.append(tile(painted, f"model, {1000 * (time.perf_counter() - started):.0f} ms"))
    rows = [top, bottom]
    width = sum(t.width for t in top) + GAP * (len(top) - 1)
    height = sum(max(t.height for t in row) for row in rows) + GAP
    sheet = Image.new("RGB", (width, height), "white")
    y = 0
    for row in rows:
        x = 0
        for picture in row:
            sheet.paste(picture, (x, y))
            x += picture.width + GAP
        y += max(t.height for t in row) + GAP
    write_image(out / "models.jpg", np.asarray(sheet))
    print(f"wrote {out / 'models.jpg'}")
    if content_model is not None:
        photo = read_image(samples / "Seth.jpg")
        content_model(photo)  # warm-up
        started = time.perf_counter()
        painted = content_model(photo)
        seconds = time.perf_counter() - started
        optimised = np.asarray(Image.open(out / "portrait.jpg").convert("RGB"))
        tiles = [tile(optimised, "optimisation, default settings"),
                 tile(painted, f"content model, {1000 * seconds:.0f} ms")]
        pair = Image.new("RGB", (2 * TILE + GAP, max(t.height for t in tiles)), "white")
        pair.paste(tiles[0], (0, 0))
        pair.paste(tiles[1], (TILE + GAP, 0))
        write_image(out / "content-model.jpg", np.asarray(pair))
        print(f"wrote {out / 'content-model.jpg'}")


if __name__ == "__main__":
    main()
