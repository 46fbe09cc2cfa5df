"""Landscape sense: naming the sky and the water when a picture has them.

The cluster method's labels have no meaning of their own ("region 1", "region 2"...). Two weak,
documented priors give the commonest landscape materials their names, so that a map's legend (in
`doodle segment` and in the studio) reads "sky, water, region 3" where it can:

- **sky**: a label that covers at least half of the pictures' top edge and at least half of their
  upper middle (where a portrait has its sitter's head), lies mostly in their upper part, is smoother
  than the picture's median pixel (few colour edges inside it), and is neither dark nor warm (a
  clear, overcast or hazy sky; a sunset is left unnamed).
- **water**: once a sky is found, the label in the pictures' lower part whose colour is nearest the
  sky's (water reflects it) and that is bluish.

The priors only name labels; they never move a border or join two labels. Tried as a push to join
smooth regions along the top edge first, a sky prior left the Monet's map unchanged and cost the
espresso photograph its table (benchmarks/README.md, Automatic maps). A picture that breaks them
(upside down, a portrait, a sunset) simply keeps the plain names, and its map is the same.
"""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2lab

SKY_TOP_SHARE = 0.5  # of the top edge's pixels, over all pictures
SKY_UPPER_MIDDLE_SHARE = 0.5  # of the box of the top 40% of rows and the middle third of columns
SKY_HIGHEST_CENTRE = 0.4  # the label's mean row, as a share of the picture's height from the top
SKY_SMOOTHNESS = 1.0  # median edge strength inside it, in units of the picture's median
SKY_MIN_LIGHTNESS = 50.0  # CIELAB L*
SKY_MAX_WARMTH = 5.0  # CIELAB b*: above this the colour is yellow-orange (a sunset, a wall)
WATER_LOWEST_CENTRE = 0.55  # the label's mean row must be below this share of the height
WATER_MAX_WARMTH = 0.0  # CIELAB b*: water must be bluish


def label_statistics(labels: list[np.ndarray], images: list[np.ndarray], edges: list[np.ndarray],
                     count: int) -> dict[str, np.ndarray]:
    """Per label over all images: share of the top edge and of the upper middle, mean row (0 top, 1
    bottom), median edge strength, mean CIELAB colour, and area."""
    top, middle = np.zeros(count), np.zeros(count)
    row_sum, area = np.zeros(count), np.zeros(count)
    colour_sum = np.zeros((count, 3))
    strengths: list[list[np.ndarray]] = [[] for _ in range(count)]
    for image_labels, image, image_edges in zip(labels, images, edges):
        height = image_labels.shape[0]
        top += np.bincount(image_labels[0], minlength=count)
        width = image_labels.shape[1]
        upper_middle = image_labels[: max(1, round(0.4 * height)), width // 3: max(width // 3 + 1, 2 * width // 3)]
        middle += np.bincount(upper_middle.ravel(), minlength=count)
        rows = np.broadcast_to(np.arange(height)[:, None] / max(height - 1, 1), image_labels.shape)
        flat = image_labels.ravel()
        row_sum += np.bincount(flat, weights=rows.ravel(), minlength=count)
        area += np.bincount(flat, minlength=count)
        lab = rgb2lab(image).reshape(-1, 3)
        for channel in range(3):
            colour_sum[:, channel] += np.bincount(flat, weights=lab[:, channel], minlength=count)
        for label in np.unique(flat):
            strengths[label].append(image_edges.ravel()[flat == label])
    present = np.maximum(area, 1)
    median_edge = np.array([np.median(np.concatenate(s)) if s else np.inf for s in strengths])
    return {"top": top / top.sum(), "middle": middle / middle.sum(), "row": row_sum / present, "edge": median_edge,
            "colour": colour_sum / present[:, None], "area": area}


def landscape_names(labels: list[np.ndarray], images: list[np.ndarray], edges: list[np.ndarray],
                    count: int) -> list[str]:
    """A name per label: 'sky' and 'water' where the priors find them, else 'region N' (1-based)."""
    names = [f"region {label + 1}" for label in range(count)]
    stats = label_statistics(labels, images, edges, count)
    lightness, warmth = stats["colour"][:, 0], stats["colour"][:, 2]
    sky_like = ((stats["area"] > 0) & (stats["top"] >= SKY_TOP_SHARE) & (stats["middle"] >= SKY_UPPER_MIDDLE_SHARE)
                & (stats["row"] <= SKY_HIGHEST_CENTRE)
                & (stats["edge"] <= SKY_SMOOTHNESS) & (lightness >= SKY_MIN_LIGHTNESS) & (warmth <= SKY_MAX_WARMTH))
    if not sky_like.any():
        return names
    sky = int(np.argmax(np.where(sky_like, stats["top"], -1)))
    names[sky] = "sky"
    water_like = (stats["area"] > 0) & (stats["row"] >= WATER_LOWEST_CENTRE) & (warmth <= WATER_MAX_WARMTH)
    water_like[sky] = False
    if water_like.any():
        distance = np.linalg.norm(stats["colour"] - stats["colour"][sky], axis=1)
        names[int(np.argmin(np.where(water_like, distance, np.inf)))] = "water"
    return names
