"""Make the README's pictures of automatic maps from the paper's samples (not shipped; ../shared/samples).

    .venv/bin/python examples/make_automatic_gallery.py [SAMPLES_DIR] [OUT_DIR]

- `automatic-portrait.jpg`: the maps `doodle segment` made for Van Gogh's self-portrait and for the
  photo, and the painting `doodle paint --auto-maps` made from them (default settings).
- `automatic-monet.jpg`: the map made for Monet's painting with the cluster method, beside the
  paper's hand-drawn map.
Only maps and paintings are written, never the sample images themselves.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from doodle import paint
from doodle.images import read_image, read_map
from doodle.samples import samples_dir
from segmentation import segment

HEIGHT = 320
GAP = 6


def row(pictures: list[np.ndarray]) -> Image.Image:
    """Pictures side by side at one height, on white."""
    scaled = []
    for picture in pictures:
        image = Image.fromarray(picture if picture.dtype == np.uint8 else (np.clip(picture, 0, 1) * 255 + 0.5).astype(np.uint8))
        width = round(image.width * HEIGHT / image.height)
        resample = Image.NEAREST if picture.dtype == np.uint8 and len(np.unique(picture.reshape(-1, 3), axis=0)) < 32 \
            else Image.LANCZOS
        scaled.append(image.resize((width, HEIGHT), resample))
    sheet = Image.new("RGB", (sum(i.width for i in scaled) + GAP * (len(scaled) - 1), HEIGHT), "white")
    left = 0
    for image in scaled:
        sheet.paste(image, (left, 0))
        left += image.width + GAP
    return sheet


def main() -> None:
    samples = Path(sys.argv[1]) if len(sys.argv) > 1 else samples_dir()
    out = Path(sys.argv[2] if len(sys.argv) > 2 else Path(__file__).resolve().parent / "gallery")
    out.mkdir(parents=True, exist_ok=True)

    made = segment([samples / "Gogh.jpg", samples / "Seth.jpg"])
    painting = paint(samples / "Gogh.jpg", style_map=made.maps[0], content=samples / "Seth.jpg",
                     content_map=made.maps[1]).image
    row([made.maps[0], made.maps[1], painting]).save(out / "automatic-portrait.jpg", quality=90)

    monet = segment(samples / "Monet.jpg", method="cluster")
    drawn = read_map(samples / "Monet_sem.png")
    row([monet.maps[0], drawn]).save(out / "automatic-monet.jpg", quality=90)
    print(f"wrote {out / 'automatic-portrait.jpg'} ({made.method}) and {out / 'automatic-monet.jpg'} "
          f"({monet.count} labels); image size {read_image(samples / 'Seth.jpg').shape[:2]}")


if __name__ == "__main__":
    main()
