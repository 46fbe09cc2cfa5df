import pytest

import doodle.memory as memory
from doodle import DoodleError, PaintConfig, paint

FAST = PaintConfig(phases=1, iterations=6)


def test_memory_estimate_grows_with_size():
    config = PaintConfig()
    layers = ["relu3_1", "relu4_1"]
    small = memory.estimate_bytes((384, 512), (384, 512), 5, config, layers)
    large = memory.estimate_bytes((768, 1024), (768, 1024), 5, config, layers)
    assert 3 * small < large


def test_memory_estimate_counts_slices():
    config = PaintConfig(matcher="bf16")  # an exact search, which scores a block at a time
    one_block = memory.estimate_bytes((768, 1024), (768, 1024), 5, config.with_overrides(slices=1),
                                      ["relu3_1", "relu4_1"])
    budgeted = memory.estimate_bytes((768, 1024), (768, 1024), 5, config, ["relu3_1", "relu4_1"])
    assert one_block > budgeted + 2**30  # one block of 48k x 48k scores is far over the 512 MiB budget


def test_memory_estimate_refuses_hopeless_runs(encoder, style_pair, monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda device: 1024)
    style, _ = style_pair
    with pytest.raises(DoodleError, match="--size"):
        paint(style, size=(48, 48), config=FAST, encoder=encoder)


def test_propagation_search_needs_far_less_than_the_exact_search():
    layers = ["relu3_1", "relu4_1"]
    exact = memory.estimate_bytes((768, 1024), (768, 1024), 5, PaintConfig(matcher="bf16"), layers)
    propagation = memory.estimate_bytes((768, 1024), (768, 1024), 5, PaintConfig(matcher="patchmatch"), layers)
    assert propagation < exact - 2**29
    assert memory.estimate_bytes((768, 1024), (768, 1024), 5, PaintConfig(), layers) == propagation  # auto


def test_the_estimate_follows_the_networks_arithmetic_and_the_first_exact_search():
    layers = ["relu3_1", "relu4_1"]
    config = PaintConfig()
    half = memory.estimate_bytes((768, 1024), (768, 1024), 5, config, layers, "bf16")
    assert half < memory.estimate_bytes((768, 1024), (768, 1024), 5, config, layers, "fp32")
    # With one phase nothing seeds the fields: the exact first search runs at the full size.
    assert memory.estimate_bytes((768, 1024), (768, 1024), 5, config, layers, "bf16", phases=1) > half + 2**30
    # L-BFGS keeps 2 x 50 image-sized vectors: at 2048x1536 alone that is 3.5 GiB; Adam two.
    assert memory.optimiser_bytes((1536, 2048)) > 3.5 * 2**30 > 5 * memory.optimiser_bytes((1536, 2048), "adam")
