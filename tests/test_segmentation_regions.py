"""The cluster method's parts: growing regions, grouping them into labels (and how many), carrying the
labels to full size along the picture's edges, and the landscape priors' names and fallback."""

import numpy as np
import pytest

from doodle.metrics import adjusted_rand_index
from segmentation.cluster import cluster_segment
from segmentation.priors import landscape_names
from segmentation.refine import band_width, refine_labels
from segmentation.regions import border_statistics, group_regions, grow_regions
from segmentation.result import MAX_LABELS


def strips(count: int, width: int = 10, height: int = 30) -> np.ndarray:
    """Superpixels as `count` vertical strips side by side."""
    return np.repeat(np.repeat(np.arange(count)[None], height, axis=0), width, axis=1)


def test_growing_joins_alike_neighbours_across_soft_seams():
    superpixels = strips(6)
    # A gentle gradient on the left three, another on the right three, and a hard edge between them.
    rows = np.array([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2]])
    edges = np.full(superpixels.shape, 0.5)
    edges[:, 29:31] = 5.0
    region_of = grow_regions(superpixels, rows, edges, count=2)
    assert list(region_of) == [0, 0, 0, 1, 1, 1]


def test_growing_lets_the_border_decide_between_equal_gaps():
    superpixels = strips(4)
    rows = np.array([[0.0], [1.0], [2.0], [3.0]])  # every neighbour equally far apart
    edges = np.full(superpixels.shape, 0.5)
    edges[:, 19:21] = 5.0  # but the middle border is a hard edge
    assert list(grow_regions(superpixels, rows, edges, count=2)) == [0, 0, 1, 1]


def test_grouping_joins_look_alikes_that_do_not_touch_and_says_why_it_stopped():
    # Regions A | B | C in a row: A and C alike, B different; both borders hard.
    means = np.array([[0.0, 0.0], [5.0, 5.0], [0.1, 0.0]])
    sizes = np.array([100.0, 100.0, 100.0])
    borders = {(0, 1): (5.0 * 30, 30), (1, 2): (5.0 * 30, 30)}
    total = float(((np.repeat(means, 100, axis=0) - means.mean(0)) ** 2).sum())
    result = group_regions(means, sizes, borders, total, target=None, max_labels=MAX_LABELS)
    assert result.labels[0] == result.labels[2] != result.labels[1]
    assert "stopped at 2 labels" in result.reason and len(result.prices) == 1
    asked = group_regions(means, sizes, borders, total, target=3, max_labels=MAX_LABELS)
    assert len(set(asked.labels)) == 3 and "as asked" in asked.reason
    one = group_regions(means, sizes, borders, total, target=1, max_labels=MAX_LABELS)
    assert set(one.labels) == {0} and "as asked" in one.reason


def test_grouping_does_not_depend_on_the_order_of_the_images():
    # Image 0: regions 0 (sky) and 1 (sea) touching; image 1: regions 2 (sea) and 3 (sky) touching.
    means = np.array([[0.0, 0.0], [4.0, 0.0], [4.2, 0.0], [0.1, 0.0]])
    sizes = np.array([300.0, 200.0, 250.0, 150.0])
    borders = {(0, 1): (4.0 * 30, 30), (2, 3): (4.0 * 30, 30)}
    total = float(sum(size * ((mean - means.mean(0)) ** 2).sum() for mean, size in zip(means, sizes)))
    forward = group_regions(means, sizes, borders, total, None, MAX_LABELS, np.array([0, 0, 1, 1]))
    order = [2, 3, 0, 1]  # the same regions with the images swapped
    swapped_borders = {(0, 1): borders[(2, 3)], (2, 3): borders[(0, 1)]}
    backward = group_regions(means[order], sizes[order], swapped_borders, total, None, MAX_LABELS,
                             np.array([0, 0, 1, 1]))
    assert forward.labels[0] == forward.labels[3] != forward.labels[1] == forward.labels[2]
    assert adjusted_rand_index(forward.labels, backward.labels[np.argsort(order)]) == 1.0
    assert forward.prices == pytest.approx(backward.prices)


def test_a_single_label_has_no_borders():
    assert border_statistics(np.zeros((5, 5), int), np.ones((5, 5))) == {}


def test_never_more_labels_than_colours():
    # 16 very different regions, each with a hard border to every other: the price threshold alone
    # would keep all 16.
    means = np.eye(16)
    sizes = np.full(16, 50.0)
    borders = {(i, j): (9.0 * 20, 20) for i in range(16) for j in range(i + 1, 16)}
    total = float(((np.repeat(means, 50, axis=0) - means.mean(0)) ** 2).sum())
    result = group_regions(means, sizes, borders, total, target=None, max_labels=MAX_LABELS)
    assert len(set(result.labels)) == MAX_LABELS


MATERIALS = [  # (base colour, stripe colour, stripe period in pixels, horizontal stripes?)
    ((0.75, 0.85, 0.95), (0.70, 0.80, 0.95), 0, True),  # pale sky, nearly flat
    ((0.20, 0.50, 0.15), (0.05, 0.30, 0.05), 4, False),  # green, vertical stripes
    ((0.10, 0.25, 0.60), (0.30, 0.45, 0.80), 6, True),  # blue, horizontal stripes
    ((0.80, 0.55, 0.30), (0.55, 0.35, 0.15), 3, False),  # ochre, fine vertical stripes
    ((0.40, 0.15, 0.10), (0.70, 0.60, 0.55), 0, True),  # dark red with pale speckles
]


def paint_materials(layout: np.ndarray, seed: int = 0) -> np.ndarray:
    """A picture where layout label k is painted in material k: its colours and its texture."""
    rng = np.random.default_rng(seed)
    height, width = layout.shape
    rows, columns = np.mgrid[0:height, 0:width]
    image = np.zeros((height, width, 3), np.float32)
    for label, (base, accent, period, horizontal) in enumerate(MATERIALS):
        if period:
            marks = ((rows if horizontal else columns) // period) % 2 == 1
        else:
            marks = rng.random((height, width)) > 0.85
        colours = np.where(marks[..., None], np.array(accent), np.array(base))
        image = np.where((layout == label)[..., None], colours, image)
    return np.clip(image + rng.normal(0, 0.03, image.shape), 0, 1).astype(np.float32)


def bands(height: int, width: int, cuts: list[float]) -> np.ndarray:
    """Horizontal bands: label k between cuts k-1 and k (shares of the height)."""
    rows = np.arange(height)[:, None] / height
    return np.broadcast_to(np.searchsorted(np.array(cuts), rows, side="right"), (height, width)).copy()


def layouts() -> dict[int, np.ndarray]:
    three = bands(160, 224, [0.35, 0.65])
    four = bands(160, 224, [0.3, 0.6])
    four[96:, 112:] = 3
    four[120:150, 20:70] = 1  # material 1 again, in a patch of its own far from its band
    five = four.copy()
    five[5:55, 130:210] = 4  # a tenth of the picture, inside the top band
    return {2: bands(160, 224, [0.5]), 3: three, 4: four, 5: five}


@pytest.mark.parametrize("count", [2, 3, 4, 5])
def test_the_number_of_labels_is_the_number_of_materials(count, encoder):
    layout = layouts()[count]
    result = cluster_segment([paint_materials(layout, seed=count)], encoder=encoder)
    assert result.count == count, result.reason
    assert adjusted_rand_index(layout, result.labels[0]) > 0.85
    assert result.reason.startswith(f"stopped at {count} labels")


def edge_picture(height: int = 300, width: int = 400, edge: int = 203) -> np.ndarray:
    rng = np.random.default_rng(1)
    image = np.zeros((height, width, 3), np.float32)
    image[:, :edge] = (0.8, 0.7, 0.3)
    image[:, edge:] = (0.2, 0.3, 0.7)
    return np.clip(image + rng.normal(0, 0.02, image.shape), 0, 1).astype(np.float32)


def test_refinement_moves_a_scaled_up_border_onto_the_pictures_edge():
    image = edge_picture()
    coarse = np.zeros((75, 100), np.int64)
    coarse[:, 49:] = 1  # found at a quarter of the size: one working pixel left of the true edge (196 vs 203)
    nearest = np.repeat(np.repeat(coarse, 4, axis=0), 4, axis=1)
    refined = refine_labels(coarse, image)
    assert refined.shape == image.shape[:2]
    found = (refined == 1).argmax(axis=1)  # the first column of the right label, row by row
    assert np.abs(found - 203).max() <= 2
    assert ((nearest == 1).argmax(axis=1) == 196).all()  # what nearest-neighbour scaling left


def test_refinement_only_moves_pixels_near_a_border_and_adds_no_label():
    image = edge_picture()
    image[:, 20:40] = (0.2, 0.3, 0.7)  # an edge far from any border found: it must not make a region
    coarse = np.zeros((75, 100), np.int64)
    coarse[:, 49:] = 1
    refined = refine_labels(coarse, image)
    radius = band_width(coarse.shape, image.shape[:2])
    assert (refined[:, : 196 - radius - 1] == 0).all() and (refined[:, 196 + radius + 1:] == 1).all()
    assert set(np.unique(refined)) == {0, 1}
    # A label thinner than the band has no trusted pixels to measure its colour by: it keeps its
    # scaled-up pixels rather than vanish.
    coarse[:, 70] = 2
    assert set(np.unique(refine_labels(coarse, image))) == {0, 1, 2}
    # One label: nothing to refine, just the full size.
    assert (refine_labels(np.zeros((75, 100), np.int64), image) == 0).all()


def landscape() -> tuple[np.ndarray, np.ndarray]:
    """Sky above green hills above blue water: layout labels 0, 1, 2."""
    layout = layouts()[3]
    return paint_materials(layout, seed=3), layout


def test_sky_and_water_are_named_when_the_picture_has_them():
    image, layout = landscape()
    edges = np.ones(layout.shape)  # every pixel as sharp as the median...
    edges[layout == 0] = 0.2  # ...but the sky, which is smooth
    assert landscape_names([layout], [image], [edges], 3) == ["sky", "region 2", "water"]


def test_a_picture_that_breaks_the_priors_keeps_plain_names_and_the_same_map(encoder):
    image, layout = landscape()
    upright = cluster_segment([image], encoder=encoder)
    flipped = cluster_segment([image[::-1].copy()], encoder=encoder)
    assert "sky" in upright.names and "water" in upright.names
    assert all(name.startswith("region") for name in flipped.names)  # a sky at the bottom is no sky
    assert flipped.count == upright.count == 3
    assert adjusted_rand_index(layout[::-1], flipped.labels[0]) > 0.9
