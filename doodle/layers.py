"""The one table of VGG's named layers: what each is, where it sits, how wide and how coarse it is.

Everything that needs VGG's structure (the encoder, the weight loaders, the layer checks and the
memory estimate of the engine) reads it from here, so the plan of each model is written down exactly once. Pure
Python on purpose: the weights listing (`doodle weights`) and the planner read it without paying for torch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Literal

from .errors import DoodleError

# Convolutions per block of each model; every block ends in a 2x2 pool that halves the resolution.
CONVS_PER_BLOCK: dict[str, tuple[int, ...]] = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
BLOCK_CHANNELS = (64, 128, 256, 512, 512)
IMAGE_CHANNELS = 3
_LAYER_NAME = re.compile(r"^(conv|relu)(\d)_(\d)$")


@dataclass(frozen=True)
class VGGLayer:
    name: str  # "conv3_1", "relu3_1"
    kind: Literal["conv", "relu"]
    block: int  # 1..5: how many pools (plus one) lie between the image and this layer
    position: int  # 1-based index of its conv within the block (a ReLU shares its conv's)
    in_channels: int  # what the layer reads: the conv before it, or the image for conv1_1
    channels: int  # what the layer gives out
    stride: int  # input pixels spanned by one cell: 2^(block-1)
    torchvision_index: int  # index in torchvision's ``vgg*.features``, where pools take a slot too


@cache
def vgg_layers(model: str) -> tuple[VGGLayer, ...]:
    """Every conv and ReLU of ``model`` ("vgg16" or "vgg19"), in forward order."""
    layers, in_channels, index = [], IMAGE_CHANNELS, 0
    for block, (convs, channels) in enumerate(zip(CONVS_PER_BLOCK[model], BLOCK_CHANNELS), start=1):
        for position in range(1, convs + 1):
            for kind in ("conv", "relu"):
                layers.append(VGGLayer(f"{kind}{block}_{position}", kind, block, position,
                                       in_channels if kind == "conv" else channels, channels,
                                       2 ** (block - 1), index))
                index += 1
            in_channels = channels
        index += 1  # the block's pool
    return tuple(layers)


def conv_layers(model: str) -> tuple[VGGLayer, ...]:
    """The convolutions of ``model``, in forward order: the layers that carry weights."""
    return tuple(layer for layer in vgg_layers(model) if layer.kind == "conv")


def layer_names(model: str) -> list[str]:
    """All named layers of a model, in forward order."""
    return [layer.name for layer in vgg_layers(model)]


def layer_stride(name: str) -> int:
    """How many input pixels one cell of the layer spans: 2^(block-1)."""
    match = _LAYER_NAME.match(name)
    if not match:
        raise DoodleError(f"layer {name!r}: write layers as relu3_1 or conv4_2")
    return 2 ** (int(match.group(2)) - 1)


def layer_channels(name: str) -> int:
    """Feature channels of a layer: 64 in block 1 up to 512 in blocks 4 and 5."""
    return BLOCK_CHANNELS[layer_stride(name).bit_length() - 1]


def check_layers(model: str, layers: Iterable[str]) -> None:
    """Raise DoodleError unless every name is well formed and a layer of ``model``."""
    known = layer_names(model)
    for name in layers:
        layer_stride(name)
        if name not in known:
            raise DoodleError(f"layer {name!r} is not in {model}; choose from {known[0]} .. {known[-1]}")
