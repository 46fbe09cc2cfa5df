import pytest

from doodle import PaintConfig
from doodle.config import default_of, help_of


@pytest.mark.parametrize("changes, message", [
    ({"matcher": "fast"}, "--matcher"), ({"search": "some"}, "--search"), ({"precision": "fp16"}, "--precision"),
    ({"rematch_every": 0}, "--rematch-every"), ({"tolerance": -0.1}, "--tolerance"), ({"tolerance": 1.0}, "--tolerance"),
    ({"iterations": 0}, "--iterations"),
])
def test_bad_values_name_their_flag(changes, message):
    with pytest.raises(ValueError, match=message):
        PaintConfig(**changes)


def test_every_field_has_a_default_and_help():
    for name in ("matcher", "search", "rematch_every", "precision", "tolerance"):
        assert default_of(name) is not None and help_of(name)
    assert PaintConfig().with_overrides(tolerance=None, rematch_every=2).rematch_every == 2


@pytest.mark.parametrize("changes, message", [
    ({"style_loss": ("texture",)}, "--style-loss"), ({"style_loss": ("gram:0",)}, "--style-loss"),
    ({"style_layers": ("relu3_1:x",)}, "--style-layers"), ({"style_layers": ("relu3_1:0",)}, "--style-layers"),
    ({"optimizer": "sgd"}, "--optimizer"), ({"colors": "sepia"}, "--colors"), ({"learning_rate": -1}, "--learning-rate"),
    ({"init_noise": 1.5}, "--init-noise"), ({"init_noise": 0.5}, "--init content"),
    ({"style_blend": (1, -1)}, "--style-blend"), ({"style_blend": (0, 0)}, "--style-blend"),
    ({"style_blend": "0.5,x"}, "--style-blend"), ({"style_scale": 0}, "--style-scale"), ({"style_scales": (2, 0)}, "--style-scale"),
    ({"style_blend": (float("inf"), 1)}, "--style-blend"), ({"style_rotations": (float("nan"),)}, "--style-rotations"),
    ({"learning_rate": float("nan")}, "--learning-rate"), ({"style_layers": ("relu3_1:inf",)}, "finite"),
    ({"style_scale": float("inf")}, "--style-scale"), ({"style_weight": float("nan")}, "--style-weight"),
])
def test_bad_style_control_values_name_their_flag(changes, message):
    with pytest.raises(ValueError, match=message):
        PaintConfig(**changes)


def test_layer_weights_are_relative_and_zero_drops_a_layer():
    config = PaintConfig(style_layers="relu1_1:0,relu2_1:5,relu3_1:15")
    assert config.weighted_style_layers == [("relu2_1", 0.25), ("relu3_1", 0.75)]
    assert config.style_layer_names == ("relu2_1", "relu3_1")
    assert PaintConfig().weighted_style_layers == [("relu3_1", 0.5), ("relu4_1", 0.5)]
    assert PaintConfig(style_loss="patch:1,gram:0.5").style_loss_weights == {"patch": 1.0, "gram": 0.5}
    assert PaintConfig(style_blend="0.7,0.3").style_blend == (0.7, 0.3)


def test_step_size_defaults_per_optimiser():
    assert PaintConfig().step_size == 1.0
    assert PaintConfig(optimizer="adam").step_size == 0.02
    assert PaintConfig(optimizer="adam", learning_rate=0.1).step_size == 0.1


def test_presets_are_data_and_flags_override_them():
    from doodle.config import preset_config, presets

    found = presets()
    assert {"doodle", "portrait", "painterly", "flat"} <= set(found)
    for name in found:  # every preset makes a valid config
        assert isinstance(preset_config(name), PaintConfig) and found[name].description
    painterly = preset_config("painterly")
    assert painterly.style_loss_weights == {"gram": 1.0}
    assert [round(w * 10, 6) for _, w in painterly.weighted_style_layers] == [0.5, 1, 1.5, 3, 4]
    flat = preset_config("flat")
    assert flat.style_layer_names == ("relu2_1", "relu3_1") and flat.style_weight < flat.content_weight
    assert 400 <= flat.iterations * flat.phases <= 600
    assert preset_config("flat", style_weight=0.2, iterations=None).style_weight == 0.2
    assert preset_config("doodle") == PaintConfig()
    with pytest.raises(ValueError, match="doodle presets"):
        preset_config("cubist")
