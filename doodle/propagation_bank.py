"""The style side of propagation search kept as feature maps, and the patch loss that uses it.

An exact search scores every style patch, so it needs each patch as a row of C*9 numbers: nine
times the feature map, and several copies of that (raw, unit, by label). A propagation search only
ranks a few candidates per query and folds the winners into place, so `PropagationBank` keeps:

- each style sample's feature map, as rows of cells (cells, C): a matched patch is nine cells, and
  `fold` gathers them straight into the painting's grid;
- each bank patch's energy (squared norm), where it sits (`BankLayout`) and which labels it touches;
- each patch's unit descriptor (features and map, as `semantic_descriptors` makes it) projected on
  the bank's leading principal directions, for ranking candidates. The projection of every 3x3
  patch on a direction is a convolution of the map with that direction, and a patch's norm a 3x3
  box sum, so no patch row is made, for the bank or for the painting at each search.

Full descriptors are made only for the exact search that starts a field where nothing seeds it
(the coarsest phase), and dropped after it. At 2048x1536 this is what lets the banks fit: the
relu3_1 patch rows of one style copy alone would be 1.8 GB, its feature map is 0.2 GB.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from .matching import (
    PATCH_SIZE,
    LabelPartitionedMatcher,
    extract_patches,
    fast_bfloat16,
    make_matcher,
    normalise_rows,
)
from .patch_loss import (
    FoldedPatchLoss,
    StyleLayer,
    kept_patches,
    patch_coverage,
    pooled_patches,
    semantic_descriptors,
)
from .propagation import PCA_ROWS, RANKING_DIMS, BankLayout, FieldSearch, principal_directions, upsampled_field

EPSILON = 1e-8  # as `normalise_rows`: an all-zero patch (dead ReLUs, no label) stays zero


def box_sum(values: torch.Tensor) -> torch.Tensor:
    """(1, K, H, W) -> (1, K, H-2, W-2): the sum over every 3x3 window."""
    return F.avg_pool2d(values, PATCH_SIZE, stride=1) * PATCH_SIZE**2


def patch_norms(values: torch.Tensor) -> torch.Tensor:
    """(1, 1, H-2, W-2): the norm of every 3x3 patch of `values` (1, K, H, W), all channels."""
    return box_sum(values.pow(2).sum(1, keepdim=True)).sqrt()


def unit_part(norms: torch.Tensor) -> torch.Tensor:
    """1 where a patch has a norm, 0 where it is all zero: the norm of the patch once normalised."""
    return norms / norms.clamp_min(EPSILON)


def cell_rows(features: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) -> (H*W, C): one row per cell, so that a patch is nine whole rows."""
    return features[0].permute(1, 2, 0).reshape(-1, features.shape[1])


def gathered_patches(features: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """The 3x3 patches at flat patch positions `positions` of `features` (1, C, H, W), as
    `extract_patches(features)[positions]` gives them (channel-major), without making the others."""
    channels, _, width = features.shape[1:]
    patch_width = width - PATCH_SIZE + 1
    corner = (positions // patch_width) * width + positions % patch_width
    offsets = torch.tensor([dy * width + dx for dy in range(PATCH_SIZE) for dx in range(PATCH_SIZE)],
                           device=features.device)
    cells = features.reshape(channels, -1)[:, corner[:, None] + offsets]  # (C, n, 9)
    return cells.permute(1, 0, 2).reshape(len(positions), channels * PATCH_SIZE**2)


class PropagationBank:
    """The style side of the patch loss at one layer for propagation search (see the module).
    `with_maps` and `semantic_weight` mean what they mean for `PatchBank`; `by_label` keeps every
    match inside its query's label. `exact` names the matcher of a field's first search."""

    def __init__(self, samples: list[StyleLayer], semantic_weight: float, with_maps: bool, by_label: bool = False,
                 exact: str | None = None, matcher_options: dict | None = None) -> None:
        device = samples[0].features.device
        self.samples = samples  # for the full descriptors of an exact first search; the features exist anyway
        self.semantic_weight = semantic_weight
        self.uses_maps = with_maps and semantic_weight > 0 and all(s.channels is not None for s in samples)
        self.by_label = by_label and self.uses_maps
        self.exact = exact or ("bf16" if fast_bfloat16(device) else "exact")
        # The projections are convolutions as large as a network layer at every search; in bfloat16
        # where it is native they take half the time (0.07 s against 0.13 s at relu3_1 of 1024x768),
        # and the ranking tolerates the rounding (a near tie decided either way costs little).
        self.projection_dtype = torch.bfloat16 if fast_bfloat16(device) else torch.float32
        self.matcher_options = matcher_options or {}
        kept = [kept_patches(sample) for sample in samples]
        grids = [tuple(n - PATCH_SIZE + 1 for n in sample.features.shape[-2:]) for sample in samples]
        self.layout = BankLayout.of(grids, kept)
        self.channels = samples[0].features.shape[1]
        self.cells = torch.cat([cell_rows(sample.features) for sample in samples])
        cell_counts = torch.tensor([h * w for h, w in (s.features.shape[-2:] for s in samples)], device=device)
        self.cell_offsets = torch.cumsum(cell_counts, 0) - cell_counts
        self.cell_widths = self.layout.widths + PATCH_SIZE - 1
        self.energy = torch.cat([box_sum(sample.features.pow(2).sum(1, keepdim=True)).reshape(-1)[rows]
                                 for sample, rows in zip(samples, kept)])
        # The mean square of the bank's patch entries, as `PatchBank.scale`.
        self.scale = (self.energy.mean() / (self.channels * PATCH_SIZE**2)).clamp_min(1e-12)
        self.bank_labels: torch.Tensor | None = None
        if self.uses_maps:
            self.bank_labels = torch.cat([F.max_pool2d(sample.channels, PATCH_SIZE, stride=1)[0].flatten(1).T[rows] > 0
                                          for sample, rows in zip(samples, kept)])
        self._fit_directions(kept)
        self.ranking = torch.cat([self.rank(sample.features, self.map_term(sample.channels))[rows]
                                  for sample, rows in zip(samples, kept)])

    def _fit_directions(self, kept: list[torch.Tensor]) -> None:
        """The principal directions of a regular sample of the bank's unit descriptors, as
        convolution weights for the feature part (R, C, 3, 3) and the map part (R, K, 3, 3)."""
        total = sum(len(rows) for rows in kept)
        step = max(1, total // PCA_ROWS)
        feature_rows, map_rows, start = [], [], 0
        for sample, rows in zip(self.samples, kept):
            chosen = rows[(torch.arange(len(rows), device=rows.device) + start) % step == 0]
            start += len(rows)
            feature_rows.append(gathered_patches(sample.features, chosen))
            if self.uses_maps:
                map_rows.append(gathered_patches(sample.channels, chosen))
        descriptors = semantic_descriptors(torch.cat(feature_rows), torch.cat(map_rows) if self.uses_maps else None,
                                           self.semantic_weight)
        basis = principal_directions(normalise_rows(descriptors), RANKING_DIMS)
        split = self.channels * PATCH_SIZE**2
        self.feature_directions = basis[:split].T.reshape(-1, self.channels, PATCH_SIZE, PATCH_SIZE).to(
            self.projection_dtype).contiguous()
        self.map_directions = None
        if self.uses_maps:
            self.map_directions = basis[split:].T.reshape(len(basis.T), -1, PATCH_SIZE, PATCH_SIZE).contiguous()

    def map_term(self, channels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The map part of the ranking of every patch of `channels` (1, K, H, W), with its share of
        the squared descriptor norm; a painting's map is fixed for a phase, so this is made once."""
        if not self.uses_maps or channels is None:
            return None
        norms = patch_norms(channels)
        projected = F.conv2d(channels, self.map_directions) * (self.semantic_weight / norms.clamp_min(EPSILON))
        return projected, (self.semantic_weight * unit_part(norms)).pow(2)

    def rank(self, features: torch.Tensor, map_term: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """(patches, R): every 3x3 patch's unit descriptor projected on the directions, in
        `extract_patches` order."""
        norms = patch_norms(features)
        projected = F.conv2d(features.to(self.projection_dtype), self.feature_directions).float()
        projected = projected / norms.clamp_min(EPSILON)
        squared = unit_part(norms).pow(2)
        if map_term is not None:
            projected = projected + map_term[0]
            squared = squared + map_term[1]
        projected = projected / squared.sqrt().clamp_min(EPSILON)
        return projected[0].flatten(1).T.contiguous()

    def exact_search(self, queries: torch.Tensor, query_labels: torch.Tensor | None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact matches of full query descriptors, by label when `query_labels` is given: the
        bank's full descriptors are made for this search alone."""
        feature_rows, map_rows = pooled_patches(self.samples)
        bank = semantic_descriptors(feature_rows, map_rows if self.uses_maps else None, self.semantic_weight)
        del feature_rows, map_rows
        if query_labels is None:
            return make_matcher(self.exact, bank, **self.matcher_options).match(queries)
        return LabelPartitionedMatcher(bank, self.bank_labels, query_labels, self.exact,
                                       **self.matcher_options).match(queries)

    def fold(self, index: torch.Tensor, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """What `fold_matches` gives for matches `index` on the patch grid `grid`: the matched
        patches summed into place (1, C, H, W) and their summed energies. Each of a patch's nine
        cells is one gathered row of the style's feature map."""
        layout = self.layout
        sample = layout.sample[index]
        width = self.cell_widths[sample]
        corner = self.cell_offsets[sample] + layout.y[index] * width + layout.x[index]
        height, patches_wide = grid
        target = torch.zeros(height + PATCH_SIZE - 1, patches_wide + PATCH_SIZE - 1, self.channels,
                             device=self.cells.device)
        for dy in range(PATCH_SIZE):
            for dx in range(PATCH_SIZE):
                rows = self.cells.index_select(0, corner + dy * width + dx)
                target[dy: dy + height, dx: dx + patches_wide] += rows.view(height, patches_wide, self.channels)
        # (C, H, W) over the (H, W, C) storage: the channels-last layout the network's features have.
        return target.permute(2, 0, 1)[None], self.energy[index].sum()


def main_labels(channels: torch.Tensor) -> torch.Tensor:
    """The label covering most of each 3x3 patch of `channels` (1, K, H, W), as `patch_labels` finds it."""
    return box_sum(channels)[0].flatten(1).argmax(0)


class PropagatedPatchLoss(FoldedPatchLoss):
    """The semantic patch loss over a `PropagationBank`: each search improves the last one's field
    (or the coarser phase's, from `fields`), ranked from the painting's feature map."""

    def __init__(self, layer: str, bank: PropagationBank, target_channels: torch.Tensor | None,
                 rematch_every: int = 1, fields: dict | None = None, seed: int = 0) -> None:
        super().__init__(layer, bank.scale, rematch_every)
        self.bank = bank
        self.fields = fields
        self.target_channels = target_channels if bank.uses_maps else None
        self.map_term = bank.map_term(self.target_channels)
        self.query_labels = main_labels(target_channels) if bank.by_label and target_channels is not None else None
        self.search = FieldSearch(bank.ranking, bank.layout, self.query_labels,
                                  bank.bank_labels if self.query_labels is not None else None, seed=seed)

    def _exact_start(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        map_patches = extract_patches(self.target_channels) if self.target_channels is not None else None
        queries = semantic_descriptors(extract_patches(features), map_patches, self.bank.semantic_weight)
        return self.bank.exact_search(queries, self.query_labels)

    @torch.no_grad()
    def _rematch(self, features: torch.Tensor) -> None:
        started = time.perf_counter()
        grid = tuple(n - PATCH_SIZE + 1 for n in features.shape[-2:])
        previous = self.fields.get(self.layer) if self.fields is not None else None
        if self.search.field is None and previous is not None and previous[3] != grid:
            self.search.seed(upsampled_field(*previous, grid, self.bank.layout))
        ranked = self.bank.rank(features, self.map_term)
        self.index, _ = self.search.search(ranked, grid, lambda: self._exact_start(features))
        if self.fields is not None:
            self.fields[self.layer] = self.search.positions()
        self.stats.match_seconds += time.perf_counter() - started
        self.stats.searches += 1
        self.folded_target, self.matched_energy = self.bank.fold(self.index, grid)
        if self.coverage is None or self.coverage.shape[-2:] != features.shape[-2:]:
            self.coverage = patch_coverage(tuple(features.shape[-2:]), features.device)
