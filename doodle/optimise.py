"""One phase of optimisation: L-BFGS (or Adam) on the pixels against a list of weighted loss terms.

`optimise_phase` reports every evaluation to a callback and returns a `PhaseOutcome`: the best
iterate it saw, its losses, and whether Ctrl-C or a loss that is not finite cut the phase short.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from .config import CONVERGENCE_WINDOW, PaintConfig
from .encoder import VGGEncoder
from .losses import WeightedTerm
from .records import PhaseRecord, Progress

LBFGS_HISTORY = 50
# The flag whose weight scales each kind of loss term ('style:relu3_1' -> style), for advice when one overflows.
WEIGHT_FLAGS = {"style": "--style-weight", "gram": "--style-weight", "content": "--content-weight",
                "smoothness": "--smoothness", "temporal": "--temporal-weight"}


def encode(encoder: VGGEncoder, image: torch.Tensor, layers: Iterable[str], precision: str) -> dict[str, torch.Tensor]:
    """Features of `image` at `layers`, as float32 whatever the network ran in.

    Channels-last layout lets oneDNN and cuDNN pick their fastest convolutions (about 20% on CPU);
    bf16 autocast runs the convolutions in bfloat16 (about 2x on CPUs with AVX-512 BF16) while the
    losses, the matching descriptors and L-BFGS stay in float32."""
    device_type = image.device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        features = encoder(image.contiguous(memory_format=torch.channels_last), layers)
    return {name: value.float() for name, value in features.items()}


def converged(history: list[float], tolerance: float, window: int = CONVERGENCE_WINDOW) -> bool:
    """Whether the loss fell by less than `tolerance` (a fraction) over the last `window` evaluations."""
    if tolerance <= 0 or len(history) <= window:
        return False
    before, now = history[-1 - window], history[-1]
    return before - now < tolerance * abs(before)


@dataclass
class BestIterate:
    """The lowest-loss image a phase has evaluated so far."""

    pixels: torch.Tensor
    total: float = float("inf")
    losses: dict[str, float] = field(default_factory=dict)
    evaluation: int = 0  # which evaluation of the phase it was (1 = the phase's starting image); 0 = none yet

    def offer(self, total: float, pixels: torch.Tensor, losses: dict[str, float], evaluation: int = 0) -> None:
        if total < self.total:  # never true for nan or inf: only finite iterates are kept
            self.total, self.pixels, self.losses = total, pixels.detach().clone(), dict(losses)
            self.evaluation = evaluation


class NonFiniteLoss(Exception):
    """Raised inside the closure to end a phase whose loss is no longer a finite number."""

    def __init__(self, evaluation: int, terms: list[str], pixels_finite: bool) -> None:
        super().__init__(f"evaluation {evaluation}: {', '.join(terms)}")
        self.evaluation, self.terms, self.pixels_finite = evaluation, terms, pixels_finite


def non_finite_advice(terms: list[str], pixels_finite: bool, config: PaintConfig) -> str:
    """Which setting most likely made the loss overflow: the weights of the terms that did, or, when
    the pixels themselves went bad, the optimiser's step."""
    if not pixels_finite:
        return f"lower --learning-rate (now {config.step_size:g})" + (
            " or use --optimizer adam" if config.optimizer == "lbfgs" else "")
    flags = dict.fromkeys(WEIGHT_FLAGS.get(name.partition(":")[0], "the weights") for name in terms)
    return "lower " + " or ".join(flags)


@dataclass(frozen=True)
class PhaseOutcome:
    pixels: torch.Tensor  # the best iterate, clamped to [0, 1]; its losses are in the phase's record
    interrupted: bool  # Ctrl-C cut the phase short
    # Set when the loss stopped being a finite number: the phase ended on its best finite iterate.
    non_finite: NonFiniteLoss | None = None
    best_evaluation: int = 0  # the evaluation the pixels come from (1 = the phase's start; 0 = none finite)


def _synchronise(device: torch.device) -> None:
    # CUDA runs asynchronously: without this the network's time would be booked to whatever waits next.
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_optimiser(variable: torch.Tensor, config: PaintConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam([variable], lr=config.step_size)
    # One iteration per step() call, so that the loop can stop on convergence; L-BFGS keeps its
    # history across calls, and without a line search it evaluates the loss once per iteration.
    return torch.optim.LBFGS([variable], lr=config.step_size, max_iter=1, max_eval=1,
                             tolerance_grad=0.0, tolerance_change=0.0, history_size=LBFGS_HISTORY)


def phase_iterations(config: PaintConfig, phase: int, phases: int) -> int:
    """The most evaluations phase `phase` (1-based) of `phases` may take: --iterations, and in the
    finest phase no more than --final-iterations (0: no further limit)."""
    if phase == phases and config.final_iterations:
        return min(config.iterations, config.final_iterations)
    return config.iterations


def optimise_phase(pixels: torch.Tensor, terms: list[WeightedTerm], encoder: VGGEncoder, layers: Iterable[str],
                   config: PaintConfig, precision: str, phase_record: PhaseRecord, phases: int, started: float,
                   callback: Callable[[Progress], None] | None) -> PhaseOutcome:
    """Optimise `pixels` for one phase; `phase_record` is filled in with counts and timings as it goes.

    The result is the image with the lowest loss the phase evaluated: without a line search L-BFGS
    can overshoot on Gram losses (fourth powers of the pixels), and the last step is then not the best."""
    layers = list(layers)
    iterations = phase_iterations(config, phase_record.index, phases)
    variable = pixels.detach().contiguous().clone().requires_grad_(True)
    optimiser = make_optimiser(variable, config)
    phase_started = time.perf_counter()
    last_losses: dict[str, float] = {}
    history: list[float] = []
    best = BestIterate(variable.detach().clone())
    device = variable.device

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        with torch.no_grad():
            # L-BFGS has no bounds; keep pixels displayable so the network never sees impossible colours.
            variable.clamp_(0.0, 1.0)
        network_started = time.perf_counter()
        features = encode(encoder, variable, layers, precision)
        _synchronise(device)
        network_seconds = time.perf_counter() - network_started
        parts = {item.name: item.weight * item.term(variable, features) for item in terms}
        total = sum(parts.values())
        backward_started = time.perf_counter()
        total.backward()
        _synchronise(device)
        phase_record.network_seconds += network_seconds + time.perf_counter() - backward_started
        phase_record.evaluations += 1
        losses = {name: value.item() for name, value in parts.items()}
        if not math.isfinite(sum(losses.values())):  # overflow: nothing after this step is worth keeping
            raise NonFiniteLoss(phase_record.evaluations, [name for name, value in losses.items()
                                                           if not math.isfinite(value)],
                                bool(torch.isfinite(variable).all()))
        last_losses.clear()
        last_losses.update(losses)
        history.append(sum(last_losses.values()))
        best.offer(history[-1], variable, last_losses, phase_record.evaluations)
        if callback is not None:
            callback(Progress(phase_record.index, phases, phase_record.size, phase_record.evaluations,
                              iterations, dict(last_losses), time.perf_counter() - started, variable))
        return total

    interrupted, non_finite = False, None
    try:
        for _ in range(iterations):
            optimiser.step(closure)
            if converged(history, config.tolerance):
                phase_record.converged = True
                break
    except KeyboardInterrupt:
        interrupted = True
    except NonFiniteLoss as stop:
        non_finite = stop
    finally:
        phase_record.seconds = time.perf_counter() - phase_started
        phase_record.match_seconds = sum(item.term.stats.match_seconds for item in terms)
        phase_record.searches = sum(item.term.stats.searches for item in terms)
        phase_record.losses = dict(best.losses or last_losses)
    return PhaseOutcome(best.pixels.clamp(0, 1), interrupted, non_finite, best.evaluation)
