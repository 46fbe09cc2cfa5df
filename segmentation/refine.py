"""Labels found at the working size, carried to the full picture along its own edges.

Scaling a small label image up by nearest neighbour leaves stair-steps a few pixels wide and puts
each border wherever the working size's pixels happened to fall. Instead each label's mask is
passed through a guided filter (He, Sun and Tang, "Guided Image Filtering", 2010) with the full-size
picture as the guide: inside every window the filtered mask is a linear function of the picture's
colour, so where the picture has an edge the mask's step moves onto it, and where the picture is
flat the mask is just smoothed. Each pixel then takes the label whose filtered mask is highest.

Only pixels within the filter's radius of a scaled-up border may change: the interior of every
region keeps its label whatever the texture inside it, and no label appears where it was not.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import binary_dilation, uniform_filter
from skimage.segmentation import find_boundaries
from skimage.transform import resize

from .cleanup import remove_specks

# The filter's window reaches this many working-size pixels (scaled to full size) past a border:
# borders found at the working size are off by a pixel or two there.
RADIUS_IN_WORKING_PIXELS = 2.0
MIN_RADIUS = 2
# Regularisation of the guided filter, in squared colour units (RGB in [0, 1]): colour differences
# well above its square root (0.03) count as edges, smaller ones as flat.
EPSILON = 1e-3


def refinement_radius(small_shape: tuple[int, int], full_shape: tuple[int, int]) -> int:
    """The filter radius in full-size pixels for labels found at `small_shape`."""
    scale = max(full_shape[0] / small_shape[0], full_shape[1] / small_shape[1])
    return max(MIN_RADIUS, math.ceil(RADIUS_IN_WORKING_PIXELS * scale))


def _box(values: np.ndarray, radius: int) -> np.ndarray:
    return uniform_filter(values, size=2 * radius + 1, mode="reflect")


class GuidedFilter:
    """He et al.'s colour guided filter for one guide picture, applied to any number of masks."""

    def __init__(self, guide: np.ndarray, radius: int, epsilon: float = EPSILON):
        self.guide = guide.astype(np.float32)
        self.radius = radius
        self.mean = [_box(self.guide[..., c], radius) for c in range(3)]
        # The windows' colour covariance plus epsilon, inverted pixel by pixel (3x3, by cofactors).
        cov = [[_box(self.guide[..., i] * self.guide[..., j], radius) - self.mean[i] * self.mean[j]
                for j in range(3)] for i in range(3)]
        for c in range(3):
            cov[c][c] = cov[c][c] + epsilon
        cofactor = [[cov[(j + 1) % 3][(i + 1) % 3] * cov[(j + 2) % 3][(i + 2) % 3]
                     - cov[(j + 1) % 3][(i + 2) % 3] * cov[(j + 2) % 3][(i + 1) % 3]
                     for j in range(3)] for i in range(3)]
        determinant = sum(cov[0][k] * cofactor[k][0] for k in range(3))
        self.inverse = [[cofactor[i][j] / determinant for j in range(3)] for i in range(3)]

    def __call__(self, mask: np.ndarray) -> np.ndarray:
        mask = mask.astype(np.float32)
        mask_mean = _box(mask, self.radius)
        covariance = [_box(self.guide[..., c] * mask, self.radius) - self.mean[c] * mask_mean for c in range(3)]
        slope = [sum(self.inverse[c][k] * covariance[k] for k in range(3)) for c in range(3)]
        offset = mask_mean - sum(slope[c] * self.mean[c] for c in range(3))
        return sum(_box(slope[c], self.radius) * self.guide[..., c] for c in range(3)) + _box(offset, self.radius)


def refine_labels(labels: np.ndarray, image: np.ndarray, radius: int | None = None,
                  epsilon: float = EPSILON) -> np.ndarray:
    """(h, w) int labels found on a shrunk copy of `image` -> (H, W) labels at the image's own size,
    with borders moved onto the image's edges (float RGB in [0, 1], (H, W, 3))."""
    full_shape = image.shape[:2]
    coarse = labels if labels.shape == full_shape else resize(
        labels, full_shape, order=0, preserve_range=True, anti_aliasing=False).astype(labels.dtype)
    radius = radius if radius is not None else refinement_radius(labels.shape, full_shape)
    band = binary_dilation(find_boundaries(coarse, mode="thick"), iterations=radius)
    if not band.any():
        return coarse
    # Only labels that touch the band can win a pixel in it.
    contenders = np.unique(coarse[band])
    guided = GuidedFilter(image, radius, epsilon)
    scores = np.stack([guided(coarse == label) for label in contenders])
    refined = coarse.copy()
    refined[band] = contenders[scores[:, band].argmax(0)]
    return remove_specks(refined)
