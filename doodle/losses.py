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

from .matching import PATCH_SIZE, LabelPartitionedMatcher, PatchMatcher, extract_patches, make_matcher, normalise_rows


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


def patch_labels(map_patches: torch.Tensor, labels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For (patches, labels*9) map patches: which labels each patch touches (patches, labels) and
    its main label (patches,)."""
    per_label = map_patches.view(len(map_patches), labels, -1)
    return per_label.amax(2) > 0, per_label.sum(2).argmax(1)


@dataclass
class TermStats:
    """What a term did during one phase: time spent searching for matches, and how often."""

    match_seconds: float = 0.0
    searches: int = 0


class SemanticPatchLoss:
    """Pulls every 3x3 patch of one layer toward its nearest style patch (features and map).

    `rematch_every` k > 1 searches at the first evaluation and then every k-th, pulling toward the
    last matches in between: L-BFGS moves the image a little per step, so most matches hold, and
    the loss between searches is a plain quadratic that L-BFGS handles well. Stale matches cost
    some quality: on the Monet coastline, k=4 searches 4x less often and ends with a style loss
    about 6% above searching at every evaluation (k=8: 12%). `by_label` searches each patch only
    among style patches of its own label (see `LabelPartitionedMatcher`); it needs maps and finds
    the same matches inside labels when `semantic_weight` >= 1.
    """

    def __init__(self, layer: str, style_features: torch.Tensor, style_channels: torch.Tensor | None,
                 target_channels: torch.Tensor | None, semantic_weight: float,
                 matcher: str = "exact", matcher_options: dict | None = None, by_label: bool = False,
                 rematch_every: int = 1) -> None:
        self.layer = layer
        style_patches = extract_patches(style_features)
        self.scale = style_patches.pow(2).mean().clamp_min(1e-12)
        # Column layout and energies, once per phase, for folding matches at every search; the
        # row layout is not kept (at 1024x768 it would be 450 MB more).
        self.style_columns = style_patches.T.contiguous()
        self.style_energy = style_patches.pow(2).sum(1)
        self.target_map_patches = None
        self.semantic_weight = semantic_weight
        self.rematch_every = rematch_every
        self.evaluations = 0
        self.index: torch.Tensor | None = None
        self.coverage: torch.Tensor | None = None
        style_map_patches = None
        if style_channels is not None and target_channels is not None and semantic_weight > 0:
            style_map_patches = extract_patches(style_channels)
            self.target_map_patches = extract_patches(target_channels)
        bank = semantic_descriptors(style_patches, style_map_patches, semantic_weight)
        if by_label and style_map_patches is not None:
            labels = style_channels.shape[1]
            bank_labels, _ = patch_labels(style_map_patches, labels)
            _, query_labels = patch_labels(self.target_map_patches, labels)
            self.matcher: PatchMatcher = LabelPartitionedMatcher(bank, bank_labels, query_labels, matcher,
                                                                 **(matcher_options or {}))
        else:
            self.matcher = make_matcher(matcher, bank, **(matcher_options or {}))
        self.stats = TermStats()

    def nearest(self, patches: torch.Tensor) -> torch.Tensor:
        started = time.perf_counter()
        queries = semantic_descriptors(patches.detach().float(), self.target_map_patches, self.semantic_weight)
        index, _ = self.matcher.match(queries)
        self.stats.match_seconds += time.perf_counter() - started
        self.stats.searches += 1
        return index

    @torch.no_grad()
    def _rematch(self, features: torch.Tensor) -> None:
        """Search, then fold the matched style patches back onto the feature grid.

        The loss sum_i |p_i - s_i|^2 over all patches equals sum(coverage * F^2) - 2 sum(F * T) +
        sum_i |s_i|^2, where T is the matched patches folded (overlaps summed) and coverage counts
        the patches covering each cell. Evaluating it on the (C, H, W) grid instead of the 9x larger
        (patches, C*9) matrix keeps unfold, gather and their backward out of every evaluation."""
        patches = extract_patches(features)
        self.index = self.nearest(patches)
        grid = tuple(features.shape[-2:])
        self.folded_target = F.fold(self.style_columns.index_select(1, self.index)[None], grid,
                                    kernel_size=PATCH_SIZE)
        self.matched_energy = self.style_energy[self.index].sum()
        if self.coverage is None or self.coverage.shape[-2:] != grid:
            self.coverage = F.fold(torch.ones(1, PATCH_SIZE**2, len(patches), device=features.device), grid,
                                   kernel_size=PATCH_SIZE)
        self.elements = patches.numel()

    def __call__(self, image: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        layer_features = features[self.layer]
        if self.index is None or self.evaluations % self.rematch_every == 0:
            self._rematch(layer_features.detach())
        self.evaluations += 1
        squared_distance = ((self.coverage * layer_features.pow(2)).sum()
                            - 2 * (self.folded_target * layer_features).sum() + self.matched_energy)
        # Mean over patch elements, as relative_mse(patches, matched) would give.
        return squared_distance.clamp_min(0) / self.elements / self.scale


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
