"""Gatys' Gram loss, and its masked (semantic) form with one Gram per label.

`GramTargets` is the style side, computed once; `GramLoss` scores one painting against it. The
maths is in plain functions (`gram_matrix`, `gram_distance`, `masked_gram_distance`...). See
`losses.py` for the interface all terms share.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .losses import TermStats, one_image
from .semantic import resize_channels


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
