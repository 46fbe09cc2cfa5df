"""The semantic patch loss (Li & Wand's CNNMRF with Champandard's maps): every 3x3 patch of a
layer is pulled toward its nearest style patch by normalised cross-correlation of features and map.

`PatchBank` is the style side, built once; `SemanticPatchLoss` scores one painting against it.
The maths is in plain functions (`semantic_descriptors`, `fold_matches`, `folded_patch_distance`...)
for callers that want it without the state. See `losses.py` for the interface all terms share.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .losses import TermStats, one_image
from .matching import PATCH_SIZE, LabelPartitionedMatcher, PatchMatcher, extract_patches, make_matcher, normalise_rows


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


def kept_patches(sample: StyleLayer) -> torch.Tensor:
    """The positions (flat, in `extract_patches` order) of the sample's patches that enter a bank.

    Patches that reach into a copy's empty corners are left out; the sample then keeps `share` of
    its patches, drawn at random over the image, so a style blended at 0.3 next to one at 0.7
    offers 3/7 as many patches per unit of area."""
    height, width = sample.features.shape[-2:]
    keep = torch.arange(patch_count((height, width)), device=sample.features.device)
    if sample.valid is not None:
        # a cell counts when it is (almost) all image; a patch when all 9 cells do
        keep = keep[extract_patches(sample.valid).amin(1) > 0.99]
    if sample.share < 1 and len(keep):  # a turned copy may have no whole patch at a deep layer
        keep = keep[random_subset(len(keep), max(1, round(len(keep) * sample.share)), keep.device)]
    return keep


def pooled_patches(samples: list[StyleLayer]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The 3x3 feature patches (and map patches) of several style samples in one bank, in the
    order of `kept_patches`."""
    feature_rows, map_rows = [], []
    with_maps = all(sample.channels is not None for sample in samples)
    for sample in samples:
        patches = extract_patches(sample.features)
        keep = kept_patches(sample)
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

    The optimisation path builds one per phase and scores one painting with it; a trainer keeps one
    (`reusable`) for the whole training, since only the painting's map changes from one example to
    the next. A bank that is not reusable lets go of its search descriptors once its matcher is
    made: at 1024x768 they are hundreds of MB that the matcher holds in its own form anyway."""

    def __init__(self, samples: list[StyleLayer], semantic_weight: float, with_maps: bool, matcher: str = "exact",
                 matcher_options: dict | None = None, by_label: bool = False, reusable: bool = False) -> None:
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
        self.uses_maps = self.map_patches is not None
        self.descriptors: torch.Tensor | None = semantic_descriptors(style_patches, self.map_patches, semantic_weight)
        self.by_label = by_label and self.uses_maps
        self.reusable = reusable
        self.bank_labels: torch.Tensor | None = None
        self.label_matchers: dict[int | None, tuple[torch.Tensor, PatchMatcher]] = {}
        self.whole_matcher: PatchMatcher | None = None

    def matcher_for(self, target_map_patches: torch.Tensor | None) -> PatchMatcher:
        """The search for a painting whose map patches are `target_map_patches` (None without maps)."""
        if self.descriptors is None:
            raise RuntimeError("this PatchBank was made for one painting; make it reusable to score more")
        query_labels = None
        if self.by_label and target_map_patches is not None:
            labels = target_map_patches.shape[1] // PATCH_SIZE**2
            if self.bank_labels is None:
                self.bank_labels, _ = patch_labels(self.map_patches, labels)
            _, query_labels = patch_labels(target_map_patches, labels)
        if query_labels is None:
            if self.whole_matcher is None:
                self.whole_matcher = make_matcher(self.matcher_name, self.descriptors, **self.matcher_options)
            matcher = self.whole_matcher
        else:
            matcher = LabelPartitionedMatcher(self.descriptors, self.bank_labels, query_labels, self.matcher_name,
                                              cache=self.label_matchers, **self.matcher_options)
        if not self.reusable:
            self.descriptors = self.map_patches = None
        return matcher


class FoldedPatchLoss:
    """What every patch loss shares: it searches (`_rematch`, which sets `index`, `folded_target`,
    `matched_energy` and `coverage`) at the first evaluation and then at every `rematch_every`-th,
    and pulls toward the last matches in between: L-BFGS moves the image a little per step, so most
    matches hold, and the loss between searches is a plain quadratic that L-BFGS handles well. Stale
    matches cost some quality: on the Monet coastline with an exact search, k=4 searches 4x less
    often and ends with a style loss about 6% above searching at every evaluation (k=8: 12%)."""

    def __init__(self, layer: str, scale: torch.Tensor, rematch_every: int) -> None:
        self.layer = layer
        self.stats = TermStats()
        self.scale = scale
        self.rematch_every = rematch_every
        self.evaluations = 0
        # The last search and its fold, renewed every `rematch_every` evaluations.
        self.index: torch.Tensor | None = None
        self.folded_target: torch.Tensor | None = None
        self.matched_energy: torch.Tensor | None = None
        self.coverage: torch.Tensor | None = None

    def _rematch(self, features: torch.Tensor) -> None:
        raise NotImplementedError

    def __call__(self, image: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        layer_features = one_image(features[self.layer], type(self).__name__, self.layer)
        if self.index is None or self.evaluations % self.rematch_every == 0:
            self._rematch(layer_features.detach())
        self.evaluations += 1
        return folded_patch_distance(layer_features, self.coverage, self.folded_target, self.matched_energy,
                                     self.scale)


class SemanticPatchLoss(FoldedPatchLoss):
    """Pulls every 3x3 patch of one layer toward its nearest style patch (features and map).

    `bank` holds the style side (see `PatchBank`). `target_channels` is the painting's map on this
    layer's grid, or None. For `rematch_every`, see `FoldedPatchLoss`. A bank made `by_label`
    searches each patch only among style patches of its own label (see `LabelPartitionedMatcher`);
    it needs maps and finds the same matches inside labels when the semantic weight is at least 1.
    """

    def __init__(self, layer: str, bank: PatchBank, target_channels: torch.Tensor | None,
                 rematch_every: int = 1) -> None:
        super().__init__(layer, bank.scale, rematch_every)
        self.bank = bank
        self.style_columns = bank.style_columns
        self.style_energy = bank.style_energy
        self.semantic_weight = bank.semantic_weight
        self.target_map_patches: torch.Tensor | None = None
        if bank.uses_maps and target_channels is not None:
            self.target_map_patches = extract_patches(target_channels)
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
        grid = tuple(features.shape[-2:])
        self.index = self.nearest(extract_patches(features))
        self.folded_target, self.matched_energy = fold_matches(self.style_columns, self.style_energy, self.index, grid)
        if self.coverage is None or self.coverage.shape[-2:] != grid:
            self.coverage = patch_coverage(grid, features.device)
