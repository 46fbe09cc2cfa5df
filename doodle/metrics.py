"""How good a result is, measured against what it should have been.

Two measures, both pure functions of arrays:

- the region check (`region_score`): does each region of a painting carry the colours of the
  matching style region? Both maps are quantised to their label colours together. For every
  connected region of the target map, the painting's colours there (CIELAB mean and spread) are
  compared with those of every label of the style image; the region is right when the most similar
  style label is its own. The score is the area-weighted share of right regions, 1.0 when every
  region looks like its counterpart.
- the adjusted Rand index (`adjusted_rand_index`, Hubert & Arabie): how well two labellings of the
  same pixels agree. 1.0 when the two group the pixels identically (whatever the label numbers),
  about 0.0 for a labelling no better than chance. Used to compare automatic maps with hand-drawn
  ones.
- the boundary score (`boundary_score`): do two labellings draw their borders in the same places?
  Precision is the share of one map's border pixels that lie within a few pixels of the other's
  borders, recall the converse, and F their harmonic mean (as in the Berkeley segmentation
  benchmark, with a fixed tolerance instead of its one-to-one matching).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import distance_transform_edt
from scipy.special import comb
from skimage.color import rgb2lab
from skimage.measure import label as connected_components
from skimage.transform import resize

from .errors import DoodleError
from .images import check_map_matches
from .semantic import colour_name, label_maps

# Regions smaller than this share of the picture are anti-aliasing specks, not regions.
MIN_REGION_SHARE = 1e-3
BOUNDARY_TOLERANCE = 3  # pixels: a border this close to the other map's border counts as found


@dataclass(frozen=True)
class Region:
    colour: str  # the label colour, '#rrggbb'
    area: int  # pixels
    closest: str  # colour of the style label whose statistics are nearest
    right: bool


@dataclass(frozen=True)
class RegionReport:
    score: float
    regions: list[Region]


def _to_shape(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if labels.shape == shape:
        return labels
    return resize(labels, shape, order=0, preserve_range=True, anti_aliasing=False).astype(labels.dtype)


def colour_statistics(lab: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """CIELAB mean and standard deviation of the masked pixels: six numbers."""
    pixels = lab[mask]
    return np.concatenate([pixels.mean(0), pixels.std(0)])


def check_score_inputs(painting: np.ndarray, target_map: np.ndarray, style: np.ndarray, style_map: np.ndarray,
                       names: Sequence[str] = ("painting", "map", "style", "style map")) -> None:
    """One-line errors, naming the input (`names`, in argument order), for what cannot be compared:
    arrays that are not HxWx3 pictures, and maps whose aspect ratio differs from their image's (a map
    drawn for another picture would score its regions against the wrong places)."""
    for array, name in zip((painting, target_map, style, style_map), names):
        if array.ndim != 3 or array.shape[2] != 3 or min(array.shape[:2]) < 1:
            raise DoodleError(f"{name}: must be an HxWx3 picture, not an array of shape {array.shape}")
    check_map_matches(painting.shape, target_map.shape, names[0], names[1])
    check_map_matches(style.shape, style_map.shape, names[2], names[3])


def region_score(painting: np.ndarray, target_map: np.ndarray, style: np.ndarray, style_map: np.ndarray,
                 names: Sequence[str] = ("painting", "map", "style", "style map")) -> RegionReport:
    """Score a painting (float HxWx3 in [0, 1]) made from `target_map` in the style of `style`.
    `names` say in errors which input is wrong (file names, from the CLI)."""
    check_score_inputs(painting, target_map, style, style_map, names)
    labelling = label_maps([style_map], target_map)
    style_labels = _to_shape(labelling.labels[0], style.shape[:2])
    target_labels = _to_shape(labelling.labels[1], painting.shape[:2])
    style_lab, painting_lab = rgb2lab(style), rgb2lab(painting)
    style_stats = {int(k): colour_statistics(style_lab, style_labels == k) for k in np.unique(style_labels)}
    keys = list(style_stats)
    references = np.stack([style_stats[k] for k in keys])
    minimum = MIN_REGION_SHARE * target_labels.size
    regions = []
    for label in np.unique(target_labels):
        components = connected_components(target_labels == label, connectivity=1)
        for component in range(1, components.max() + 1):
            mask = components == component
            area = int(mask.sum())
            if area < minimum:
                continue
            distances = np.linalg.norm(references - colour_statistics(painting_lab, mask), axis=1)
            closest = keys[int(np.argmin(distances))]
            regions.append(Region(colour_name(labelling.palette[label]), area,
                                  colour_name(labelling.palette[closest]), closest == int(label)))
    total = sum(region.area for region in regions)
    score = sum(region.area for region in regions if region.right) / total if total else 0.0
    return RegionReport(score, regions)


def adjusted_rand_index(first: np.ndarray, second: np.ndarray) -> float:
    """ARI of two integer label arrays of the same shape."""
    if first.shape != second.shape:
        raise ValueError(f"label arrays differ in shape: {first.shape} and {second.shape}")
    _, a = np.unique(first.ravel(), return_inverse=True)
    _, b = np.unique(second.ravel(), return_inverse=True)
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1)
    pairs_together = comb(table, 2).sum()
    rows, columns = comb(table.sum(1), 2).sum(), comb(table.sum(0), 2).sum()
    expected = rows * columns / comb(first.size, 2)
    best = (rows + columns) / 2
    if best == expected:  # both labellings put everything in one group (or split it identically)
        return 1.0
    return float((pairs_together - expected) / (best - expected))


@dataclass(frozen=True)
class BoundaryScore:
    precision: float  # share of the found borders that lie near a true border
    recall: float  # share of the true borders that a found border lies near
    f: float  # their harmonic mean; 0 when either is 0


def border_pixels(labels: np.ndarray) -> np.ndarray:
    """Borders as lines one pixel wide: the pixels whose right or lower neighbour has another label."""
    borders = np.zeros(labels.shape, dtype=bool)
    borders[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    borders[:-1] |= labels[:-1] != labels[1:]
    return borders


def boundary_score(found: np.ndarray, truth: np.ndarray, tolerance: float = BOUNDARY_TOLERANCE) -> BoundaryScore:
    """How well the borders of label image `found` match those of `truth` (same shape), each border
    pixel counting as matched within `tolerance` pixels. A map with no borders scores 0 recall (and
    full precision); two maps without borders score 1."""
    if found.shape != truth.shape:
        raise ValueError(f"label arrays differ in shape: {found.shape} and {truth.shape}")
    found_edges, true_edges = border_pixels(found), border_pixels(truth)
    if not found_edges.any() and not true_edges.any():
        return BoundaryScore(1.0, 1.0, 1.0)

    def near(edges: np.ndarray, other: np.ndarray) -> float:
        if not edges.any():
            return 1.0
        if not other.any():
            return 0.0
        return float((distance_transform_edt(~other)[edges] <= tolerance).mean())

    precision, recall = near(found_edges, true_edges), near(true_edges, found_edges)
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return BoundaryScore(precision, recall, f)
