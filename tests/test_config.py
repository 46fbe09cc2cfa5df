from dataclasses import MISSING, fields

import pytest

from doodle import PaintConfig
from doodle.config import RULES, choices_of, default_of, help_of, limits_of, parse_weighted, preset_config
from doodle.errors import ConfigError, DoodleError


@pytest.mark.parametrize("changes, message", [
    ({"matcher": "fast"}, "--matcher"), ({"search": "some"}, "--search"), ({"precision": "fp16"}, "--precision"),
    ({"rematch_every": -1}, "--rematch-every"), ({"tolerance": -0.1}, "--tolerance"),
    ({"tolerance": 1.0}, "--tolerance"),
    ({"iterations": 0}, "--iterations"),
])
def test_bad_values_name_their_flag(changes, message):
    with pytest.raises(ValueError, match=message):
        PaintConfig(**changes)


def test_every_field_has_a_default_and_help():
    for spec in fields(PaintConfig):
        assert spec.default is not MISSING and default_of(spec.name) == spec.default, spec.name
        assert help_of(spec.name).strip(), f"{spec.name} has no help text"
        assert set(spec.metadata) <= set(RULES), f"{spec.name}: unknown rules {set(spec.metadata) - set(RULES)}"
        choices = choices_of(spec.name)
        if choices is not None:
            assert spec.default in choices, f"{spec.name}: default {spec.default!r} is not among {choices}"
    assert choices_of("matcher") == ("auto", "exact", "bf16", "faiss", "patchmatch")
    assert choices_of("phases") is None and choices_of("init") is None  # --init also takes a path
    assert PaintConfig().with_overrides(tolerance=None, rematch_every=2).rematch_every == 2
    with pytest.raises(KeyError, match="no setting"):
        help_of("colour")


FIELDS_WITH_CHOICES = [spec.name for spec in fields(PaintConfig) if choices_of(spec.name)]


def test_the_fields_with_choices_are_the_expected_ones():
    assert set(FIELDS_WITH_CHOICES) == {"optimizer", "colors", "model", "pooling", "matcher", "search", "precision",
                                        "device"}


@pytest.mark.parametrize("name", FIELDS_WITH_CHOICES)
def test_a_value_outside_the_choices_is_rejected_naming_its_flag(name):
    flag = "--" + name.replace("_", "-")
    with pytest.raises(ConfigError) as caught:
        PaintConfig(**{name: "no-such-value"})
    assert str(caught.value).startswith(flag + " must be"), str(caught.value)
    for choice in choices_of(name):  # and every listed choice is accepted
        assert getattr(PaintConfig(**{name: choice}), name) == choice


def test_bounds_read_in_words_and_reject_what_they_say():
    assert limits_of("phases") == "must be between 1 and 16"
    assert limits_of("tolerance") == "must be at least 0 and below 1"
    assert limits_of("init_noise") == "must be between 0 and 1"
    assert limits_of("rematch_every") == "must not be negative"
    assert limits_of("seed") == "must be between 0 and 18446744073709551615"
    assert limits_of("matcher") is None
    for name in ("phases", "iterations", "rematch_every", "memory_budget_mb", "slices", "tolerance", "init_noise",
                 "style_weight", "content_weight", "smoothness", "semantic_weight", "variety", "learning_rate",
                 "style_scale"):
        with pytest.raises(ConfigError, match="--" + name.replace("_", "-")):
            PaintConfig(**{name: -1})


def test_several_problems_come_in_one_message_each_said_once():
    with pytest.raises(ConfigError) as caught:
        PaintConfig(phases=0, matcher="fast", style_scale=0, style_scales=(0,))
    assert str(caught.value).split("; ") == ["--phases must be between 1 and 16",
                                             "--style-scale and --style-scales must be above 0 and at most 100",
                                             "--matcher must be one of auto, exact, bf16, faiss, patchmatch"]


def test_a_number_where_text_belongs_is_a_config_error_too():
    with pytest.raises(ConfigError, match="--iterations must be a number"):
        PaintConfig(iterations="many")


def test_config_errors_are_doodle_errors_and_value_errors():
    assert issubclass(ConfigError, DoodleError) and issubclass(ConfigError, ValueError)
    with pytest.raises(DoodleError, match="--matcher"):
        PaintConfig(matcher="fast")
    with pytest.raises(DoodleError, match="doodle presets"):
        preset_config("cubist")
    with pytest.raises(DoodleError, match="NAME:WEIGHT"):
        parse_weighted(["relu3_1:x"], "--style-layers")


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


def test_the_configuration_imports_no_torch():
    """The CLI reads its options from here and must start fast: torch comes with the engine only."""
    import subprocess
    import sys

    code = "import sys, doodle.config, doodle.errors; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("name, value, words", [
    # 1e300 passed the finite check but is inf in float32: every loss was nan and the output the start.
    ("style_weight", 1e300, "--style-weight must be between 0 and 1e+12"),
    ("content_weight", 1e13, "--content-weight must be between 0 and 1e+12"),
    ("smoothness", 1e13, "--smoothness must be between 0 and 1e+12"),
    ("semantic_weight", 1e20, "--semantic-weight must be between 0 and 100"),
    ("variety", 1e300, "--variety must be between 0 and 100"),
    ("learning_rate", 1e30, "--learning-rate must be between 0 and 100"),
    ("style_scale", 1e308, "--style-scale and --style-scales must be above 0 and at most 100"),
    ("style_scales", (2.0, 1e308), "--style-scale and --style-scales must be above 0 and at most 100"),
    ("style_rotations", (15.0, 1e300), "--style-rotations must be between -360 and 360"),
    ("style_blend", (1.0, 1e300), "--style-blend weights must be between 0 and 1e+12"),
    ("style_loss", ("patch:1e300",), "--style-loss 'patch:1e300': weights must be finite, between 0 and 1e+12"),
    ("style_layers", ("relu3_1:1e13",), "--style-layers 'relu3_1:1e13': weights must be finite, between 0 and 1e+12"),
    # a seed beyond 64 bits was a traceback from torch.Generator.manual_seed (Overflow when unpacking long long)
    ("seed", 2**64, "--seed must be between 0 and 18446744073709551615"),
    ("seed", -1, "--seed must be between 0"),
    ("phases", 10**6, "--phases must be between 1 and 16"),  # phase sizes overflowed floats past 1024
    ("iterations", 10**30, "--iterations must be between 1 and 100000"),
    ("memory_budget_mb", 2**40, "--memory-budget-mb must be between 16 and 1048576"),
    ("slices", 2**40, "--slices must be between 0 and 65536"),
])
def test_values_past_what_float32_or_the_engine_holds_are_one_line_errors(name, value, words):
    with pytest.raises(ConfigError) as caught:
        PaintConfig(**{name: value})
    assert str(caught.value) == words or str(caught.value).startswith(words), str(caught.value)


def test_the_largest_allowed_values_are_accepted():
    PaintConfig(style_weight=1e12, content_weight=1e12, smoothness=1e12, semantic_weight=100, variety=100,
                learning_rate=100, style_scale=100, style_rotations=(-360, 360), seed=2**64 - 1, phases=16,
                iterations=100_000, style_loss=("patch:1e12",))
