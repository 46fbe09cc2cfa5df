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
from .propagation import SCORE_BLOCK

# Leave this share of free memory for the OS, Python and allocator slack.
MEMORY_HEADROOM = 0.85


def available_memory(device: torch.device) -> int | None:
    """Bytes free for this run, or None when the platform does not say."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return available_ram()


def estimate_bytes(out_hw: tuple[int, int], style_hw: tuple[int, int] | Sequence[tuple[int, int]], labels: int,
                   config: PaintConfig, layers: Sequence[str]) -> int:
    """Peak memory of the finest phase: style patch banks (of every style and copy in `style_hw`),
    one score block, patches and network activations with their gradients. Deliberately generous;
    used to refuse hopeless runs."""
    total = 0
    # one (height, width), or a list of them (every style and copy)
    style_sizes = [style_hw] if isinstance(style_hw[0], int) else list(style_hw)
    patch_layers = config.style_layer_names if "patch" in config.style_loss_weights else ()
    for name in patch_layers:
        stride = layer_stride(name)
        channels = layer_channels(name)
        bank = sum(max(0, h // stride - 2) * max(0, w // stride - 2) for h, w in style_sizes)
        queries = max(0, out_hw[0] // stride - 2) * max(0, out_hw[1] // stride - 2)
        # current patches at a search and their descriptors, the folded matches
        total += 3 * queries * PATCH_SIZE**2 * channels * 4
        if config.matcher in ("patchmatch", "auto"):  # auto is patchmatch in the optimisation path
            # raw patches and their column copy, the unit descriptors with map channels; the finest
            # phase starts from the coarser one's matches, so no exact search's copies or scores;
            # one block of gathered candidates
            total += bank * PATCH_SIZE**2 * (3 * channels + 1.5 * labels) * 4
            total += 2 * min(queries, SCORE_BLOCK) * PATCH_SIZE**2 * (channels + labels) * 4
            continue
        # raw patches and their column copy, the normalised descriptors with map channels, the
        # per-label copies of those (patches on label edges sit in several) and bfloat16 copies
        total += bank * PATCH_SIZE**2 * (4.5 * channels + 2.5 * labels) * 4
        rows = chunk_rows(queries, config.memory_budget_mb * 2**20, config.slices, max(bank, 1))
        total += queries * rows * BYTES_PER_SCORE
    deepest = max(layer_stride(name) for name in layers)
    stride = 1
    while stride <= deepest:
        cells = (out_hw[0] // stride) * (out_hw[1] // stride)
        # conv and relu outputs of about three convs per block, kept for the backward pass, twice
        total += 2 * 3 * 2 * layer_channels(f"conv{stride.bit_length()}_1") * cells * 4
        stride *= 2
    return int(total)


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
