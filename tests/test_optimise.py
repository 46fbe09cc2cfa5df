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
