"""Make the style comparison sheet: one photo under the doodle, painterly and flat presets, and
with two styles blended. Usage: python examples/make_style_sheet.py OUT.jpg [--size 256]

Everything comes from scikit-image's bundled images, so the sheet can ship with the repository:
the content is skimage.data.chelsea (a cat); the two styles are made here:
  - "strokes": an impressionist-like painting of short, thick, oriented brush strokes whose
    colours are sampled from skimage.data.coffee, laid along a swirling flow field;
  - "cartoon": a flat-colour landscape with dark outlines (sky, hills, sun, clouds, a house), drawn
    with skimage.draw, as in an animated still.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps
from skimage import data, draw, segmentation, transform

from doodle import paint, preset_config
from doodle.images import to_uint8

LABEL_HEIGHT = 22


def stroke_painting(height: int = 320, width: int = 320, strokes: int = 4000, seed: int = 0) -> np.ndarray:
    """Thick strokes along a swirling field, coloured from the coffee photo: a style with clear,
    directional brush marks that Gram and patch losses both have something to copy from."""
    rng = np.random.default_rng(seed)
    palette_source = transform.resize(data.coffee() / 255.0, (height, width), anti_aliasing=True)
    canvas = np.full((height, width, 3), 0.95)
    for _ in range(strokes):
        y, x = rng.uniform(0, height), rng.uniform(0, width)
        angle = np.sin(x / 40.0) * 1.5 + np.cos(y / 55.0)
        length, thickness = rng.uniform(8, 22), rng.uniform(2.0, 4.5)
        dy, dx = np.sin(angle) * length / 2, np.cos(angle) * length / 2
        ny, nx = np.cos(angle) * thickness / 2, -np.sin(angle) * thickness / 2
        corners_y = [y - dy - ny, y - dy + ny, y + dy + ny, y + dy - ny]
        corners_x = [x - dx - nx, x - dx + nx, x + dx + nx, x + dx - nx]
        rows, columns = draw.polygon(corners_y, corners_x, shape=(height, width))
        colour = palette_source[int(np.clip(y, 0, height - 1)), int(np.clip(x, 0, width - 1))]
        shade = rng.uniform(0.85, 1.15)
        canvas[rows, columns] = np.clip(colour * shade, 0, 1)
    return canvas.astype(np.float32)


def cartoon(height: int = 320, width: int = 480) -> np.ndarray:
    """A flat-colour cartoon landscape with dark outlines, as in an animated still: a few shapes,
    each one colour, drawn on a label image whose boundaries become the outlines."""
    labels = np.zeros((height, width), np.int32)  # 0: sky
    rows, columns = np.indices((height, width))
    # Shapes are laid out on a 320x480 plan and scaled to the size asked for.
    y, x = height / 320, width / 480
    labels[rows > height * 0.55 + 30 * y * np.sin(columns / (70 * x))] = 1  # far hill
    labels[rows > height * 0.72 + 22 * y * np.cos(columns / (45 * x) + 1)] = 2  # near hill
    labels[draw.ellipse(70 * y, 380 * x, 38 * y, 38 * x, shape=labels.shape)] = 3  # sun
    for centre_y, centre_x, radius_x in ((60, 110, 55), (95, 230, 45)):
        labels[draw.ellipse(centre_y * y, centre_x * x, 18 * y, radius_x * x, shape=labels.shape)] = 4  # clouds
    labels[round(200 * y):round(265 * y), round(90 * x):round(170 * x)] = 5  # house
    labels[draw.polygon([200 * y, 150 * y, 200 * y], [80 * x, 130 * x, 180 * x], shape=labels.shape)] = 6  # roof
    labels[round(228 * y):round(265 * y), round(118 * x):round(140 * x)] = 7  # door
    palette = np.array([(0.45, 0.75, 0.95), (0.45, 0.72, 0.30), (0.25, 0.55, 0.20), (1.0, 0.85, 0.15),
                        (0.97, 0.97, 0.97), (0.90, 0.35, 0.25), (0.55, 0.25, 0.15), (0.35, 0.20, 0.10)])
    flat = palette[labels]
    flat[segmentation.find_boundaries(labels, mode="thick")] = (0.08, 0.07, 0.10)
    return flat.astype(np.float32)


def content_photo(width: int) -> np.ndarray:
    photo = data.chelsea() / 255.0
    height = round(photo.shape[0] * width / photo.shape[1])
    return transform.resize(photo, (height, width), anti_aliasing=True).astype(np.float32)


def labelled(image: np.ndarray, text: str, size: tuple[int, int]) -> Image.Image:
    """The image scaled to `size` (width, height) with a caption strip below it."""
    tile = Image.new("RGB", (size[0], size[1] + LABEL_HEIGHT), "white")
    # Crop to the tile's shape rather than squash: the styles are not the photo's shape.
    tile.paste(ImageOps.fit(Image.fromarray(to_uint8(image)), size, Image.Resampling.LANCZOS), (0, 0))
    ImageDraw.Draw(tile).text((4, size[1] + 5), text, fill="black")
    return tile


def sheet(rows: list[list[tuple[np.ndarray, str]]], size: tuple[int, int]) -> Image.Image:
    columns = max(len(row) for row in rows)
    tile_w, tile_h = size[0], size[1] + LABEL_HEIGHT
    out = Image.new("RGB", (columns * tile_w + (columns + 1) * 6, len(rows) * tile_h + (len(rows) + 1) * 6), "white")
    for r, row in enumerate(rows):
        for c, (image, text) in enumerate(row):
            out.paste(labelled(image, text, size), (6 + c * (tile_w + 6), 6 + r * (tile_h + 6)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--size", type=int, default=256, help="width of the paintings (default 256)")
    args = parser.parse_args(argv)
    photo, strokes, flat = content_photo(args.size), stroke_painting(), cartoon()
    runs = [
        ("doodle preset", [strokes], "doodle", {}),
        ("painterly preset", [strokes], "painterly", {}),
        ("flat preset (cartoon style)", [flat], "flat", {}),
        ("painterly, blend 0.5 + 0.5", [strokes, flat], "painterly", {"style_blend": (0.5, 0.5)}),
    ]
    results = []
    for caption, styles, preset, extra in runs:
        started = time.perf_counter()
        result = paint(styles if len(styles) > 1 else styles[0], content=photo,
                       config=preset_config(preset, **extra))
        print(f"{caption}: {time.perf_counter() - started:.1f} s", flush=True)
        results.append((result.image, caption))
    tile = (args.size, photo.shape[0] * args.size // photo.shape[1])
    picture = sheet([[(photo, "content: skimage chelsea"), (strokes, "style: strokes"), (flat, "style: cartoon")],
                     results], tile)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    picture.save(args.output, quality=90)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
