"""The benchmark script's own logic (its timings are never asserted)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"
spec = importlib.util.spec_from_file_location("bench", SCRIPT)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_overrides_take_the_types_of_the_config():
    parsed = bench.parse_overrides(["--iterations", "30", "--matcher", "exact", "--style-layers", "relu3_1,relu4_1",
                                    "--tolerance", "0"])
    assert parsed == {"iterations": 30, "matcher": "exact", "style_layers": ("relu3_1", "relu4_1"), "tolerance": 0.0}


def test_phase_table_sums_phases_and_uses_the_fresh_style_loss():
    phase = {"size": "8x8", "evaluations": 10, "searches": 6, "seconds": 5.0, "network": 2.0, "matching": 1.0,
             "converged": True, "losses": {"style:relu3_1": 9.0}}
    run = {"model": "vgg16", "precision": "bf16", "matcher": "bf16", "device": "cpu", "phases": [phase, phase],
           "seconds": 10.5, "wall": 12.0, "peak_rss": 2**30, "gpu_peak": None, "score": 0.9,
           "fresh_losses": {"style:relu3_1": 0.25, "style:relu4_1": 0.5, "smoothness": 1.0}}
    table = "\n".join(bench.phase_table("Default", run))
    assert "| all | | 20 | 12 | 10.0 | 4.0 | 2.0 | 4.0 | |" in table
    assert "10 (converged)" in table and "style loss measured afresh (fp32 network, exact search) 0.75" in table
    assert bench.REFERENCE["rematch_every"] == 1 and bench.REFERENCE["search"] == "all"


def test_bad_overrides_are_one_line_exits():
    import pytest

    for words in (["--iterations"], ["--no-such-flag", "1"]):
        with pytest.raises(SystemExit) as stop:
            bench.parse_overrides(words)
        assert "\n" not in str(stop.value.code)


def test_feedforward_benchmark_scores_any_painting_on_one_yardstick(encoder):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "feedforward.py"
    spec = importlib.util.spec_from_file_location("feedforward_bench", script)
    feedforward = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(feedforward)
    import numpy as np

    from .helpers import textured_style

    style, content = textured_style(48, 48), textured_style(48, 48, seed=1)[..., ::-1].copy()
    own = feedforward.yardstick(style, style, content)
    other = feedforward.yardstick(content, style, content)
    assert set(own) == {"style:relu3_1", "style:relu4_1", "content:relu4_2"}
    assert own["style:relu3_1"] < other["style:relu3_1"] and other["content:relu4_2"] < own["content:relu4_2"]
    assert np.isfinite(list(own.values())).all()
