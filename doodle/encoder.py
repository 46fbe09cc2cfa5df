"""VGG feature extractor with named layers, truncated at the deepest layer a run needs.

Input is RGB in [0, 1]; the normalisation the weights were trained with happens inside, so callers
never need to know whether they got torchvision's VGG19 or the Caffe-style VGG16.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import conv_layers, vgg_layers
from .weights import WeightsInfo, load_weights


class VGGEncoder(nn.Module):
    """The convolutional part of VGG as named steps; runs only as deep as the layers asked for."""

    def __init__(self, state: dict[str, torch.Tensor], info: WeightsInfo, pooling: str = "avg") -> None:
        super().__init__()
        self.info = info
        self.pooling = pooling
        self.layers = vgg_layers(info.model)
        self.names = [layer.name for layer in self.layers]
        self.convs = nn.ModuleDict()
        for layer in conv_layers(info.model):
            conv = nn.Conv2d(layer.in_channels, layer.channels, 3, padding=1)
            conv.weight.data.copy_(state[f"{layer.name}.weight"])
            conv.bias.data.copy_(state[f"{layer.name}.bias"])
            self.convs[layer.name] = conv
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
        for layer in self.layers[: deepest + 1]:
            if layer.block != block_now:
                x = F.avg_pool2d(x, 2) if self.pooling == "avg" else F.max_pool2d(x, 2)
                block_now = layer.block
            x = self.convs[layer.name](x) if layer.kind == "conv" else F.relu(x)
            if layer.name in wanted:
                outputs[layer.name] = x
        return outputs


def load_encoder(model: str = "auto", pooling: str = "avg", device: str | torch.device = "cpu") -> VGGEncoder:
    """Find weights (see `doodle.weights`) and build the encoder on `device`."""
    state, info = load_weights(model)
    return VGGEncoder(state, info, pooling).to(device).eval()
