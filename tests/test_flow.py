import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from doodle.video.flow import (
    consistency_mask,
    estimate_flow,
    flow_and_mask,
    grey_uint8,
    shift_flow,
    warp,
    zoom_flow,
)


def smooth_texture(height: int, width: int, seed: int = 0, blur: float = 1.5) -> np.ndarray:
    """Blurred noise, stretched to [0, 1]: texture everywhere, which optical flow needs."""
    noise = gaussian_filter(np.random.default_rng(seed).random((height, width, 3)), (blur, blur, 0))
    return ((noise - noise.min()) / (noise.max() - noise.min())).astype(np.float32)


def moving_square(height=96, width=128, step=6, seed=0):
    """A textured square moving right by `step` pixels over a still textured background: the previous
    and current frames, and where the square's left edge was and is."""
    background = smooth_texture(height, width, seed, blur=2)
    square = smooth_texture(32, 32, seed + 1, blur=1)
    previous, current = background.copy(), background.copy()
    previous[32:64, 40:72] = square
    current[32:64, 40 + step:72 + step] = square
    return previous, current


def test_warp_by_an_integer_shift_is_exact_away_from_the_border():
    image = np.random.default_rng(0).random((20, 30, 3)).astype(np.float32)
    moved = warp(image, shift_flow(20, 30, 3, -2))  # content slides 3 right and 2 up
    assert moved.shape == image.shape and moved.dtype == np.float32
    assert np.array_equal(moved[:-2, 3:], image[2:, :-3])
    # the uncovered strip repeats the border pixels
    assert np.array_equal(moved[:-2, 0], image[2:, 0]) and np.array_equal(moved[-1], moved[-3])


def test_warp_takes_greyscale_many_channels_and_bytes():
    image = np.random.default_rng(1).random((12, 16, 5)).astype(np.float32)
    flow = shift_flow(12, 16, 1, 1)
    assert np.array_equal(warp(image, flow)[1:, 1:], image[:-1, :-1])
    assert np.array_equal(warp(image[..., 0], flow)[1:, 1:], image[:-1, :-1, 0])
    assert warp(image[..., :1], flow).shape == (12, 16, 1)
    as_bytes = (image[..., :3] * 255).astype(np.uint8)
    assert np.array_equal(warp(as_bytes, flow)[1:, 1:], as_bytes[:-1, :-1].astype(np.float32))


def test_warp_is_bilinear_between_pixels():
    image = np.random.default_rng(2).random((10, 10)).astype(np.float32)
    half = warp(image, shift_flow(10, 10, -0.5, 0))  # reads halfway between columns x and x + 1
    assert np.allclose(half[:, :-1], (image[:, :-1] + image[:, 1:]) / 2, atol=1e-6)


def test_warp_refuses_a_flow_of_another_size():
    with pytest.raises(ValueError, match="10x10x2"):
        warp(np.zeros((10, 10, 3), np.float32), shift_flow(10, 12, 1, 0))


def test_dis_recovers_a_known_shift_in_the_warp_convention():
    source = smooth_texture(96, 128)
    true = shift_flow(96, 128, 3.0, 1.5)
    target = warp(source, true)
    flow = estimate_flow(source, target)
    assert flow.shape == (96, 128, 2) and flow.dtype == np.float32
    error = np.linalg.norm(flow - true, axis=-1)[8:-8, 8:-8]
    assert np.median(error) < 0.5
    # the convention: warping the source by the estimate gives the target
    assert np.abs(warp(source, flow) - target)[8:-8, 8:-8].mean() < 0.2 * np.abs(source - target)[8:-8, 8:-8].mean()
    assert np.median(np.linalg.norm(estimate_flow(source, target, "fast") - true, axis=-1)[8:-8, 8:-8]) < 0.5


def test_estimate_flow_refuses_frames_of_different_sizes_and_unknown_presets():
    with pytest.raises(ValueError, match="different sizes"):
        estimate_flow(np.zeros((10, 10, 3)), np.zeros((10, 12, 3)))
    with pytest.raises(ValueError, match="preset"):
        estimate_flow(np.zeros((10, 10, 3)), np.zeros((10, 10, 3)), "ultra")


def test_grey_uint8_rounds_floats_and_keeps_bytes():
    assert grey_uint8(np.full((2, 2), 0.5, np.float32)).tolist() == [[128, 128], [128, 128]]
    assert grey_uint8(np.full((2, 2, 3), 255, np.uint8)).dtype == np.uint8
    with pytest.raises(ValueError, match="HxWx3"):
        grey_uint8(np.zeros((2, 2, 4), np.float32))


def test_mask_marks_the_strip_a_shift_uncovers_and_nothing_else():
    backward = shift_flow(24, 32, 3, 2)  # current <- previous: content moved 3 right, 2 down
    forward = shift_flow(24, 32, -3, -2)  # previous -> current
    mask = consistency_mask(forward, backward)
    assert mask.shape == (24, 32) and mask.dtype == np.float32
    expected = np.ones((24, 32), np.float32)
    expected[:2], expected[:, :3] = 0, 0  # the top rows and left columns came from outside the frame
    assert np.array_equal(mask, expected)


def test_mask_marks_what_a_moving_square_uncovers_with_exact_flows():
    backward = np.zeros((40, 60, 2), np.float32)
    backward[10:30, 25:45] = (-5, 0)  # the square, now at columns 25..44, was 5 columns left
    forward = np.zeros((40, 60, 2), np.float32)
    forward[10:30, 20:40] = (5, 0)  # on the previous frame's grid the square was at 20..39
    mask = consistency_mask(forward, backward)
    expected = np.ones((40, 60), np.float32)
    expected[10:30, 20:25] = 0  # background the square uncovered: hidden behind it in the previous frame
    assert np.array_equal(mask, expected)


def test_mask_from_dis_finds_most_of_a_moving_squares_trail():
    previous, current = moving_square(step=6)
    flow, mask = flow_and_mask(previous, current)
    trail = mask[34:62, 41:45]  # uncovered background (columns 40..45), a pixel in from its edges
    assert 1 - trail.mean() > 0.5
    assert mask[4:28].mean() > 0.95 and mask[70:92].mean() > 0.95  # still background far from the square
    assert mask[36:60, 54:74].mean() > 0.95  # the square's inside, moved consistently
    assert np.median(np.abs(flow[36:60, 54:74, 0] + 6)) < 0.5


def test_zoom_flow_magnifies_about_the_centre_and_its_inverse_is_consistent():
    flow = zoom_flow(31, 41, 2.0)
    assert np.array_equal(flow[15, 20], [0, 0])  # the centre stays put
    assert np.allclose(flow[15, 40], [-10, 0])  # the right edge reads from halfway to the centre
    zoom_in = consistency_mask(zoom_flow(31, 41, 1 / 1.1), zoom_flow(31, 41, 1.1))
    assert zoom_in.all()  # zooming in, every pixel was visible before
    zoom_out = consistency_mask(zoom_flow(31, 41, 1.1), zoom_flow(31, 41, 1 / 1.1))
    assert zoom_out[15, 20] == 1 and zoom_out[0, 0] == 0 and zoom_out[15, 0] == 0  # the rim came from outside
    with pytest.raises(ValueError, match="positive"):
        zoom_flow(4, 4, 0)
