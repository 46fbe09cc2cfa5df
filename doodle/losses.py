"""Loss terms: small functions plus thin callable modules that the synthesis loop sums.

Every term is built once per phase (all style-side work happens there) and then called at each
evaluation as `term(image, features) -> scalar`. Feature losses are divided by the mean square of
their reference features, so weights mean the same with VGG19 (0-1 inputs) and Caffe VGG16
(0-255 inputs), and layers of different magnitude count alike. Style terms come in two kinds:
`SemanticPatchLoss` (nearest 3x3 patches, pooled over several style images and their augmented
copies) and `GramLoss` (Gatys' Gram matrices, one per label when there are maps).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .semantic import resize_channels

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
class StyleLayer:
    """One style image (or an augmented copy of one) at one layer: what goes into a pooled bank."""

    features: torch.Tensor  # (1, C, H, W)
    channels: torch.Tensor | None = None  # (1, K, H, W) label channels, or None without maps
    valid: torch.Tensor | None = None  # (1, 1, H, W), 1 where the copy has pixels (rotations leave corners empty)
    share: float = 1.0  # fraction of its patches that enter the bank: how --style-blend weighs patch banks


# Seed of the patch subsample of blended styles: fixed, so the same settings give the same bank.
SUBSAMPLE_SEED = 0


def random_subset(count: int, keep: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """`keep` of range(count), drawn at random with a fixed seed and returned in order. Random
    rather than every k-th: patches come row by row, and a stride near the row length would keep
    whole columns of the picture and drop the rest."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(SUBSAMPLE_SEED))
    return order[:keep].sort().values.to(device)


def pooled_patches(samples: list[StyleLayer]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The 3x3 feature patches (and map patches) of several style samples in one bank.

    Patches that reach into a copy's empty corners are left out; each sample then keeps `share` of
    its patches, drawn at random over the image, so a style blended at 0.3 next to one at 0.7
    offers 3/7 as many patches per unit of area."""
    feature_rows, map_rows = [], []
    with_maps = all(sample.channels is not None for sample in samples)
    for sample in samples:
        patches = extract_patches(sample.features)
        keep = torch.arange(len(patches), device=patches.device)
        if sample.valid is not None:
            # a cell counts when it is (almost) all image; a patch when all 9 cells do
            keep = keep[extract_patches(sample.valid).amin(1) > 0.99]
        if sample.share < 1 and len(keep):  # a turned copy may have no whole patch at a deep layer
            keep = keep[random_subset(len(keep), max(1, round(len(keep) * sample.share)), keep.device)]
        feature_rows.append(patches[keep])
        if with_maps:
            map_rows.append(extract_patches(sample.channels)[keep])
    return torch.cat(feature_rows), (torch.cat(map_rows) if with_maps else None)


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

    def __init__(self, layer: str, style: torch.Tensor | list[StyleLayer], style_channels: torch.Tensor | None,
                 target_channels: torch.Tensor | None, semantic_weight: float,
                 matcher: str = "exact", matcher_options: dict | None = None, by_label: bool = False,
                 rematch_every: int = 1) -> None:
        """`style` is one style's features (1, C, H, W) with `style_channels` its map, or a list of
        `StyleLayer` samples (several styles, augmented copies) whose banks are pooled; then
        `style_channels` is unused, each sample carries its own."""
        self.layer = layer
        samples = style if isinstance(style, list) else [StyleLayer(style, style_channels)]
        style_patches, pooled_map_patches = pooled_patches(samples)
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
        if pooled_map_patches is not None and target_channels is not None and semantic_weight > 0:
            style_map_patches = pooled_map_patches
            self.target_map_patches = extract_patches(target_channels)
        bank = semantic_descriptors(style_patches, style_map_patches, semantic_weight)
        if by_label and style_map_patches is not None:
            labels = target_channels.shape[1]
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


def gram_matrix(features: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """(1, C, H, W) -> (C, C) Gram matrix F F^T / M, the mean over the M positions; with `weights`
    (H, W), a weighted mean: the masked Gram of one label, normalised by its area."""
    flat = features.flatten(2)[0]
    if weights is None:
        return flat @ flat.T / flat.shape[1]
    return region_gram(flat, *label_region(weights))


def label_region(weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For a (H, W) mask: the flat positions it covers, its weights there, and its area."""
    weights = weights.flatten()
    # Only the label's own cells (and its soft edges) take part: with K labels this makes the K
    # masked Grams cost about one plain Gram, not K of them.
    inside = weights.nonzero().squeeze(1)
    return inside, weights[inside], weights.sum().clamp_min(1e-8)


def region_gram(flat: torch.Tensor, inside: torch.Tensor, weights: torch.Tensor, area: torch.Tensor) -> torch.Tensor:
    """The weighted Gram of (C, M) features over the positions `inside` (see `label_region`)."""
    selected = flat.index_select(1, inside)
    return (selected * weights) @ selected.T / area


def gram_distance(gram: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gatys' E_l = sum (G - A)^2 / (4 N^2 M^2) for N channels; Grams here are already divided by M
    (each by its own image's M, so the painting and the style may differ in size)."""
    return (gram - target).pow(2).sum() / (4 * gram.shape[0] ** 2)


# A label takes part in a masked Gram loss when it covers at least this many cells of the layer on
# both sides: below one cell its Gram is the statistics of a blurred edge, not of a region.
MIN_LABEL_CELLS = 1.0


class GramLoss:
    """Gatys' style loss on one layer: the painting's Gram matrix pulled toward the style's.

    With maps it becomes the masked (semantic) Gram loss: one Gram matrix per label, computed on
    features weighted by the label's downsampled map and normalised by its area, so every region
    takes the statistics of its own label; labels count by their share of the painting. Several
    styles blend their (per-label) Grams with their weights. The loss is divided by its value for an
    all-zero image, like the other terms."""

    def __init__(self, layer: str, styles: list[tuple[torch.Tensor, torch.Tensor | None, float]],
                 target_channels: torch.Tensor | None) -> None:
        """`styles` holds (features (1, C, H, W), label channels (1, K, H, W) or None, weight) per style."""
        self.layer = layer
        self.stats = TermStats()
        self.target_channels = target_channels
        self.masks: torch.Tensor | None = None
        with_maps = target_channels is not None and all(channels is not None for _, channels, _ in styles)
        present, targets = self._blended_targets(styles, with_maps)
        if not targets:  # every label thinner than a cell at this layer: one Gram for the whole picture
            with_maps = False
            present, targets = self._blended_targets(styles, with_maps)
        self.labels = present
        self.targets = torch.stack(targets)
        self.with_maps = with_maps
        # Without maps the scale is fixed now; with maps it depends on the label shares in the
        # painting's grid, known at the first call.
        self.scale = gram_distance(torch.zeros_like(self.targets[0]), self.targets[0]).clamp_min(1e-12)

    @staticmethod
    def _blended_targets(styles: list[tuple[torch.Tensor, torch.Tensor | None, float]],
                         with_maps: bool) -> tuple[list[int], list[torch.Tensor]]:
        """The labels some style has, and for each the styles' Grams averaged with their weights."""
        labels = styles[0][1].shape[1] if with_maps else 1
        present, targets = [], []
        for label in range(labels):
            blended, total = None, 0.0
            for features, channels, weight in styles:
                mask = channels[0, label] if with_maps else None
                if weight <= 0 or (mask is not None and mask.sum() < MIN_LABEL_CELLS):
                    continue
                gram = gram_matrix(features, mask) * weight
                blended, total = (gram if blended is None else blended + gram), total + weight
            if blended is not None:
                targets.append(blended / total)
                present.append(label)
        return present, targets

    def _target_masks(self, grid: tuple[int, int]) -> torch.Tensor:
        if self.masks is None or tuple(self.masks.shape[-2:]) != grid:
            self.masks = resize_channels(self.target_channels, grid)[0, self.labels]
            areas = self.masks.flatten(1).sum(1)
            # Labels thinner than a cell here would pull toward statistics they cannot show.
            self.shares = torch.where(areas >= MIN_LABEL_CELLS, areas, torch.zeros_like(areas))
            if self.shares.sum() == 0:  # every region thinner than a cell here: count them all rather than none
                self.shares = areas
            self.shares = self.shares / self.shares.sum().clamp_min(1e-8)
            self.scale = sum(share * gram_distance(torch.zeros_like(target), target)
                             for share, target in zip(self.shares, self.targets)).clamp_min(1e-12)
            # Fixed for the phase: found once here, not at every evaluation (on a GPU each
            # nonzero() and each test of a share would wait for the device).
            self.regions = [(label_region(mask), share, target)
                            for mask, share, target in zip(self.masks, self.shares, self.targets) if share.item() > 0]
        return self.masks

    def __call__(self, image: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        layer_features = features[self.layer]
        if not self.with_maps:
            return gram_distance(gram_matrix(layer_features), self.targets[0]) / self.scale
        self._target_masks(tuple(layer_features.shape[-2:]))
        flat = layer_features.flatten(2)[0]
        loss = layer_features.new_zeros(())
        for region, share, target in self.regions:
            loss = loss + share * gram_distance(region_gram(flat, *region), target)
        return loss / self.scale


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
