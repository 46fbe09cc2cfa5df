"""Make the demo's inputs from textures that scikit-image ships: a style image with its map, and a
doodle with another layout. Usage: python examples/make_demo_inputs.py OUT_DIR

The style is a "painting" of three materials side by side (terracotta brick, green grass, sandy
gravel, each tinted from skimage.data's greyscale textures); the doodle asks for a brick house on a
lawn with a gravel path, so the painting has to move each material to where the doodle puts it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data, transform

WIDTH, HEIGHT = 256, 192
BRICK, GRASS, GRAVEL = (255, 0, 0), (0, 255, 0), (255, 255, 0)
TINTS = {BRICK: (0.85, 0.42, 0.30), GRASS: (0.35, 0.70, 0.25), GRAVEL: (0.90, 0.80, 0.60)}


def texture(name: str, tint: tuple[float, float, float]) -> np.ndarray:
    grey = transform.resize(getattr(data, name)() / 255.0, (HEIGHT, WIDTH), anti_aliasing=True)
    # Stretch contrast around the mean so the strokes stay visible after tinting.
    grey = np.clip(0.5 + 1.4 * (grey - grey.mean()), 0, 1)
    return grey[..., None] * 1.3 * np.array(tint)[None, None]


def style_map() -> np.ndarray:
    labels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    labels[:, : WIDTH // 3] = BRICK
    labels[:, WIDTH // 3: 2 * WIDTH // 3] = GRASS
    labels[:, 2 * WIDTH // 3:] = GRAVEL
    return labels


def doodle() -> np.ndarray:
    rows, columns = np.indices((HEIGHT, WIDTH))
    labels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    labels[:] = GRASS
    house = (rows > 40) & (rows < 130) & (columns > 60) & (columns < 190)
    roof = (rows > 10) & (rows <= 40) & (np.abs(columns - 125) < (rows - 10) * 2.3)
    labels[house | roof] = BRICK
    path = np.abs(columns - 125 - (rows - 130) * 0.6) < 12 + (rows - 130) * 0.3
    labels[(rows >= 130) & path] = GRAVEL
    return labels


def style_image(labels: np.ndarray) -> np.ndarray:
    image = np.zeros((HEIGHT, WIDTH, 3))
    for colour, name in ((BRICK, "brick"), (GRASS, "grass"), (GRAVEL, "gravel")):
        mask = (labels == colour).all(-1)
        image[mask] = texture(name, TINTS[colour])[mask]
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def main(out_dir: str) -> None:
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    labels = style_map()
    Image.fromarray(style_image(labels)).save(folder / "style.png")
    Image.fromarray(labels).save(folder / "style_sem.png")
    Image.fromarray(doodle()).save(folder / "doodle.png")
    print(f"wrote {folder}/style.png, style_sem.png and doodle.png")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/demo-inputs")
