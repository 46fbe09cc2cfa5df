"""The first stage of a run on its own: what `prepare_inputs` decides from what `paint` was given."""

import numpy as np
import pytest

from doodle import DoodleError, PaintConfig
from doodle.inputs import mode_of, prepare_inputs

from .helpers import BLUE, RED, textured_style, two_region_map


def prepare(style, style_map=None, content=None, content_map=None, target_map=None, size=None, **settings):
    notes = []
    inputs = prepare_inputs(style, style_map, content, content_map, target_map, size, PaintConfig(**settings),
                            notes.extend)
    return inputs, notes


def test_modes_follow_what_is_given():
    assert [mode_of(c, m) for c, m in ((None, "m"), ("c", "m"), ("c", None), (None, None))] == \
        ["doodle", "semantic", "style", "texture"]


def test_a_doodle_sets_the_size_and_scales_the_style_with_it():
    style, style_map = textured_style(48, 64), two_region_map(48, 64)
    inputs, notes = prepare(style, style_map, target_map=two_region_map(24, 32, BLUE, RED))
    assert inputs.mode == "doodle" and inputs.out_hw == (24, 32) and notes == []
    assert inputs.style_hws == [(48, 64)]  # the doodle's own size: the style keeps its scale
    doubled, _ = prepare(style, style_map, target_map=two_region_map(24, 32), size=(64, 48))
    assert doubled.out_hw == (48, 64) and doubled.style_hws == [(96, 128)]  # doodle grown 2x, so is the style
    scaled, _ = prepare(style, style_map, target_map=two_region_map(24, 32), style_scale=0.5)
    assert scaled.style_hws == [(24, 32)] and "--style-scale 0.5" in scaled.sides[0][0]


def test_a_texture_keeps_the_styles_scale_whatever_its_size():
    inputs, _ = prepare(textured_style(48, 48), size=(100, 30))
    assert inputs.mode == "texture" and inputs.out_hw == (30, 100) and inputs.style_hws == [(48, 48)]
    assert inputs.sides[-1] == ("--size 100x30", 30)


def test_maps_are_labelled_together_with_the_doodle_last():
    inputs, _ = prepare(textured_style(48, 48), two_region_map(48, 48), target_map=two_region_map(24, 24, BLUE, RED))
    assert inputs.with_maps and inputs.labelling.count == 2 and len(inputs.labelling.labels) == 2
    assert inputs.labelling.labels[-1].shape == (24, 24)


def test_blend_weights_are_normalised_and_zero_weights_left_out_with_a_note():
    style = textured_style(32, 32)
    inputs, notes = prepare([style, style, style], size=(32, 32), style_blend=(3, 0, 1))
    assert inputs.weights == [0.75, 0.25] and inputs.style_names == ["style 1", "style 3"]
    assert notes == ["style 2: blend weight 0, left out"]


@pytest.mark.parametrize("arguments, message", [
    (dict(style=[]), "at least one style"),
    (dict(target_map=two_region_map(48, 48)), "one side only"),
    (dict(content=textured_style(48, 48), target_map=two_region_map(48, 48), style_map=two_region_map(48, 48)),
     "content_map"),
    (dict(content=textured_style(40, 48), size=(96, 48)), "aspect"),
    (dict(style_map=two_region_map(48, 96), target_map=two_region_map(48, 48)), "aspect"),
    (dict(init="content", size=(48, 48)), "--init content needs"),
    (dict(colors="original", size=(48, 48)), "--colors original"),
])
def test_inconsistent_inputs_are_refused(arguments, message):
    arguments = {"style": textured_style(48, 48), **arguments}
    with pytest.raises(DoodleError, match=message):
        prepare(**arguments)


def test_uint8_and_float_arrays_load_alike():
    style = textured_style(32, 32)
    as_bytes = np.round(style * 255).astype(np.uint8)
    from_bytes, _ = prepare(as_bytes, size=(32, 32))
    assert from_bytes.styles[0].dtype == np.float32
    assert np.allclose(from_bytes.styles[0], as_bytes / 255.0)


def test_working_sizes_come_from_shapes_alone():
    from doodle.inputs import working_sizes

    sizes = working_sizes([(48, 64)], ["monet.jpg"], None, "content", (24, 32), "doodle.png", (64, 48),
                          PaintConfig(style_scale=2))
    assert sizes.out_hw == (48, 64) and sizes.style_hws == [(192, 256)]  # grown 2x with the doodle, 2x by the flag
    assert sizes.names == ["monet.jpg at --style-scale 2", "--size 64x48"]
    with pytest.raises(DoodleError, match="--size 64x64"):  # a doodle keeps its proportions
        working_sizes([(48, 64)], ["monet.jpg"], None, "content", (24, 32), "doodle.png", (64, 64), PaintConfig())


def test_planned_sizes_read_headers_only(tmp_path, monkeypatch):
    """A huge picture's size is known from its header: nothing is decoded to plan the run."""
    from PIL import Image

    from doodle.inputs import planned_sizes

    big = tmp_path / "big.png"
    Image.new("RGB", (4000, 3000), (90, 60, 30)).save(big)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", lambda self: pytest.fail("decoded a picture to plan sizes"))
    sizes = planned_sizes([np.zeros((10, 10, 3), np.uint8), big], None, None, two_region_map(30, 40), None,
                          PaintConfig(style_blend=(0, 1)))
    assert sizes.out_hw == (30, 40) and sizes.style_hws == [(3000, 4000)]  # the style with weight 0 is left out
    assert sizes.names[0] == str(big)
