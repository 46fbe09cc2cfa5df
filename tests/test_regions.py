import numpy as np

from doodle.regions import region_score

from .conftest import BLUE, RED, textured_style, two_region_map


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
