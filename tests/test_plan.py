import pytest
import torch

from doodle import DoodleError, PaintConfig
from doodle.plan import fit_phases, phase_sizes, pick_device, plan_run, resolve_precision, smallest_side
from doodle.terms import label_search


def test_label_search_only_where_it_cannot_change_matches():
    assert label_search(PaintConfig())
    assert not label_search(PaintConfig(search="all"))
    assert not label_search(PaintConfig(semantic_weight=0.5))


def test_phases_double_up_to_the_full_size():
    assert phase_sizes(384, 512, 3) == [(96, 128), (192, 256), (384, 512)]
    assert phase_sizes(5, 7, 4)[0] == (1, 1)  # never below one pixel


def test_phases_are_dropped_until_the_images_fit():
    layers = ["relu3_1", "relu4_1"]
    assert smallest_side(layers, 1) == 24 and smallest_side(layers, 3) == 96
    assert fit_phases([("style", 200), ("doodle", 120)], layers, 3) == (3, [])
    count, notes = fit_phases([("style", 200), ("doodle", 50)], layers, 3)
    assert count == 2 and "using 2" in notes[0]
    with pytest.raises(DoodleError, match="doodle: its short side is 20 px .*; use a larger image or --size,"):
        fit_phases([("style", 200), ("doodle", 20)], layers, 3)


def test_a_too_small_style_is_told_what_enlarges_a_style():
    # A 2x2 style was told to use "a larger image or --size": --size does not enlarge a texture's style.
    layers = ["relu3_1", "relu4_1"]
    with pytest.raises(DoodleError, match="^tiny.png: its short side is 2 px at its working size .*; use a larger "
                                          "style image or a --style-scale above 1, or shallower --style-layers$"):
        fit_phases([("tiny.png", 2), ("--size 64x64", 64)], layers, 1)
    with pytest.raises(DoodleError, match="^--size 16x16: its short side is 16 px .*; use a larger --size,"):
        fit_phases([("style.png", 200), ("--size 16x16", 16)], layers, 1)


def test_auto_precision_is_bf16_only_where_it_is_native(monkeypatch):
    for native in (False, True):
        monkeypatch.setattr("doodle.plan.fast_bfloat16", lambda device, native=native: native)
        assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if native else "fp32")
        assert resolve_precision("fp32", torch.device("cpu")) == "fp32"


def test_asking_for_a_missing_gpu_says_what_to_use(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    with pytest.raises(DoodleError, match="--device cpu"):
        pick_device("cuda")


def test_a_plan_is_made_from_sizes_before_any_tensor(monkeypatch):
    from doodle.inputs import prepare_inputs

    from .helpers import textured_style, two_region_map

    monkeypatch.setattr("doodle.memory.available_memory", lambda device: 64 * 2**30)
    notes = []
    config = PaintConfig(phases=3, device="cpu", matcher="exact", precision="fp32", style_rotations=(90,))
    inputs = prepare_inputs(textured_style(64, 64), two_region_map(64, 64), None, None, two_region_map(64, 64), None,
                            config, notes.extend)
    plan = plan_run(inputs, config, notes.extend)
    assert plan.phases == 2 and "using 2" in notes[0]  # 64 px is small for three phases
    assert plan.phase_sizes == [(32, 32), (64, 64)] and plan.layers == ("relu3_1", "relu4_1")
    assert (plan.matcher, plan.precision, plan.device) == ("exact", "fp32", torch.device("cpu"))
    assert plan.estimated_bytes > 0 and plan.summary((64, 64)).startswith("64x64 on cpu, fp32 network, exact search")
    monkeypatch.setattr("doodle.memory.available_memory", lambda device: 1024)
    with pytest.raises(DoodleError, match="MiB is free"):
        plan_run(inputs, config, notes.extend)


def test_a_run_that_cannot_fit_is_refused_naming_what_costs_most(monkeypatch):
    from doodle.inputs import working_sizes
    from doodle.plan import check_fits

    monkeypatch.setattr("doodle.memory.available_memory", lambda device: 2**30)
    config = PaintConfig(device="cpu")
    check_fits(working_sizes([(64, 64)], ["small.jpg"], None, "c", (64, 64), "doodle.png", None, config), config, False)
    huge_style = working_sizes([(9000, 12000)], ["wide.png"], None, "c", (384, 512), "doodle.png", (512, 384), config)
    with pytest.raises(DoodleError, match=r"^wide.png \(worked at 12000x9000\): .*--style-scale below 1"):
        check_fits(huge_style, config, False)
    huge_size = working_sizes([(96, 128)], ["monet.jpg"], None, "c", None, "m", (30000, 22500), config)
    with pytest.raises(DoodleError, match=r"^--size 30000x22500 .*use a smaller --size"):
        check_fits(huge_size, config, False)


def test_a_style_grown_by_size_is_blamed_on_the_size(monkeypatch):
    from doodle.inputs import working_sizes
    from doodle.plan import check_fits

    monkeypatch.setattr("doodle.memory.available_memory", lambda device: 2**30)
    config = PaintConfig(device="cpu")
    grown = working_sizes([(384, 512)], ["monet.jpg"], (2, 2), "tiny.png", None, "m", (256, 256), config)
    with pytest.raises(DoodleError, match=r"^monet.jpg \(worked at 65536x49152\): .*a smaller --size \(the style"):
        check_fits(grown, config, True)
