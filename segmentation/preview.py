"""A preview sheet: for each image a row of picture, map and overlay, then a legend of the labels."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from skimage.segmentation import mark_boundaries
from skimage.transform import resize

from doodle.semantic import colour_name

from .result import Segmentation

ROW_HEIGHT = 256
GAP = 4
OVERLAY_OPACITY = 0.45  # share of the map's colour in the overlay
LEGEND_LINE = 18
SWATCH = 12


def _fit(image: np.ndarray, height: int, nearest: bool = False) -> np.ndarray:
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    if nearest:
        return resize(image, (height, width), order=0, preserve_range=True, anti_aliasing=False).astype(image.dtype)
    return resize(image, (height, width), anti_aliasing=True)


def preview_sheet(images: list[np.ndarray], segmentation: Segmentation, row_height: int = ROW_HEIGHT) -> np.ndarray:
    """uint8 RGB sheet: image | map | overlay with region outlines, one row per image, legend below."""
    rows = []
    for image, labels in zip(images, segmentation.labels):
        picture = _fit(image, row_height)
        label_image = _fit(labels, row_height, nearest=True)
        colours = segmentation.palette[label_image].astype(np.float64) / 255.0
        overlay = (1 - OVERLAY_OPACITY) * picture + OVERLAY_OPACITY * colours
        overlay = mark_boundaries(overlay, label_image, color=(1, 1, 1))
        gap = np.ones((row_height, GAP, 3))
        rows.append(np.concatenate([picture, gap, colours, gap, overlay], axis=1))
    width = max(row.shape[1] for row in rows)
    rows = [np.pad(row, ((0, GAP), (0, width - row.shape[1]), (0, 0)), constant_values=1.0) for row in rows]
    sheet = (np.clip(np.concatenate(rows), 0, 1) * 255 + 0.5).astype(np.uint8)

    present = segmentation.present
    legend = Image.new("RGB", (width, LEGEND_LINE * len(present) + GAP), "white")
    draw = ImageDraw.Draw(legend)
    for line, label in enumerate(present):
        top = GAP + line * LEGEND_LINE
        colour = tuple(int(c) for c in segmentation.palette[label])
        draw.rectangle([GAP, top, GAP + SWATCH, top + SWATCH], fill=colour, outline=(0, 0, 0))
        draw.text((2 * GAP + SWATCH, top), f"{segmentation.names[label]}  {colour_name(segmentation.palette[label])}", fill=(0, 0, 0))
    return np.concatenate([sheet, np.asarray(legend)], axis=0)
