"""Clips with known motion: the true flow carries each frame onto the next, the masks mark what left
the frame or was hidden, and the warping error scores steady and flickering paintings."""

import numpy as np
import pytest

from doodle.video.flow import warp
from doodle.video.motion import SyntheticClip, animated_doodle, photo_pan, warping_error, warping_errors

from .helpers import BLUE, RED, textured_style, two_region_map

PHOTO = textured_style(96, 128)


def test_a_whole_pixel_pan_is_carried_exactly_by_its_flow():
    clip = photo_pan(PHOTO, size=(40, 30), frames=4, pan=(3, -2), zoom=1.0)
    assert len(clip.frames) == 4 and len(clip.flows) == len(clip.masks) == 3 and clip.size == (40, 30)
    assert all(frame.shape == (30, 40, 3) and frame.dtype == np.float32 for frame in clip.frames)
    # the camera moved right 3 and up 2: each pixel was 3 to the right and 2 above in the frame before
    assert np.allclose(clip.flows[0], [3, -2])
    for flow, before, after in zip(clip.flows, clip.frames, clip.frames[1:]):
        assert np.abs(warp(before, flow)[2:, :-3] - after[2:, :-3]).max() < 1e-5
    assert clip.input_error() < 1e-5


def test_masks_drop_exactly_the_pixels_that_came_from_outside_the_frame():
    mask = photo_pan(PHOTO, size=(40, 30), frames=2, pan=(3, -2), zoom=1.0).masks[0]
    assert (mask[2:, :-3] == 1).all()
    assert (mask[:, -3:] == 0).all() and (mask[:2] == 0).all()


def test_a_pan_with_a_zoom_is_carried_by_its_flow_up_to_resampling():
    clip = photo_pan(PHOTO, size=(48, 36), frames=3, pan=(1.5, 0.5), zoom=1.03)
    flow = clip.flows[1]
    # zooming in: pixels left of the centre came from further right, pixels right of it from further left
    assert flow[18, 2, 0] > flow[18, 45, 0]
    moved = np.abs(clip.frames[2] - clip.frames[1]).mean()
    assert clip.input_error() < 0.25 * moved
    assert clip.masks[1][18, 24] == 1 and clip.masks[1][18, 47] == 0  # the pan brought the right edge in


def test_the_default_photo_pan_fits_the_whole_path_in_the_photo():
    clip = photo_pan(size=(64, 48), frames=5, pan=(4, 2), zoom=1.02)
    assert all(0 <= frame.min() and frame.max() <= 1 for frame in clip.frames)
    assert np.std(clip.frames[0]) > 0.05  # a photograph, not a border smeared across the frame


def test_an_animated_doodle_moves_shapes_of_the_maps_colours_over_the_map():
    background = two_region_map(40, 60)
    clip = animated_doodle(background, frames=6, shapes=3, seed=1)
    colours = {tuple(colour) for frame in clip.frames for colour in frame.reshape(-1, 3)}
    assert colours <= {tuple(RED), tuple(BLUE)}  # clean maps: no colour the map does not have
    assert any(not np.array_equal(a, b) for a, b in zip(clip.frames, clip.frames[1:]))
    for flow, mask, before, after in zip(clip.flows, clip.masks, clip.frames, clip.frames[1:]):
        assert np.array_equal(flow, np.round(flow))  # whole-pixel moves
        visible = mask > 0
        assert np.array_equal(warp(before, flow)[visible].round().astype(np.uint8), after[visible])
    assert clip.input_error() == 0


def test_a_shape_passing_over_the_map_uncovers_pixels_the_mask_drops():
    background = np.zeros((30, 30, 3), np.uint8)
    clip = animated_doodle(background, frames=2, shapes=1, colours=[RED], seed=0)
    before, after = (np.all(frame == RED, -1) for frame in clip.frames)
    uncovered = before & ~after
    assert uncovered.any() and (clip.masks[0][uncovered] == 0).all()
    assert (clip.masks[0][~before & ~after] == 1).all()  # the bare map, seen in both
    assert (clip.flows[0][~after] == 0).all() and (clip.flows[0][after] != 0).any(axis=-1).all()


def test_warping_error_is_zero_for_a_steady_painting_and_large_for_noise():
    clip = photo_pan(PHOTO, size=(40, 30), frames=4, pan=(2, 0), zoom=1.0)
    still = SyntheticClip([np.full((30, 40, 3), 0.4, np.float32)] * 4, clip.flows, clip.masks)
    assert still.input_error() == 0
    rng = np.random.default_rng(0)
    noise = [rng.random((30, 40, 3), dtype=np.float32) for _ in range(4)]
    assert warping_error(noise, clip.flows, clip.masks) > 0.25  # |U - U'| averages 1/3
    assert len(warping_errors(clip.frames, clip.flows, clip.masks)) == 3
    with pytest.raises(ValueError, match="4 frames need 3 flows"):
        warping_error(clip.frames, clip.flows[:2], clip.masks)


def load_video_benchmark():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "video.py"
    spec = importlib.util.spec_from_file_location("video_bench", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_scores_each_model_on_the_pan_clip(tmp_path, capsys):
    from argparse import Namespace

    from doodle import PaintConfig
    from doodle.feedforward.training import TrainSettings, new_stylizer

    for name, stability in (("plain", 0.0), ("steady", 5.0)):
        new_stylizer("content", "style.png", "0" * 64, PHOTO, None, PaintConfig(),
                     TrainSettings(width=4, stability=stability)).save(tmp_path / f"{name}.doodle")
    video = load_video_benchmark()
    video.models(Namespace(clip="pan", size=(32, 24), frames=3, seed=0, out=tmp_path,
                           model=[tmp_path / "plain.doodle", tmp_path / "steady.doodle"]))
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| plain") or
            line.startswith("| steady")]
    assert len(rows) == 2 and rows[1].startswith("| steady.doodle | 5 | 0 |")
    assert (tmp_path / "pan-plain.gif").is_file()


def test_a_doodle_models_noise_carried_along_a_still_clip_paints_the_same_frames():
    import torch

    from doodle import PaintConfig
    from doodle.feedforward.training import TrainSettings, new_stylizer

    stylizer = new_stylizer("doodle", "style.png", "0" * 64, PHOTO, np.array([RED, BLUE], np.uint8), PaintConfig(),
                            TrainSettings(width=4))
    clip = animated_doodle(two_region_map(24, 32), frames=3, shapes=0)
    painted, seconds = load_video_benchmark().moving_noise_paintings(stylizer, clip, seed=0)
    assert len(painted) == 3 and seconds > 0 and warping_error(painted, clip.flows, clip.masks) == 0
    assert torch.equal(torch.from_numpy(painted[0]), torch.from_numpy(stylizer(clip.frames[0], seed=0)))
