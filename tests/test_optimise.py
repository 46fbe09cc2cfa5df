import pytest
import torch

from doodle.optimise import BestIterate, converged, encode


def test_encode_returns_float32_whatever_the_precision(encoder):
    image = torch.rand(1, 3, 32, 32)
    fp32 = encode(encoder, image, ["relu3_1"], "fp32")["relu3_1"]
    bf16 = encode(encoder, image, ["relu3_1"], "bf16")["relu3_1"]
    assert fp32.dtype == bf16.dtype == torch.float32
    assert torch.allclose(fp32, bf16, rtol=0.1, atol=0.05 * fp32.abs().max().item())


def test_convergence_needs_a_full_window_and_a_small_fall():
    assert not converged([1.0] * 10, 0.5)  # too few evaluations to judge
    assert converged([1.0] * 11, 0.01) and not converged([2.0] + [1.0] * 10, 0.01)
    assert not converged([1.0] * 11, 0.0)  # tolerance 0: never stop early


def test_best_iterate_keeps_the_lowest_loss_and_copies_it():
    pixels = torch.zeros(1, 3, 2, 2)
    best = BestIterate(pixels.clone())
    best.offer(2.0, pixels, {"a": 2.0})
    pixels += 1  # the optimiser moves on in place; the kept iterate must not
    best.offer(3.0, pixels, {"a": 3.0})
    assert best.total == 2.0 and best.losses == {"a": 2.0} and best.pixels.max() == 0


class Quadratic:
    """A loss term with a known minimum: the pixels pulled toward 0.25."""

    layer = None

    def __init__(self):
        from doodle.losses import TermStats

        self.stats = TermStats()

    def __call__(self, image, features):
        return (image - 0.25).pow(2).mean()


def identity_encoder(image, layers):
    return {}


def test_a_phase_returns_its_best_iterate_and_fills_its_record():
    from doodle import PaintConfig
    from doodle.losses import WeightedTerm
    from doodle.optimise import optimise_phase
    from doodle.records import PhaseRecord

    record, seen = PhaseRecord(1, (4, 4)), []
    config = PaintConfig(iterations=8, optimizer="adam", learning_rate=0.05, tolerance=0)
    outcome = optimise_phase(torch.ones(1, 3, 4, 4), [WeightedTerm("quadratic", 1.0, Quadratic())], identity_encoder,
                             [], config, "fp32", record, 1, 0.0, seen.append)
    assert not outcome.interrupted and record.evaluations == 8 == len(seen)
    assert record.losses["quadratic"] == min(event.total for event in seen)
    assert (outcome.pixels - 0.25).pow(2).mean().item() == pytest.approx(record.losses["quadratic"])


def test_ctrl_c_ends_the_phase_with_the_best_so_far():
    from doodle import PaintConfig
    from doodle.losses import WeightedTerm
    from doodle.optimise import optimise_phase
    from doodle.records import PhaseRecord

    def stop_at_third(event):
        if event.evaluation == 3:
            raise KeyboardInterrupt

    record = PhaseRecord(1, (4, 4))
    outcome = optimise_phase(torch.ones(1, 3, 4, 4), [WeightedTerm("quadratic", 1.0, Quadratic())], identity_encoder,
                             [], PaintConfig(iterations=50, optimizer="adam"), "fp32", record, 1, 0.0, stop_at_third)
    assert outcome.interrupted and record.evaluations == 3 and record.seconds > 0


class TurnsNan(Quadratic):
    """The quadratic, until its `after`-th evaluation: from then on nan, as an overflowing loss would be."""

    def __init__(self, after):
        super().__init__()
        self.after, self.calls = after, 0

    def __call__(self, image, features):
        self.calls += 1
        value = super().__call__(image, features)
        return value * float("nan") if self.calls > self.after else value


def test_a_loss_that_turns_nan_ends_the_phase_on_its_best_finite_iterate():
    from doodle import PaintConfig
    from doodle.losses import WeightedTerm
    from doodle.optimise import optimise_phase
    from doodle.records import PhaseRecord

    record, seen = PhaseRecord(1, (4, 4)), []
    config = PaintConfig(iterations=20, optimizer="adam", learning_rate=0.05, tolerance=0)
    outcome = optimise_phase(torch.ones(1, 3, 4, 4), [WeightedTerm("smoothness", 1.0, TurnsNan(after=3))],
                             identity_encoder, [], config, "fp32", record, 1, 0.0, seen.append)
    stop = outcome.non_finite
    assert stop is not None and stop.evaluation == 4 and stop.terms == ["smoothness"] and stop.pixels_finite
    assert len(seen) == 3 and record.evaluations == 4  # the nan evaluation is never reported as progress
    assert outcome.best_evaluation == 3 and torch.isfinite(outcome.pixels).all()
    assert record.losses["smoothness"] == pytest.approx(seen[-1].total)
    assert (outcome.pixels - 0.25).pow(2).mean().item() == pytest.approx(record.losses["smoothness"])


def test_non_finite_advice_names_the_weight_or_the_step():
    from doodle import PaintConfig
    from doodle.optimise import non_finite_advice

    config = PaintConfig()
    assert non_finite_advice(["style:relu3_1", "gram:relu4_1"], True, config) == "lower --style-weight"
    assert non_finite_advice(["content:relu4_2", "smoothness"], True, config) == \
        "lower --content-weight or --smoothness"
    # pixels gone bad: the step overshot, whatever the terms say
    assert non_finite_advice(["style:relu3_1"], False, config) == \
        "lower --learning-rate (now 1) or use --optimizer adam"
