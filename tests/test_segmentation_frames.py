"""Automatic maps for video: a labelling fitted once keeps each region's colour in every frame."""

import numpy as np
import pytest

from doodle.errors import DoodleError
from segmentation import MIN_SIDE, segment
from segmentation.frames import FrameLabeller, fit_labeller, nearest_vote

from .helpers import BLUE, RED, textured_style, two_region_map

SPLIT = 100  # the scene has stripes left of this column, dots right of it
WIDTH = 128
SHIFTS = (0, 3, 6, 9, 60)  # a camera panning a few pixels a frame, then a frame much further on


@pytest.fixture(scope="module")
def scene():
    return textured_style(96, 200, seed=3, split=SPLIT / 200)


def frame_at(scene: np.ndarray, shift: int) -> np.ndarray:
    return scene[:, shift: shift + WIDTH]


def stripes_at(shift: int, height: int = 96) -> np.ndarray:
    """Where the stripes are in the frame taken at `shift`: the truth the maps are checked against."""
    return np.broadcast_to(np.arange(WIDTH)[None] + shift < SPLIT, (height, WIDTH))


def agreement(found: np.ndarray, stripes: np.ndarray, stripe_colour, dot_colour) -> float:
    expected = np.where(stripes[..., None], np.array(stripe_colour, np.uint8), np.array(dot_colour, np.uint8))
    return float((found == expected).all(-1).mean())


@pytest.fixture(scope="module")
def style():
    return textured_style(64, 64, seed=1)  # a different picture of the same two textures


@pytest.fixture(scope="module")
def co_segmented(scene, style, encoder):
    first = frame_at(scene, 0)
    result = segment([style, first], method="cluster", encoder=encoder)
    return result, fit_labeller([style, first], result, encoder=encoder, anchor=1)


def test_a_panning_clip_keeps_the_same_colour_for_the_same_region(scene, co_segmented):
    result, labeller = co_segmented
    first_map = result.maps[1]
    stripe_colour = first_map[:, :40].reshape(-1, 3)[0]
    dot_colour = first_map[:, -20:].reshape(-1, 3)[0]
    assert tuple(stripe_colour) != tuple(dot_colour)
    # The style was labelled together with the first frame: its stripes wear the same colour.
    assert (result.maps[0][:, :20] == stripe_colour).all(-1).mean() > 0.9
    for shift in SHIFTS:
        found = labeller.label(frame_at(scene, shift))
        assert found.dtype == np.uint8 and found.shape == (96, WIDTH, 3)
        assert agreement(found, stripes_at(shift), stripe_colour, dot_colour) > 0.9, shift
        # Only the fitted labels' colours, never a new one.
        assert {tuple(c) for c in found.reshape(-1, 3)} <= {tuple(result.palette[k]) for k in labeller.present}


def test_a_hand_drawn_map_gives_frames_its_own_colours(scene, style, encoder):
    hand_map = two_region_map(64, 64, left=RED, right=BLUE)
    first = frame_at(scene, 0)
    labeller = fit_labeller(style, hand_map, encoder=encoder, anchor=first)
    assert {tuple(c) for c in labeller.palette} == {RED, BLUE}
    for shift in SHIFTS[:3]:
        found = labeller.label(frame_at(scene, shift))
        assert agreement(found, stripes_at(shift), RED, BLUE) > 0.9
    # Anchoring afterwards is the same as anchoring in the fit.
    assert np.allclose(labeller.anchored(first).anchor, labeller.anchor)


def test_a_frame_of_another_size_gets_a_map_of_its_size(scene, co_segmented):
    _, labeller = co_segmented
    frame = (scene[8:68, 30:110] * 255).astype(np.uint8)  # 80x60 uint8: another size, shape and type
    labels = labeller.label_indices(frame)
    assert labels.shape == (60, 80)
    stripes = (np.arange(80)[None] + 30 < SPLIT).repeat(60, 0)
    stripe_label = np.bincount(labels[stripes]).argmax()
    assert stripe_label != np.bincount(labels[~stripes]).argmax()
    assert ((labels == stripe_label) == stripes).mean() > 0.9


def test_votes_follow_the_nearest_references():
    references = np.array([[0.0], [0.1], [0.2], [1.0], [1.1], [5.0]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    rows = np.array([[0.05], [1.05], [4.0]])
    assert list(nearest_vote(rows, references, labels, 2, neighbours=3)) == [0, 1, 1]
    # A tie goes to the label of the nearer reference.
    assert list(nearest_vote(np.array([[0.95]]), references, labels, 2, neighbours=2)) == [1]


def one_line_error(call, match: str) -> None:
    with pytest.raises(DoodleError, match=match) as caught:
        call()
    assert "\n" not in str(caught.value)


def test_bad_input_gives_one_line_errors(style, co_segmented, encoder):
    result, labeller = co_segmented
    assert isinstance(labeller, FrameLabeller)
    small = np.zeros((MIN_SIDE - 1, 64, 3), np.float32)
    one_line_error(lambda: labeller.label(small, "frame 7"), f"frame 7: is 64x{MIN_SIDE - 1}.*at least {MIN_SIDE}")
    one_line_error(lambda: labeller.label(np.zeros((64, 64), np.float32)), "HxWx3")
    one_line_error(lambda: labeller.label(np.full((64, 64, 3), 2.0)), r"in \[0, 1\]")
    one_line_error(lambda: labeller.label(np.zeros((40, 1000, 3), np.float32)), "too thin")
    hand_map = two_region_map(64, 64)
    one_line_error(lambda: fit_labeller(style, [hand_map, hand_map], encoder=encoder), "got 2 maps for 1 image")
    one_line_error(lambda: fit_labeller(style, two_region_map(64, 128), encoder=encoder), "aspect ratios differ")
    one_line_error(lambda: fit_labeller(style, hand_map.astype(np.float32), encoder=encoder), "uint8")
    one_line_error(lambda: fit_labeller(style, result, encoder=encoder), "segmentation has maps for 2 images")
    one_line_error(lambda: fit_labeller([style, style], result, encoder=encoder), "fit on the images that were")
    one_line_error(lambda: fit_labeller(style, hand_map, encoder=encoder, anchor=3), "anchor 3")
    one_line_error(lambda: fit_labeller([], hand_map, encoder=encoder), "at least one image")
