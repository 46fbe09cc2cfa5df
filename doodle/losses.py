"""Loss terms: pure functions for the maths, beside thin callable modules that hold per-phase state.

Every module is built once per phase (all style-side work happens there) and then called at each
evaluation as `term(image, features) -> scalar`; each one satisfies `LossTerm`. A trainer that
wants the maths without the state calls the functions (`folded_patch_distance`, `fold_matches`,
`gram_distance`, `total_variation`...) directly. Feature losses are divided by the mean square of
their reference features, so weights mean the same with VGG19 (0-1 inputs) and Caffe VGG16 (0-255
inputs), and layers of different magnitude count alike. The two style terms have rooms of their own:
`patch_loss.py` (`SemanticPatchLoss`, nearest 3x3 patches, pooled over several style images and
their augmented copies) and `gram_loss.py` (`GramLoss`, Gatys' Gram matrices, one per label when
there are maps); this module holds the interface, the content and smoothness terms.

Shapes each term expects (`image` is the pixels, `features[layer]` one encoder layer):

- `SemanticPatchLoss`: `features[layer]` (1, C, H, W), H and W at least 3; the target map given at
  construction must be on the same (H, W) grid. One image at a time.
- `GramLoss`: `features[layer]` (1, C, H, W); with maps, any grid (the target map is resized to
  it). One image at a time.
- `ContentLoss`: `features[layer]` of the same shape as the content features it was built with
  (a batch works when both carry the same batch).
- `Smoothness`: `image` (..., H, W), any batch; `features` is not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F


@dataclass
class TermStats:
    """What a term did during one phase: time spent searching for matches, and how often."""

    match_seconds: float = 0.0
    searches: int = 0


@runtime_checkable
class LossTerm(Protocol):
    """What the synthesis loop (and a trainer) needs of a loss term.

    `layer` is the feature layer the term reads, None for terms on the pixels alone; calling the
    term returns a scalar loss for the image and its features by layer name."""

    stats: TermStats

    # Read-only, so that a term whose layer is always a name (a plain `str` attribute) fits too.
    @property
    def layer(self) -> str | None: ...

    def __call__(self, image: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor: ...


@dataclass
class WeightedTerm:
    """A loss term with its name (shown in progress) and weight."""

    name: str
    weight: float
    term: LossTerm


def one_image(features: torch.Tensor, term: str, layer: str) -> torch.Tensor:
    """`features` unchanged, or a clear error where a term would silently read only the first image."""
    if features.dim() != 4 or len(features) != 1:
        raise ValueError(f"{term} reads one image at a time: {layer} features must be (1, C, H, W), "
                         f"got {tuple(features.shape)}")
    return features


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels: a smoothness prior against noise."""
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()


def relative_mse(values: torch.Tensor, reference: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(values, reference) / scale


class ContentLoss:
    """Keeps one layer's features close to the content image's."""

    def __init__(self, layer: str, content_features: torch.Tensor) -> None:
        self.layer = layer
        self.stats = TermStats()
        self.target = content_features
        self.scale = content_features.pow(2).mean().clamp_min(1e-12)

    def __call__(self, image: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return relative_mse(features[self.layer], self.target, self.scale)


class Smoothness:
    """Total variation of the pixels."""

    def __init__(self) -> None:
        self.layer = None  # reads only the pixels
        self.stats = TermStats()

    def __call__(self, image: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return total_variation(image)
