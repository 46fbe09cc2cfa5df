"""Loss terms: small functions plus thin callable modules that the synthesis loop sums.

Every term is built once per phase (all style-side work happens there) and then called at each
evaluation as `term(image, features) -> scalar`. Feature losses are divided by the mean square of
their reference features, so weights mean the same with VGG19 (0-1 inputs) and Caffe VGG16
(0-255 inputs), and layers of different magnitude count alike. A Gram or masked-Gram style term,
or one that pools several style images, is one more class with the same call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .matching import PatchMatcher, extract_patches, make_matcher, normalise_rows

def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels: a smoothness prior against noise."""
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()


def relative_mse(values: torch.Tensor, reference: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(values, reference) / scale


def semantic_descriptors(feature_patches: torch.Tensor, map_patches: torch.Tensor | None,
                         semantic_weight: float) -> torch.Tensor:
    """Patch descriptors for matching: the unit feature part, then the unit map part times
    `semantic_weight` (gamma). Normalising each part on its own makes the cross-correlation
    (cos_features + gamma^2 cos_map) / (1 + gamma^2) for every patch, whatever its feature norm; so
    with gamma >= 1 a patch of another label can never outscore one of the same label, because
    ReLU features make all feature cosines non-negative. Scaling maps by an average feature norm
    instead (as the original tool did) lets high-contrast patches drown their map."""
    features = normalise_rows(feature_patches)
    if map_patches is None or semantic_weight == 0:
        return features
    return torch.cat([features, semantic_weight * normalise_rows(map_patches)], dim=1)


@dataclass
class TermStats:
    """What a term did during one phase: time spent searching for matches."""

    match_seconds: float = 0.0


class SemanticPatchLoss:
    """Pulls every 3x3 patch of one layer toward its nearest style patch (features and map)."""

    def __init__(self, layer: str, style_features: torch.Tensor, style_channels: torch.Tensor | None,
                 target_channels: torch.Tensor | None, semantic_weight: float,
                 matcher: str = "exact", matcher_options: dict | None = None) -> None:
        self.layer = layer
        self.style_patches = extract_patches(style_features)
        self.scale = self.style_patches.pow(2).mean().clamp_min(1e-12)
        self.target_map_patches = None
        self.semantic_weight = semantic_weight
        style_map_patches = None
        if style_channels is not None and target_channels is not None and semantic_weight > 0:
            style_map_patches = extract_patches(style_channels)
            self.target_map_patches = extract_patches(target_channels)
        bank = semantic_descriptors(self.style_patches, style_map_patches, semantic_weight)
        self.matcher: PatchMatcher = make_matcher(matcher, bank, **(matcher_options or {}))
        self.stats = TermStats()

    def nearest(self, patches: torch.Tensor) -> torch.Tensor:
        started = time.perf_counter()
        queries = semantic_descriptors(patches.detach(), self.target_map_patches, self.semantic_weight)
        index, _ = self.matcher.match(queries)
        self.stats.match_seconds += time.perf_counter() - started
        return index

    def __call__(self, image: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        patches = extract_patches(features[self.layer])
        index = self.nearest(patches)
        return relative_mse(patches, self.style_patches[index], self.scale)


class ContentLoss:
    """Keeps one layer's features close to the content image's."""

    def __init__(self, layer: str, content_features: torch.Tensor) -> None:
        self.layer = layer
        self.target = content_features
        self.scale = content_features.pow(2).mean().clamp_min(1e-12)
        self.stats = TermStats()

    def __call__(self, image: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return relative_mse(features[self.layer], self.target, self.scale)


class Smoothness:
    """Total variation of the pixels."""

    def __init__(self) -> None:
        self.stats = TermStats()

    def __call__(self, image: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return total_variation(image)


@dataclass
class WeightedTerm:
    """A loss term with its name (shown in progress) and weight."""

    name: str
    weight: float
    term: object
