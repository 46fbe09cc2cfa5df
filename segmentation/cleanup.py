"""Tidying label images: specks and dropped labels are absorbed by their surroundings."""

from __future__ import annotations

import numpy as np
from skimage.measure import label as connected_components
from skimage.segmentation import expand_labels

SPECK_SHARE = 0.002  # connected pieces smaller than this share of an image are absorbed


def absorb(labels: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """Give the pixels where `drop` is set to the nearest label that stays (scikit-image's
    expand_labels grows the surviving labels into the gap)."""
    if not drop.any() or drop.all():
        return labels
    kept = np.where(drop, 0, labels + 1)
    grown = expand_labels(kept, distance=sum(labels.shape))  # reaches every pixel
    return grown - 1


def remove_specks(labels: np.ndarray, share: float = SPECK_SHARE) -> np.ndarray:
    """Absorb connected pieces smaller than `share` of the image into their surroundings."""
    pieces = connected_components(labels + 1, connectivity=1, background=0)
    sizes = np.bincount(pieces.ravel())
    return absorb(labels, sizes[pieces] < share * labels.size)
