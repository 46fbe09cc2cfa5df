"""The second stage of a run: plan it from the checked inputs and settings, before any tensor exists.

A `RunPlan` fixes the device, the phases and their sizes, the layers the network computes, the
patch search and the arithmetic, and the estimated peak memory (a run that cannot fit is refused
here).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import PaintConfig
from .errors import DoodleError
from .inputs import Notes, PaintInputs, WorkingSizes
from .layers import check_layers, layer_stride
from .matching import PATCH_SIZE, fast_bfloat16, resolve_matcher
from .memory import estimate_bytes, format_bytes, refuse_if_too_big
from .style_bank import copy_sizes


@dataclass(frozen=True)
class RunPlan:
    device: torch.device
    phase_sizes: list[tuple[int, int]]  # (height, width) of each phase, coarse to fine
    style_layers: tuple[str, ...]
    layers: tuple[str, ...]  # every layer the network computes: the style layers, then content layers
    matcher: str  # what --matcher auto became
    precision: str  # what --precision auto became
    estimated_bytes: int

    @property
    def phases(self) -> int:
        return len(self.phase_sizes)

    def summary(self, out_hw: tuple[int, int]) -> str:
        return (f"{out_hw[1]}x{out_hw[0]} on {self.device}, {self.precision} network, {self.matcher} search; "
                f"estimated peak memory {format_bytes(self.estimated_bytes)}")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DoodleError("--device cuda: no CUDA GPU is visible to PyTorch; use --device cpu")
    return torch.device(name)


def phase_sizes(height: int, width: int, phases: int) -> list[tuple[int, int]]:
    """(height, width) of each phase, coarse to fine; each phase doubles the previous one."""
    return [(max(1, round(height / 2 ** (phases - 1 - p))), max(1, round(width / 2 ** (phases - 1 - p))))
            for p in range(phases)]


def smallest_side(layers: list[str] | tuple[str, ...], phases: int) -> int:
    """The shortest image side that gives every layer a 3x3 patch in the coarsest phase."""
    return max(layer_stride(name) for name in layers) * PATCH_SIZE * 2 ** (phases - 1)


def fit_phases(sides: list[tuple[str, int]], layers: list[str] | tuple[str, ...], phases: int) -> tuple[int, list[str]]:
    """Drop coarse phases that the images are too small for; error when even one is too many.

    `sides` are (name, short side) of the styles at their working size, then of the painting (as
    `working_sizes` makes them): the advice differs, as a style grows with a larger style image or
    --style-scale, and the painting with a larger image or --size."""
    notes = []
    for count in range(phases, 0, -1):
        need = smallest_side(layers, count)
        if all(side >= need for _, side in sides):
            if count < phases:
                notes.append(f"images are small for {phases} phases; using {count} (each side needs "
                             f"{smallest_side(layers, phases)} px for {phases})")
            return count, notes
    smallest = min(range(len(sides)), key=lambda index: sides[index][1])
    name, side = sides[smallest]
    if smallest < len(sides) - 1:
        where, advice = " at its working size", "use a larger style image or a --style-scale above 1"
    else:
        where, advice = "", "use a larger --size" if name.startswith("--size") else "use a larger image or --size"
    raise DoodleError(f"{name}: its short side is {side} px{where} but layers {','.join(layers)} need at least "
                      f"{smallest_side(layers, 1)} px; {advice}, or shallower --style-layers")


def resolve_precision(name: str, device: torch.device) -> str:
    """`auto` becomes bf16 where bfloat16 is native (see `fast_bfloat16`), else fp32."""
    if name != "auto":
        return name
    return "bf16" if fast_bfloat16(device) else "fp32"


def uses_style_copies(config: PaintConfig) -> bool:
    """Rotated and rescaled copies only feed patch banks; Gram targets come from the styles themselves."""
    return "patch" in config.style_loss_weights


def estimate_run_bytes(sizes: WorkingSizes, labels: int, config: PaintConfig, layers: tuple[str, ...],
                       precision: str, phases: int | None = None) -> int:
    """Peak memory of a run at `sizes`: every style and each of its rotated and rescaled copies;
    `precision` is the network's arithmetic, `phases` those the run has (--phases unless fewer fit)."""
    augment = uses_style_copies(config)
    banks = [size for hw in sizes.style_hws
             for size in copy_sizes(hw, config.style_rotations if augment else (),
                                    config.style_scales if augment else ())]
    return estimate_bytes(sizes.out_hw, banks, labels, config, layers, precision, phases)


def refuse_unfitting(sizes: WorkingSizes, estimated: int, device: torch.device) -> None:
    """Refuse a run that cannot fit, naming the picture with the largest working area (the painting
    on a tie) and what shrinks it."""
    pictures = [(sizes.names[-1], sizes.out_hw, False)] + [(name, hw, True)
                                                           for name, hw in zip(sizes.names, sizes.style_hws)]
    name, (height, width), is_style = max(pictures, key=lambda picture: picture[1][0] * picture[1][1])
    if not is_style:
        advice = "use a smaller --size"
    elif sizes.growth > 1:  # the style grows with a painting larger than its doodle or photo
        advice = "use a smaller --size (the style is scaled with it), a --style-scale below 1"
    else:
        advice = "use a smaller style image or a --style-scale below 1"
    refuse_if_too_big(estimated, device, f"{name} (worked at {width}x{height})", advice)


def run_layers(config: PaintConfig, with_content: bool) -> tuple[str, ...]:
    """Every layer the network computes: the style layers, then the content layers."""
    content_layers = tuple(config.content_layers) if with_content else ()
    return tuple(dict.fromkeys(tuple(config.style_layer_names) + content_layers))


def check_fits(sizes: WorkingSizes, config: PaintConfig, with_content: bool) -> None:
    """Before anything is decoded: refuse a run whose sizes alone show it cannot fit (labels, and
    phases dropped for small images, are not known yet; they add little, and `plan_run` checks
    again with them)."""
    layers = run_layers(config, with_content)
    check_layers("vgg19", layers)
    device = pick_device(config.device)
    refuse_unfitting(sizes, estimate_run_bytes(sizes, 0, config, layers, resolve_precision(config.precision, device)),
                     device)


def plan_run(inputs: PaintInputs, config: PaintConfig, note: Notes) -> RunPlan:
    """Device, phases, layers, search and arithmetic for a run; refuses runs that cannot fit in memory."""
    device = pick_device(config.device)
    style_layers = tuple(config.style_layer_names)
    layers = run_layers(config, inputs.content is not None)
    check_layers("vgg19", layers)  # the superset: catch typos before any work; the model is checked later
    phases, notes = fit_phases(inputs.sides, layers, config.phases)
    note(notes)
    if inputs.labelling is not None:
        note(inputs.labelling.notes)
    labels = inputs.labelling.count if inputs.labelling is not None else 0
    precision = resolve_precision(config.precision, device)
    estimated = estimate_run_bytes(inputs.sizes, labels, config, layers, precision, phases)
    refuse_unfitting(inputs.sizes, estimated, device)
    return RunPlan(device, phase_sizes(*inputs.out_hw, phases), style_layers, layers,
                   resolve_matcher(config.matcher, device, propagate=True), precision, estimated)
