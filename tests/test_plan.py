import pytest

from doodle import DoodleError, PaintConfig
import torch

from doodle.plan import fit_phases, label_search, phase_sizes, pick_device, resolve_precision, smallest_side


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
    with pytest.raises(DoodleError, match="doodle: its short side is 20 px"):
        fit_phases([("style", 200), ("doodle", 20)], layers, 3)


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
