"""Memory planning: how much a run will need at its peak, and refusing runs that cannot fit.

The estimate is made from sizes alone, before any image is resized or any bank is built, so a
hopeless request is refused before it can exhaust the machine.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .config import PaintConfig
from .errors import DoodleError
from .layers import layer_channels, layer_stride
from .matching import BYTES_PER_SCORE, PATCH_SIZE, chunk_rows
from .meminfo import available_ram
from .optimise import LBFGS_HISTORY
from .propagation import RANKING_DIMS, SCORE_BLOCK

# Leave this share of free memory for the OS, Python and allocator slack.
MEMORY_HEADROOM = 0.85
# Tensors of each block's output size that the network's forward and backward passes hold at once
# (see `network_bytes`): fitted on measured peaks, below.
NETWORK_TENSORS = 4


def available_memory(device: torch.device) -> int | None:
    """Bytes free for this run, or None when the platform does not say."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return available_ram()


def patches_at(hw: tuple[int, int], stride: int) -> int:
    """How many 3x3 patches a picture of `hw` has at a layer of `stride`."""
    return max(0, hw[0] // stride - 2) * max(0, hw[1] // stride - 2)


def cells_at(hw: tuple[int, int], stride: int) -> int:
    """How many cells a picture of `hw` has at a layer of `stride`."""
    return (hw[0] // stride) * (hw[1] // stride)


def exact_search_bytes(out_hw: tuple[int, int], style_sizes: list[tuple[int, int]], labels: int,
                       config: PaintConfig, name: str) -> int:
    """An exact search at layer `name`: the painting's patches and their descriptors, the bank's
    raw patches and their column copy, the normalised descriptors with map channels, the per-label
    copies of those (patches on label edges sit in several) and bfloat16 copies, and one block of
    scores."""
    stride, channels = layer_stride(name), layer_channels(name)
    bank = sum(patches_at(hw, stride) for hw in style_sizes)
    queries = patches_at(out_hw, stride)
    total = 3 * queries * PATCH_SIZE**2 * channels * 4
    total += bank * PATCH_SIZE**2 * (4.5 * channels + 2.5 * labels) * 4
    rows = chunk_rows(queries, config.memory_budget_mb * 2**20, config.slices, max(bank, 1))
    return int(total + queries * rows * BYTES_PER_SCORE)


def propagation_bytes(out_hw: tuple[int, int], style_sizes: list[tuple[int, int]], labels: int, name: str) -> int:
    """A propagation search at layer `name` (see `PropagationBank`): the styles' feature maps as
    cell rows and the ranking projections (each with a sample's copy while they are pooled), the
    energies, labels and layout, the painting's ranking, field and candidates, and the folded
    matches with the loss's products over them."""
    stride, channels = layer_stride(name), layer_channels(name)
    style_cells = sum(cells_at(hw, stride) for hw in style_sizes)
    bank = sum(patches_at(hw, stride) for hw in style_sizes)
    out_cells = cells_at(out_hw, stride)
    queries = patches_at(out_hw, stride)
    total = 2 * style_cells * channels * 4 + 2 * bank * RANKING_DIMS * 4
    total += bank * (4 + labels + 3 * 8) + style_cells * 8
    total += 2 * queries * RANKING_DIMS * 4 + 8 * queries * 8 + min(queries, SCORE_BLOCK) * RANKING_DIMS * 4
    return int(total + 3 * out_cells * channels * 4)


def network_bytes(out_hw: tuple[int, int], layers: Sequence[str], precision: str) -> int:
    """The network's activations kept for the backward pass and the gradients flowing back, for a
    painting of `out_hw`; measured at about NETWORK_TENSORS tensors the size of each block's
    output (in the network's arithmetic), plus float32 copies of the layers the losses read."""
    element = 2 if precision == "bf16" else 4
    deepest = max(layer_stride(name) for name in layers)
    total, stride = 0, 1
    while stride <= deepest:
        total += NETWORK_TENSORS * layer_channels(f"conv{stride.bit_length()}_1") * cells_at(out_hw, stride) * element
        stride *= 2
    for name in layers:
        total += 2 * layer_channels(name) * cells_at(out_hw, layer_stride(name)) * 4
    return total


def optimiser_bytes(out_hw: tuple[int, int], optimizer: str = "lbfgs") -> int:
    """L-BFGS keeps two image-sized vectors per step of its history, Adam two moments; the pixels,
    their gradient, the best iterate and the optimiser's working vectors are a few more."""
    kept = 2 * LBFGS_HISTORY if optimizer == "lbfgs" else 2
    return (kept + 8) * 3 * out_hw[0] * out_hw[1] * 4


def estimate_bytes(out_hw: tuple[int, int], style_hw: tuple[int, int] | Sequence[tuple[int, int]], labels: int,
                   config: PaintConfig, layers: Sequence[str], precision: str = "fp32",
                   phases: int | None = None) -> int:
    """Peak memory of a run: the finest phase (patch search of every style and copy in `style_hw`,
    network, optimiser), or, with propagation search, the coarsest phase when its exact first
    search needs more. `precision` is the network's arithmetic (what --precision auto became);
    `phases` those the run has (default --phases)."""
    # one (height, width), or a list of them (every style and copy)
    style_sizes = [style_hw] if isinstance(style_hw[0], int) else list(style_hw)
    patch_layers = config.style_layer_names if "patch" in config.style_loss_weights else ()
    propagation = config.matcher in ("patchmatch", "auto")  # auto is patchmatch in the optimisation path
    finest = network_bytes(out_hw, layers, precision) + optimiser_bytes(out_hw, config.optimizer)
    for name in patch_layers:
        if propagation:
            finest += propagation_bytes(out_hw, style_sizes, labels, name)
        else:
            finest += exact_search_bytes(out_hw, style_sizes, labels, config, name)
    if not propagation or not patch_layers:
        return int(finest)
    # The coarsest phase has no coarser field to start from: its first search is exact.
    shrink = 2 ** ((phases or config.phases) - 1)
    coarse_hw = (out_hw[0] // shrink, out_hw[1] // shrink)
    coarse_styles = [(h // shrink, w // shrink) for h, w in style_sizes]
    coarsest = network_bytes(coarse_hw, layers, precision) + optimiser_bytes(coarse_hw, config.optimizer)
    for name in patch_layers:
        coarsest += propagation_bytes(coarse_hw, coarse_styles, labels, name)
        coarsest += exact_search_bytes(coarse_hw, coarse_styles, labels, config, name)
    return int(max(finest, coarsest))


def format_bytes(count: int) -> str:
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.0f} MiB"


def refuse_if_too_big(estimated: int, device: torch.device, culprit: str = "",
                      advice: str = "use a smaller --size (or a smaller style image)") -> None:
    """Raise a DoodleError when `estimated` bytes cannot fit on `device`; the message starts with
    `culprit` (the picture that costs most) and says what to shrink."""
    free = available_memory(device)
    if free is not None and estimated > MEMORY_HEADROOM * free:
        raise DoodleError(
            f"{culprit + ': ' if culprit else ''}this run needs about {format_bytes(estimated)} but "
            f"{format_bytes(free)} is free; {advice}, or fewer --style-layers")
