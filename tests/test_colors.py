import numpy as np
from skimage.color import rgb2lab, rgb2yiq

from doodle.colors import _pool, keep_luminance, match_colours

from .helpers import textured_style


def test_keep_luminance_takes_light_from_the_painting_and_hue_from_the_content():
    rng = np.random.default_rng(0)
    painting = rng.uniform(0.3, 0.7, (16, 16, 3)).astype(np.float32)
    content = np.clip(painting[..., ::-1] * 0.9 + 0.05, 0, 1).astype(np.float32)  # other hues, similar light
    kept = keep_luminance(painting, content)
    assert kept.dtype == np.float32 and kept.shape == painting.shape
    assert np.allclose(rgb2yiq(kept)[..., 0], rgb2yiq(painting)[..., 0], atol=0.02)
    assert np.allclose(rgb2yiq(kept)[..., 1:], rgb2yiq(content)[..., 1:], atol=0.02)


def test_match_colours_moves_the_whole_painting_to_the_styles_palette():
    style = textured_style(32, 32)
    grey = np.full((24, 24, 3), 0.5, np.float32) + np.random.default_rng(1).normal(0, 0.05, (24, 24, 3)).astype(np.float32)
    matched = match_colours(np.clip(grey, 0, 1), None, [(style, None)])
    assert np.abs(rgb2lab(matched).reshape(-1, 3).mean(0) - rgb2lab(style).reshape(-1, 3).mean(0)).max() < 3


def test_match_colours_label_by_label_and_leaves_unknown_labels_alone():
    style = textured_style(32, 32)  # orange stripes left (label 0), blue dots right (label 1)
    style_labels = np.zeros((32, 32), int)
    style_labels[:, 16:] = 1
    painting = np.full((20, 30, 3), 0.5, np.float32)
    painting += np.random.default_rng(2).normal(0, 0.05, painting.shape).astype(np.float32)
    painting = np.clip(painting, 0, 1)
    labels = np.zeros((20, 30), int)
    labels[:, 10:20], labels[:, 20:] = 1, 2  # label 2 is in no style
    matched = match_colours(painting, labels, [(style, style_labels)])
    redness = lambda image: float(image[..., 0].mean() - image[..., 2].mean())
    assert redness(matched[:, :10]) > 0.5 and redness(matched[:, 10:20]) < -0.3
    assert np.allclose(matched[:, 20:], painting[:, 20:], atol=0.02)


def test_colour_pool_follows_the_blend_weights():
    many, few = np.zeros((1000, 3)), np.ones((10, 3))
    pooled = _pool([many, few], [0.25, 0.75])
    assert abs(pooled[:, 0].mean() - 0.75) < 0.01  # three quarters from the small set, whatever its size
