"""Tests for doodle/metrics.py: the region check and the adjusted Rand index."""

import numpy as np
import pytest

from doodle.metrics import BoundaryScore, adjusted_rand_index, boundary_score, region_score

from .helpers import BLUE, RED, textured_style, two_region_map


def test_the_style_scores_itself_perfectly():
    style, labels = textured_style(48, 48), two_region_map(48, 48)
    report = region_score(style, labels, style, labels)
    assert report.score == 1.0 and len(report.regions) == 2


def test_swapped_colours_score_zero_and_half_right_scores_by_area():
    style, labels = textured_style(48, 48), two_region_map(48, 48)
    swapped = two_region_map(48, 48, BLUE, RED)
    assert region_score(style, swapped, style, labels).score == 0.0
    # a painting whose right region (a quarter of the picture) is wrong
    target = two_region_map(48, 48, RED, BLUE, split=0.75)
    painting = np.concatenate([style[:, :24], style[:, :12], style[:, :12]], axis=1)
    report = region_score(painting, target, style, labels)
    assert abs(report.score - 0.75) < 1e-6


def test_regions_are_connected_components():
    labels = two_region_map(48, 48)
    target = labels.copy()
    target[:, 30:40] = RED  # splits the blue side in two blue regions
    report = region_score(textured_style(48, 48), target, textured_style(48, 48), labels)
    assert sorted(r.colour for r in report.regions) == ["#0000ff", "#0000ff", "#ff0000", "#ff0000"]


def test_adjusted_rand_index_known_values():
    assert adjusted_rand_index(np.array([0, 0, 1, 1]), np.array([5, 5, 2, 2])) == 1.0
    assert adjusted_rand_index(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 2])) == pytest.approx(4 / 7)
    assert adjusted_rand_index(np.array([0, 0, 0, 0]), np.array([0, 1, 2, 3])) == pytest.approx(0.0)
    rng = np.random.default_rng(0)
    assert abs(adjusted_rand_index(rng.integers(0, 4, 20000), rng.integers(0, 4, 20000))) < 0.01
    with pytest.raises(ValueError):
        adjusted_rand_index(np.zeros(3), np.zeros(4))


def test_inputs_that_cannot_be_compared_are_refused_in_one_line():
    from doodle.errors import DoodleError

    style, labels = textured_style(48, 48), two_region_map(48, 48)
    wide = two_region_map(24, 48)
    for arguments, names, words in (((style, wide, style, labels), None, "map: map is 48x24"),
                                    ((style, labels, style, wide), ("p.png", "m.png", "s.png", "s_sem.png"),
                                     "s_sem.png: map is 48x24 but s.png is 48x48"),
                                    ((style[..., 0], labels, style, labels), None, "painting: must be an HxWx3")):
        with pytest.raises(DoodleError, match=words):
            region_score(*arguments, **({"names": names} if names else {}))
    assert region_score(style, two_region_map(24, 24), style, labels).score == 1.0  # another size, same shape


def test_boundary_score_counts_borders_found_within_the_tolerance():
    truth = np.zeros((40, 60), int)
    truth[:, 30:] = 1
    assert boundary_score(truth, truth).f == 1.0
    near, far = np.zeros_like(truth), np.zeros_like(truth)
    near[:, 32:] = 1  # two pixels off: within the default three
    far[:, 40:] = 1
    assert boundary_score(near, truth).f == 1.0
    assert boundary_score(far, truth) == BoundaryScore(0.0, 0.0, 0.0)
    # A map with an extra border: everything true is found, half of what it draws is not true.
    extra = near.copy()
    extra[:, 50:] = 2
    score = boundary_score(extra, truth)
    assert score.recall == 1.0 and score.precision == pytest.approx(0.5) and score.f == pytest.approx(2 / 3)
    # No borders at all: nothing true is found; two borderless maps agree.
    assert boundary_score(np.zeros_like(truth), truth).recall == 0.0
    assert boundary_score(np.zeros_like(truth), np.zeros_like(truth)).f == 1.0
    with pytest.raises(ValueError, match="differ in shape"):
        boundary_score(truth, truth[:, :50])
