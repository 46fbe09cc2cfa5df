"""Loss terms: pure functions for the maths, beside thin callable modules that hold per-phase state.

Every module is built once per phase (all style-side work happens there) and then called at each
evaluation as `term(image, features) -> scalar`; each one satisfies `LossTerm`. A trainer that
wants the maths without the state calls the functions (`folded_patch_distance`, `fold_matches`,
`gram_distance`, `total_variation`...) directly. Feature losses are divided by the mean square of
their reference features, so weights mean the same with VGG19 (0-1 inputs) and Caffe VGG16 (0-255
inputs), and layers of different magnitude count alike. Style terms come in two kinds:
`SemanticPatchLoss` (nearest 3x3 patches, pooled over several style images and their augmented
copies) and `GramLoss` (Gatys' Gram matrices, one per label when there are maps).

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

import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from .matching import PATCH_SIZE, LabelPartitionedMatcher, PatchMatcher, extract_patches, make_matcher, normalise_rows
from .semantic import resize_channels


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


def patch_count(grid: tuple[int, int]) -> int:
    """How many 3x3 patches a (H, W) grid holds."""
    return (grid[0] - PATCH_SIZE + 1) * (grid[1] - PATCH_SIZE + 1)


def patch_coverage(grid: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
    """(1, 1, H, W): how many 3x3 patches cover each cell (1 in the corners, 9 inside)."""
    return F.fold(torch.ones(1, PATCH_SIZE**2, patch_count(grid), device=device), grid, kernel_size=PATCH_SIZE)


def fold_matches(style_columns: torch.Tensor, style_energy: torch.Tensor, index: torch.Tensor,
                 grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The matched style patches folded back onto the (H, W) grid, overlaps summed (1, C, H, W),
    and their summed squared norms (a scalar).

    `style_columns` is the bank as (C*9, patches) and `style_energy` each bank patch's squared norm;
    `index` holds, for each patch of the grid in `extract_patches` order, its match in the bank."""
    folded_target = F.fold(style_columns.index_select(1, index)[None], grid, kernel_size=PATCH_SIZE)
    return folded_target, style_energy[index].sum()


def folded_patch_distance(features: torch.Tensor, coverage: torch.Tensor, folded_target: torch.Tensor,
                          matched_energy: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between every 3x3 patch of `features` (1, C, H, W) and its matched
    style patch, divided by `scale`: what relative_mse(extract_patches(features), matched, scale)
    gives, from `patch_coverage` and `fold_matches`.

    The sum_i |p_i - s_i|^2 over all patches equals sum(coverage * F^2) - 2 sum(F * T) + sum_i
    |s_i|^2, where T is the folded matches. Evaluating it on the (C, H, W) grid instead of the 9x
    larger (patches, C*9) matrix keeps unfold, gather and their backward out of every evaluation."""
    elements = len(features) * features.shape[1] * PATCH_SIZE**2 * patch_count(tuple(features.shape[-2:]))
    squared_distance = ((coverage * features.pow(2)).sum()
                        - 2 * (folded_target * features).sum() + matched_energy)
    # Rounding can take the difference of large sums a little below zero when the matches are exact.
    return squared_distance.clamp_min(0) / elements / scale


class PatchBank:
    """The style side of the patch loss at one layer, built once and shared by every painting it
    scores: the pooled patches in column layout with their energies, the search descriptors, and
    (searching by label) one matcher per label, made the first time a painting has that label.

    The optimisation path builds one per phase; a trainer keeps one for the whole training, since
    only the painting's map changes from one example to the next."""

    def __init__(self, samples: list[StyleLayer], semantic_weight: float, with_maps: bool, matcher: str = "exact",
                 matcher_options: dict | None = None, by_label: bool = False) -> None:
        style_patches, pooled_map_patches = pooled_patches(samples)
        self.scale = style_patches.pow(2).mean().clamp_min(1e-12)
        # Column layout and energies for folding matches at every search; the row layout is not
        # kept (at 1024x768 it would be 450 MB more).
        self.style_columns = style_patches.T.contiguous()
        self.style_energy = style_patches.pow(2).sum(1)
        self.semantic_weight = semantic_weight
        self.matcher_name = matcher
        self.matcher_options = matcher_options or {}
        # Maps steer the search when both sides have them and they weigh something.
        self.map_patches = pooled_map_patches if with_maps and semantic_weight > 0 else None
        self.descriptors = semantic_descriptors(style_patches, self.map_patches, semantic_weight)
        self.by_label = by_label and self.map_patches is not None
        self.bank_labels: torch.Tensor | None = None
        self.label_matchers: dict[int | None, tuple[torch.Tensor, PatchMatcher]] = {}
        self.whole_matcher: PatchMatcher | None = None

    @property
    def uses_maps(self) -> bool:
        return self.map_patches is not None

    def matcher_for(self, target_map_patches: torch.Tensor | None) -> PatchMatcher:
        """The search for a painting whose map patches are `target_map_patches` (None without maps)."""
        if not self.by_label or target_map_patches is None:
            if self.whole_matcher is None:
                self.whole_matcher = make_matcher(self.matcher_name, self.descriptors, **self.matcher_options)
            return self.whole_matcher
        labels = target_map_patches.shape[1] // PATCH_SIZE**2
        if self.bank_labels is None:
            self.bank_labels, _ = patch_labels(self.map_patches, labels)
        _, query_labels = patch_labels(target_map_patches, labels)
        return LabelPartitionedMatcher(self.descriptors, self.bank_labels, query_labels, self.matcher_name,
                                       cache=self.label_matchers, **self.matcher_options)


class SemanticPatchLoss:
    """Pulls every 3x3 patch of one layer toward its nearest style patch (features and map).

    `bank` holds the style side (see `PatchBank`). `target_channels` is the painting's map on this
    layer's grid, or None.
    `rematch_every` k > 1 searches at the first evaluation and then every k-th, pulling toward the
    last matches in between: L-BFGS moves the image a little per step, so most matches hold, and
    the loss between searches is a plain quadratic that L-BFGS handles well. Stale matches cost
    some quality: on the Monet coastline, k=4 searches 4x less often and ends with a style loss
    about 6% above searching at every evaluation (k=8: 12%). A bank made `by_label` searches each
    patch only among style patches of its own label (see `LabelPartitionedMatcher`); it needs maps
    and finds the same matches inside labels when the semantic weight is at least 1.
    """

    def __init__(self, layer: str, bank: PatchBank, target_channels: torch.Tensor | None,
                 rematch_every: int = 1) -> None:
        self.layer = layer
        self.stats = TermStats()
        self.bank = bank
        self.scale = bank.scale
        self.style_columns = bank.style_columns
        self.style_energy = bank.style_energy
        self.semantic_weight = bank.semantic_weight
        self.target_map_patches: torch.Tensor | None = None
        if bank.uses_maps and target_channels is not None:
            self.target_map_patches = extract_patches(target_channels)
        self.rematch_every = rematch_every
        self.evaluations = 0
        # The last search and its fold, renewed every `rematch_every` evaluations.
        self.index: torch.Tensor | None = None
        self.folded_target: torch.Tensor | None = None
        self.matched_energy: torch.Tensor | None = None
        self.coverage: torch.Tensor | None = None
        self.matcher: PatchMatcher = bank.matcher_for(self.target_map_patches)

    def nearest(self, patches: torch.Tensor) -> torch.Tensor:
        """For (patches, C*9) feature patches of the painting, the index of each one's match in the bank."""
        started = time.perf_counter()
        queries = semantic_descriptors(patches.detach().float(), self.target_map_patches, self.semantic_weight)
        index, _ = self.matcher.match(queries)
        self.stats.match_seconds += time.perf_counter() - started
        self.stats.searches += 1
        return index

    @torch.no_grad()
    def _rematch(self, features: torch.Tensor) -> None:
        self.index = self.nearest(extract_patches(features))
        grid = tuple(features.shape[-2:])
        self.folded_target, self.matched_energy = fold_matches(self.style_columns, self.style_energy, self.index, grid)
        if self.coverage is None or self.coverage.shape[-2:] != grid:
            self.coverage = patch_coverage(grid, features.device)

    def __call__(self, image: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        layer_features = one_image(features[self.layer], "SemanticPatchLoss", self.layer)
        if self.index is None or self.evaluations % self.rematch_every == 0:
            self._rematch(layer_features.detach())
        self.evaluations += 1
        return folded_patch_distance(layer_features, self.coverage, self.folded_target, self.matched_energy,
                                     self.scale)


def gram_matrix(features: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """(1, C, H, W) -> (C, C) Gram matrix F F^T / M, the mean over the M positions; with `weights`
    (H, W), a weighted mean: the masked Gram of one label, normalised by its area."""
    flat = features.flatten(2)[0]
    if weights is None:
        return flat @ flat.T / flat.shape[1]
    return region_gram(flat, *label_region(weights))


# A label's cells on one grid: flat positions, weights there, area (see `label_region`).
Region = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def label_region(weights: torch.Tensor) -> Region:
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


def masked_gram_distance(features: torch.Tensor,
                         regions: list[tuple[Region, torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """The masked Gram loss of (1, C, H, W) features: for each (region, share, target Gram), the
    region's Gram distance to its target, weighted by the region's share of the painting."""
    flat = features.flatten(2)[0]
    loss = features.new_zeros(())
    for region, share, target in regions:
        loss = loss + share * gram_distance(region_gram(flat, *region), target)
    return loss


# A label takes part in a masked Gram loss when it covers at least this many cells of the layer on
# both sides: below one cell its Gram is the statistics of a blurred edge, not of a region.
MIN_LABEL_CELLS = 1.0


def blended_gram_targets(styles: list[tuple[torch.Tensor, torch.Tensor | None, float]],
                         with_maps: bool) -> tuple[list[int], list[torch.Tensor]]:
    """The labels some style has, and for each the styles' Grams averaged with their weights
    (one label, the whole picture, without maps)."""
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


def label_shares(areas: torch.Tensor) -> torch.Tensor:
    """Each label's share of the painting from its area in cells. Labels thinner than a cell get
    none: they would pull toward statistics they cannot show. When all are that thin, all count
    rather than none."""
    shares = torch.where(areas >= MIN_LABEL_CELLS, areas, torch.zeros_like(areas))
    if shares.sum() == 0:
        shares = areas
    return shares / shares.sum().clamp_min(1e-8)


@dataclass(frozen=True)
class GramTargets:
    """The style side of the Gram loss at one layer, computed once: the Gram of each label (with
    maps) blended over the styles by weight, and the one Gram of the whole picture. A trainer keeps
    them for the whole training; only the painting's map changes."""

    labels: list[int]  # the labels some style has (with maps), else [0]
    grams: torch.Tensor  # (labels, C, C)
    with_maps: bool
    whole_gram: torch.Tensor | None = None  # (1, C, C) without maps, when `grams` are per label

    @classmethod
    def from_styles(cls, styles: list[tuple[torch.Tensor, torch.Tensor | None, float]], with_maps: bool
                    ) -> "GramTargets":
        """`styles` holds (features (1, C, H, W), label channels (1, K, H, W) or None, weight)."""
        with_maps = with_maps and all(channels is not None for _, channels, _ in styles)
        _, whole = blended_gram_targets(styles, False)
        if with_maps:
            present, targets = blended_gram_targets(styles, True)
            if targets:
                return cls(present, torch.stack(targets), True, torch.stack(whole))
        # every label thinner than a cell at this layer: one Gram for the whole picture
        return cls([0], torch.stack(whole), False)

    @property
    def whole(self) -> "GramTargets":
        return self if not self.with_maps else GramTargets([0], self.whole_gram, False)


class GramLoss:
    """Gatys' style loss on one layer: the painting's Gram matrix pulled toward the style's.

    With maps it becomes the masked (semantic) Gram loss: one Gram matrix per label, computed on
    features weighted by the label's downsampled map and normalised by its area, so every region
    takes the statistics of its own label; labels count by their share of the painting. Several
    styles blend their (per-label) Grams with their weights. The loss is divided by its value for an
    all-zero image, like the other terms."""

    def __init__(self, layer: str, targets: GramTargets, target_channels: torch.Tensor | None) -> None:
        """`targets` are the style's Grams at this layer (see `GramTargets`); `target_channels` is
        the painting's map (any grid), or None for one Gram over the whole picture."""
        self.layer = layer
        self.stats = TermStats()
        self.target_channels = target_channels
        with_maps = target_channels is not None and targets.with_maps
        if not with_maps:
            targets = targets.whole
        self.labels = targets.labels
        self.targets = targets.grams
        self.with_maps = with_maps
        # With maps, these follow the painting's grid, known at the first call.
        self.masks: torch.Tensor | None = None
        self.shares: torch.Tensor | None = None
        self.regions: list[tuple[Region, torch.Tensor, torch.Tensor]] = []
        # Without maps the scale is fixed now; with maps it depends on the label shares in the
        # painting's grid, and is set again with them.
        self.scale = gram_distance(torch.zeros_like(self.targets[0]), self.targets[0]).clamp_min(1e-12)

    def _fit_to_grid(self, grid: tuple[int, int]) -> None:
        if self.masks is not None and tuple(self.masks.shape[-2:]) == grid:
            return
        self.masks = resize_channels(self.target_channels, grid)[0, self.labels]
        self.shares = label_shares(self.masks.flatten(1).sum(1))
        self.scale = sum(share * gram_distance(torch.zeros_like(target), target)
                         for share, target in zip(self.shares, self.targets)).clamp_min(1e-12)
        # Fixed for the phase: found once here, not at every evaluation (on a GPU each
        # nonzero() and each test of a share would wait for the device).
        self.regions = [(label_region(mask), share, target)
                        for mask, share, target in zip(self.masks, self.shares, self.targets) if share.item() > 0]

    def __call__(self, image: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        layer_features = one_image(features[self.layer], "GramLoss", self.layer)
        if not self.with_maps:
            return gram_distance(gram_matrix(layer_features), self.targets[0]) / self.scale
        self._fit_to_grid(tuple(layer_features.shape[-2:]))
        return masked_gram_distance(layer_features, self.regions) / self.scale


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
