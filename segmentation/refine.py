"""Labels found at the working size, carried to the full picture along its own edges.

Scaling a small label image up by nearest neighbour leaves stair-steps as wide as the scale factor
and puts each border wherever the working size's pixels happened to fall, a few full-size pixels
off the picture's edge. Instead, labels are refined by colour at full size:

1. Scale the labels up by nearest neighbour, and mark the band of pixels within a few working
   pixels of a border: only there can a label be wrong. Everything outside the band is trusted.
2. For every label, measure the colour of its trusted pixels nearby: the mean and spread of CIELAB
   colour over a window twice the band's width, from that label's trusted pixels only (on a large
   picture, from a regular sample of them).
3. Give each band pixel (its colour lightly smoothed, so that brush marks and noise do not decide)
   the nearby label under whose local colour it is most likely (a Gaussian per label, so a pixel
   near the mean of a flat label beats one within the wide spread of a textured one).

So a border moves onto the place where the colour changes, as far as the band reaches, and never
past it: the interior of every region keeps its label, and no label appears where it was not.
Specks that the choice leaves are absorbed at the end; no label is ever lost.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import binary_dilation, uniform_filter
from skimage.color import rgb2lab
from skimage.segmentation import find_boundaries
from skimage.transform import resize

from .cleanup import remove_specks

# Borders found at the working size are off by up to this many working pixels (a superpixel's edge
# and the shrinking's blur); the band reaches that far from them, scaled to full size.
BAND_IN_WORKING_PIXELS = 2.0
MIN_BAND = 2  # full-size pixels
PIXEL_SMOOTHING = 1  # radius of the box each band pixel's colour is averaged over
STATISTICS_SAMPLES = 4  # per band width: a wider band (a larger picture) samples its statistics sparser
COLOUR_FLOOR = 4.0  # CIELAB units: the least spread a label's colour is given (flat labels, noise)


def band_width(small_shape: tuple[int, int], full_shape: tuple[int, int]) -> int:
    """How far (full-size pixels) from a scaled-up border a label may change."""
    scale = max(full_shape[0] / small_shape[0], full_shape[1] / small_shape[1])
    return max(MIN_BAND, math.ceil(BAND_IN_WORKING_PIXELS * scale))


def _box(values: np.ndarray, radius: int) -> np.ndarray:
    return uniform_filter(values, size=2 * radius + 1, mode="nearest")


def refine_labels(labels: np.ndarray, image: np.ndarray, band: int | None = None) -> np.ndarray:
    """(h, w) int labels found on a shrunk copy of `image` -> (H, W) labels at the image's own size,
    with borders moved onto the image's colour edges (`image`: float RGB in [0, 1], (H, W, 3))."""
    full_shape = image.shape[:2]
    coarse = labels if labels.shape == full_shape else resize(
        labels, full_shape, order=0, preserve_range=True, anti_aliasing=False).astype(labels.dtype)
    band = band if band is not None else band_width(labels.shape, full_shape)
    doubtful = binary_dilation(find_boundaries(coarse, mode="thick"), iterations=band)
    if not doubtful.any():
        return coarse
    lab = rgb2lab(image).astype(np.float32)
    smoothed = np.stack([_box(lab[..., c], PIXEL_SMOOTHING) for c in range(3)], -1)[doubtful]
    # The labels' local colour statistics come from every `step`-th pixel: on a large picture the
    # window is wide and still holds about (4 * STATISTICS_SAMPLES)^2 samples, at 1/step^2 the cost.
    step = max(1, band // STATISTICS_SAMPLES)
    window = max(1, round(2 * band / step))
    rows, columns = np.nonzero(doubtful)
    at = (rows // step, columns // step)
    sampled_lab, sampled_coarse = lab[::step, ::step], coarse[::step, ::step]
    sampled_doubtful = doubtful[::step, ::step]
    contenders = np.unique(coarse[doubtful])
    scores = np.full((len(contenders), len(rows)), np.inf, np.float32)
    for index, label in enumerate(contenders):
        trusted = ((sampled_coarse == label) & ~sampled_doubtful).astype(np.float32)
        weight = _box(trusted, window)[at]
        near = weight > 0
        if not near.any():
            continue
        mean = np.stack([_box(sampled_lab[..., c] * trusted, window)[at] for c in range(3)], -1)
        square = sum(_box(sampled_lab[..., c] ** 2 * trusted, window)[at] for c in range(3))
        mean, square, weight = mean[near], square[near], weight[near]
        mean /= weight[:, None]
        spread = np.maximum(square / weight - (mean ** 2).sum(1), 0) / 3 + COLOUR_FLOOR ** 2
        distance = ((smoothed[near] - mean) ** 2).sum(1)
        scores[index, near] = distance / (2 * spread) + 1.5 * np.log(spread)  # Gaussian negative log-likelihood
    choice = scores.argmin(0)
    undecided = ~np.isfinite(scores.min(0))  # no trusted pixel of any label nearby: keep the coarse label
    refined = coarse.copy()
    refined[doubtful] = np.where(undecided, coarse[doubtful], contenders[choice])
    # The labels stay exactly those found: a label that the choice or the speck removal would
    # erase (one thinner than the band, or made only of specks when a number of labels was asked
    # for) gets its scaled-up pixels back.
    wanted = np.unique(coarse)
    for candidate in (remove_specks(refined), refined):
        lost = np.setdiff1d(wanted, np.unique(candidate))
        if lost.size == 0:
            return candidate
    lost_pixels = np.isin(coarse, lost)
    refined[lost_pixels] = coarse[lost_pixels]
    return refined
