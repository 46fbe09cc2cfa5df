"""The example scripts' own inputs: made by code from scikit-image's bundled images, never shipped."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import make_style_sheet  # noqa: E402


def test_style_sheet_inputs_are_made_from_bundled_images():
    strokes = make_style_sheet.stroke_painting(64, 64, strokes=200)
    assert strokes.shape == (64, 64, 3) and strokes.dtype == np.float32
    assert 0 <= strokes.min() and strokes.max() <= 1 and strokes.std() > 0.05  # strokes, not a blank canvas
    cartoon = make_style_sheet.cartoon(96, 144)
    colours = {tuple(c) for c in (cartoon.reshape(-1, 3) * 255).round().astype(int)}
    assert len(colours) == 9  # eight flat shapes and their dark outline: flat colour, no gradients
    assert make_style_sheet.content_photo(128).shape == (85, 128, 3)


def test_sheet_lays_out_rows_of_captioned_tiles():
    tile = np.zeros((10, 16, 3), np.float32)
    picture = make_style_sheet.sheet([[(tile, "a"), (tile, "b")], [(tile, "c")]], (16, 10))
    gap, caption = 6, make_style_sheet.LABEL_HEIGHT
    assert picture.size == (2 * 16 + 3 * gap, 2 * (10 + caption) + 3 * gap)


def test_model_gallery_doodles_use_only_the_models_colours():
    import make_model_gallery

    from doodle.feedforward.models import ModelInfo, Stylizer

    palette = [(255, 255, 255), (0, 0, 255), (255, 51, 31), (0, 255, 0), (192, 0, 0)]
    model = Stylizer(ModelInfo("doodle", {"labels": 5, "width": 4}, palette, {}))
    for doodle in (make_model_gallery.lone_stack(model), make_model_gallery.two_headlands(model)):
        colours = {tuple(int(c) for c in pixel) for pixel in doodle.reshape(-1, 3)}
        assert colours <= set(palette) and len(colours) >= 4
