"""VGG feature extractor with named layers, truncated at the deepest layer a run needs.

Input is RGB in [0, 1]; the normalisation the weights were trained with happens inside, so callers
never need to know whether they got torchvision's VGG19 or the Caffe-style VGG16.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import DoodleError
from .weights import BLOCK_CHANNELS as CHANNELS
from .weights import LAYER_PLAN, WeightsInfo, load_weights
_LAYER_NAME = re.compile(r"^(conv|relu)(\d)_(\d)$")


def layer_names(model: str) -> list[str]:
    """All named layers of a model, in forward order."""
    names = []
    for block, convs in enumerate(LAYER_PLAN[model], start=1):
        for k in range(1, convs + 1):
            names += [f"conv{block}_{k}", f"relu{block}_{k}"]
    return names


def layer_stride(name: str) -> int:
    """How many input pixels one cell of the layer spans: 2^(block-1)."""
    match = _LAYER_NAME.match(name)
    if not match:
        raise DoodleError(f"layer {name!r}: write layers as relu3_1 or conv4_2")
    return 2 ** (int(match.group(2)) - 1)


def layer_channels(name: str) -> int:
    """Feature channels of a layer: 64 in block 1 up to 512 in blocks 4 and 5."""
    return CHANNELS[layer_stride(name).bit_length() - 1]


def check_layers(model: str, layers: Iterable[str]) -> None:
    known = layer_names(model)
    for name in layers:
        layer_stride(name)
        if name not in known:
            raise DoodleError(f"layer {name!r} is not in {model}; choose from {known[0]} .. {known[-1]}")


class VGGEncoder(nn.Module):
    """The convolutional part of VGG as named steps; runs only as deep as the layers asked for."""

    def __init__(self, state: dict[str, torch.Tensor], info: WeightsInfo, pooling: str = "avg") -> None:
        super().__init__()
        self.info = info
        self.pooling = pooling
        self.names = layer_names(info.model)
        self.convs = nn.ModuleDict()
        in_channels = 3
        for block, convs in enumerate(LAYER_PLAN[info.model], start=1):
            for k in range(1, convs + 1):
                name = f"conv{block}_{k}"
                conv = nn.Conv2d(in_channels, CHANNELS[block - 1], 3, padding=1)
                conv.weight.data.copy_(state[f"{name}.weight"])
                conv.bias.data.copy_(state[f"{name}.bias"])
                self.convs[name] = conv
                in_channels = CHANNELS[block - 1]
        self.requires_grad_(False)
        if info.preprocessing == "caffe":
            # Caffe weights: BGR order, 0-255 range, mean subtracted, no std scaling.
            self.register_buffer("mean", torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1))
            self.register_buffer("scale", torch.full((1, 3, 1, 1), 255.0))
            self.bgr = True
        else:
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
            self.register_buffer("scale", 1.0 / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
            self.bgr = False

    def normalise(self, image: torch.Tensor) -> torch.Tensor:
        if self.bgr:
            image = image.flip(1)
        return image * self.scale - self.mean

    def forward(self, image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """Features of `image` (B, 3, H, W, RGB in [0, 1]) at each named layer."""
        wanted = set(layers)
        deepest = max(self.names.index(name) for name in wanted)
        outputs: dict[str, torch.Tensor] = {}
        x = self.normalise(image)
        block_now = 1
        for name in self.names[: deepest + 1]:
            kind, block, _ = _LAYER_NAME.match(name).groups()
            block = int(block)
            if block != block_now:
                x = F.avg_pool2d(x, 2) if self.pooling == "avg" else F.max_pool2d(x, 2)
                block_now = block
            x = self.convs[name](x) if kind == "conv" else F.relu(x)
            if name in wanted:
                outputs[name] = x
        return outputs


def load_encoder(model: str = "auto", pooling: str = "avg", device: str | torch.device = "cpu") -> VGGEncoder:
    """Find weights (see `doodle.weights`) and build the encoder on `device`."""
    state, info = load_weights(model)
    return VGGEncoder(state, info, pooling).to(device).eval()
