"""What every segmentation method returns, and the colours its labels are painted in."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from doodle.errors import DoodleError

# Saturated, far-apart colours for labels that have no fixed meaning (the cluster method). They are
# much further apart than doodle's label-merging distance, so no two ever fuse when a map is read.
CLUSTER_COLOURS = np.array([
    (255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 0), (255, 0, 255), (0, 255, 255),
    (255, 128, 0), (128, 0, 255), (0, 128, 64), (255, 255, 255), (128, 64, 0), (0, 0, 0),
], dtype=np.uint8)
MAX_LABELS = len(CLUSTER_COLOURS)


class SegmentationUnavailable(DoodleError):
    """A method cannot run here (a missing package, weights that cannot be had, no face found)."""


@dataclass(frozen=True)
class Segmentation:
    """Maps for a set of images labelled together: one label means one kind of region in all."""

    method: str  # the method that made the maps: cluster, portrait or network
    names: list[str]  # one name per label, e.g. 'hair' or 'region 3'
    palette: np.ndarray  # (K, 3) uint8, the colour each label is painted in
    labels: list[np.ndarray]  # one (H, W) int array per image, values in [0, K), at the image's size
    notes: list[str] = field(default_factory=list)
    reason: str = ""  # why there are this many labels (the cluster method, when it chose the number)

    @property
    def maps(self) -> list[np.ndarray]:
        """The maps as RGB uint8 images, ready to save as X_sem.png or to pass to doodle.paint."""
        return [self.palette[labels] for labels in self.labels]

    @property
    def present(self) -> np.ndarray:
        """The labels that occur in at least one image, in label order."""
        return np.unique(np.concatenate([labels.ravel() for labels in self.labels]))

    @property
    def count(self) -> int:
        return len(self.present)


def area_order(labels: list[np.ndarray], count: int) -> np.ndarray:
    """Old label -> new label, largest total area first, so colours go to labels predictably."""
    areas = sum(np.bincount(image.ravel(), minlength=count) for image in labels)
    order = np.argsort(-areas, kind="stable")
    remap = np.empty(count, dtype=np.int64)
    remap[order] = np.arange(count)
    return remap
