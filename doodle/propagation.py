"""Propagation search (PatchMatch: Barnes et al. 2009, as Deep Image Analogy uses it across layers
and phases): nearest style patches found by improving a field of matches instead of scoring every
style patch.

Each query patch of the painting keeps a match; a round tries, for every query at once, the
matches its four neighbours suggest (the neighbour's match shifted by the same step: textures are
coherent), then random style patches near its match at shrinking radii, then a random patch of its
own label, and keeps whatever scores higher. A round costs a few candidates per query, so a search
grows with the painting's patches alone, not with their product with the style's.

The field starts from the previous search of the same phase (the image moved a little since), or
from the coarser phase's field scaled up (each style patch's position doubles), or, with neither,
from one exact search. Candidates are ranked by the similarity of their ranking vectors: the unit
descriptors (features and, with maps, the map part, as the exact matchers score them) projected on
the bank's leading principal directions, which `PropagationBank` computes straight from feature
maps. Gathering a candidate's row is what a round costs, and 128 numbers gather 18 times faster
than the 2,349 of a relu3_1 descriptor; a near tie decided either way costs little, since the loss
uses the match, not its score. A candidate that lacks its query's label is never taken, and every
field starts inside the query's label, so matches stay inside their labels as a search by label
keeps them (see `LabelPartitionedMatcher`); a query whose label no style patch carries may, as
there, match any patch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

NEIGHBOURS = ((0, 1), (1, 0), (0, -1), (-1, 0))
SCORE_BLOCK = 65536  # query rows scored at once: bounds the gathered candidate rows to 32 MB
RANKING_DIMS = 128  # principal directions candidates are ranked on
PCA_ROWS = 2048  # bank rows the principal directions are fitted on: two thousand pin 128 of them down


def principal_directions(rows: torch.Tensor, dims: int) -> torch.Tensor:
    """(D, at most dims) orthonormal directions for ranking `rows` (n, D) and vectors like them:
    the leading principal directions (uncentred: inner products are what must be kept); where the
    rows are no wider than `dims`, all of D; where there are no more than `dims` rows, a basis of
    their span, which keeps every inner product with them exact."""
    if rows.shape[1] <= dims:
        return torch.eye(rows.shape[1], device=rows.device)
    if len(rows) <= dims:
        return torch.linalg.qr(rows.float().T).Q
    # pca_lowrank is randomised: the same rows, the same directions, and the caller's generators untouched
    with torch.random.fork_rng(devices=[rows.device] if rows.is_cuda else []):
        torch.manual_seed(0)
        _, _, directions = torch.pca_lowrank(rows.float(), q=dims, center=False, niter=3)
    return directions


@dataclass(frozen=True)
class BankLayout:
    """Where every bank row sits (its style sample and patch position), and the way back: `lookup`
    holds each sample's grid of patch positions, row-major from `offsets[s]`, with the row there
    or -1 (a patch left out of the bank)."""

    sample: torch.Tensor  # (N,) long
    y: torch.Tensor  # (N,) long
    x: torch.Tensor  # (N,) long
    heights: torch.Tensor  # (S,) long: each sample's patch grid
    widths: torch.Tensor  # (S,) long
    offsets: torch.Tensor  # (S,) long
    lookup: torch.Tensor  # (sum of h*w,) long

    @classmethod
    def of(cls, grids: list[tuple[int, int]], kept: list[torch.Tensor]) -> BankLayout:
        """The layout of a bank pooled from samples whose patch grids are `grids` (h, w), of which
        the patches `kept[s]` (flat positions, in order) entered the bank, sample after sample."""
        device = kept[0].device if kept else "cpu"
        heights = torch.tensor([h for h, _ in grids], dtype=torch.long, device=device)
        widths = torch.tensor([w for _, w in grids], dtype=torch.long, device=device)
        sizes = heights * widths
        offsets = torch.cumsum(sizes, 0) - sizes
        lookup = torch.full((int(sizes.sum()),), -1, dtype=torch.long, device=device)
        samples, ys, xs, start = [], [], [], 0
        for index, positions in enumerate(kept):
            lookup[offsets[index] + positions] = torch.arange(start, start + len(positions), device=device)
            start += len(positions)
            samples.append(torch.full_like(positions, index))
            ys.append(positions // widths[index])
            xs.append(positions % widths[index])
        return cls(torch.cat(samples), torch.cat(ys), torch.cat(xs), heights, widths, offsets, lookup)

    def row_at(self, sample: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The bank row at (sample, y, x), or -1 where that is off the sample's grid or not in the bank."""
        inside = (y >= 0) & (x >= 0) & (y < self.heights[sample]) & (x < self.widths[sample])
        flat = self.offsets[sample] + y.clamp_min(0) * self.widths[sample] + x.clamp_min(0)
        return torch.where(inside, self.lookup[flat.clamp(max=len(self.lookup) - 1)], torch.full_like(flat, -1))


def shifted(grid: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """`grid` (h, w) moved by (dy, dx): out[y, x] = grid[y - dy, x - dx], -1 where that is outside."""
    out = torch.full_like(grid, -1)
    h, w = grid.shape
    out[max(dy, 0): h + min(dy, 0), max(dx, 0): w + min(dx, 0)] = grid[max(-dy, 0): h - max(dy, 0),
                                                                       max(-dx, 0): w - max(dx, 0)]
    return out


def upsampled_field(coarse_sample: torch.Tensor, coarse_y: torch.Tensor, coarse_x: torch.Tensor,
                    coarse_grid: tuple[int, int], grid: tuple[int, int], layout: BankLayout) -> torch.Tensor:
    """A field on `grid` from a coarser phase's matches (their samples and positions on `coarse_grid`):
    each query takes its coarse parent's match, its position doubled plus the query's own offset."""
    h, w = grid
    ys = torch.arange(h, device=layout.lookup.device)[:, None].expand(h, w).reshape(-1)
    xs = torch.arange(w, device=layout.lookup.device)[None, :].expand(h, w).reshape(-1)
    # The coarse parent covers fine positions 2p and 2p+1 (a layer's grid doubles from phase to phase).
    parent_y, parent_x = (ys // 2).clamp(max=coarse_grid[0] - 1), (xs // 2).clamp(max=coarse_grid[1] - 1)
    parent = parent_y * coarse_grid[1] + parent_x
    sample = coarse_sample[parent]
    # Where the scaled-up position falls off the finer grid, take the nearest position on it.
    y = torch.minimum(2 * coarse_y[parent] + ys - 2 * parent_y, layout.heights[sample] - 1).clamp_min(0)
    x = torch.minimum(2 * coarse_x[parent] + xs - 2 * parent_x, layout.widths[sample] - 1).clamp_min(0)
    return layout.row_at(sample, y, x)


class FieldSearch:
    """PatchMatch over bank rows ranked on `ranking_bank` (N, R): unit descriptors, or their
    projections on a few principal directions. `search` improves the field it holds (or the one
    `seed` gave) for queries ranked the same way; `query_labels` and `bank_labels` keep every match
    inside its query's label and draw random candidates there."""

    def __init__(self, ranking_bank: torch.Tensor, layout: BankLayout, query_labels: torch.Tensor | None = None,
                 bank_labels: torch.Tensor | None = None, rounds: int = 1, radii: tuple[int, ...] = (8, 2),
                 seed: int = 0) -> None:
        self.scoring_bank = ranking_bank
        self.layout = layout
        self.rounds = rounds
        self.radii = radii
        self.field: torch.Tensor | None = None
        self.grid: tuple[int, int] | None = None
        self.seeded: torch.Tensor | None = None  # a field from the coarser phase, for the first search
        self.generator = torch.Generator(device=ranking_bank.device).manual_seed(seed)
        self.query_labels = query_labels
        self.bank_labels = bank_labels if query_labels is not None else None
        self.label_rows: list[torch.Tensor] | None = None
        # Queries whose label no bank row carries may match anything, as the search by label lets
        # them search the whole bank; held to their label they could never improve.
        self.unguarded: torch.Tensor | None = None
        if self.bank_labels is not None:
            self.label_rows = [self.bank_labels[:, label].nonzero().squeeze(1)
                               for label in range(self.bank_labels.shape[1])]
            self.unguarded = ~self.bank_labels.any(0)[self.query_labels]

    def seed(self, field: torch.Tensor) -> None:
        """Start from `field` (bank rows, -1 where unknown) at the next search instead of searching."""
        self.seeded = field

    def _random(self, high: torch.Tensor) -> torch.Tensor:
        """A random integer in [0, high) for each entry of `high`."""
        draw = torch.rand(high.shape, generator=self.generator, device=high.device)
        return (draw * high).long().clamp(max=high.max().clamp_min(1) - 1)

    def _in_label(self, count: int) -> torch.Tensor:
        """A random bank row of each query's label (any row without labels)."""
        device = self.scoring_bank.device
        if self.label_rows is None:
            return self._random(torch.full((count,), len(self.scoring_bank), device=device))
        rows = torch.empty(count, dtype=torch.long, device=device)
        for label, candidates in enumerate(self.label_rows):
            where = (self.query_labels == label).nonzero().squeeze(1)
            if len(where) == 0:
                continue
            pool = candidates if len(candidates) else torch.arange(len(self.scoring_bank), device=device)
            rows[where] = pool[self._random(torch.full((len(where),), len(pool), device=device))]
        return rows

    def _scores(self, queries: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Similarity of each ranked query with its candidate row (-inf where there is none): a block
        of candidate rows is gathered and multiplied with its queries at once."""
        scores = torch.empty(len(queries), device=queries.device)
        for start in range(0, len(queries), SCORE_BLOCK):
            gathered = self.scoring_bank[rows[start: start + SCORE_BLOCK].clamp_min(0)]
            scores[start: start + SCORE_BLOCK] = (gathered * queries[start: start + SCORE_BLOCK]).sum(1)
        return scores.masked_fill(rows < 0, -float("inf"))

    def _own_label(self, candidates: torch.Tensor) -> torch.Tensor:
        """The candidates that carry their query's label; -1 for the others (as a search by label,
        which never looks outside the label, would have it), unless no bank row has that label."""
        if self.bank_labels is None:
            return candidates
        carries = self.bank_labels[candidates.clamp_min(0), self.query_labels] | self.unguarded
        carries &= candidates >= 0
        return torch.where(carries, candidates, torch.full_like(candidates, -1))

    def _improve(self, queries, field, score, candidates):
        candidate_score = self._scores(queries, self._own_label(candidates))
        better = candidate_score > score
        return torch.where(better, candidates, field), torch.where(better, candidate_score, score)

    @torch.no_grad()
    def search(self, ranked: torch.Tensor, grid: tuple[int, int],
               exact_start: Callable[[], tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Each ranked query's match (bank row) and its score: the held field improved, or the seeded
        one, or, with neither, `exact_start()`'s answer as it is."""
        if grid[0] * grid[1] != len(ranked):
            raise ValueError(f"propagation search needs the queries' grid; got {grid} for {len(ranked)} queries")
        rounds = self.rounds
        if self.field is not None and len(self.field) == len(ranked):
            field = self.field
        elif self.seeded is not None and len(self.seeded) == len(ranked):
            field, rounds = self._own_label(self.seeded), 3 * self.rounds  # a scaled-up field is rougher
            field = torch.where(field < 0, self._in_label(len(ranked)), field)
        else:
            field, score = exact_start()
            self.field, self.grid = field, grid
            return field, score
        self.seeded = None
        score = self._scores(ranked, field)
        layout = self.layout
        for _ in range(rounds):
            for dy, dx in NEIGHBOURS:
                neighbour = shifted(field.view(grid), dy, dx).reshape(-1)
                known = neighbour.clamp_min(0)
                candidates = layout.row_at(layout.sample[known], layout.y[known] + dy, layout.x[known] + dx)
                candidates = torch.where(neighbour >= 0, candidates, torch.full_like(candidates, -1))
                field, score = self._improve(ranked, field, score, candidates)
            for radius in self.radii:
                sample, y, x = layout.sample[field], layout.y[field], layout.x[field]
                span = torch.full_like(y, 2 * radius + 1)
                candidates = layout.row_at(sample, y + self._random(span) - radius, x + self._random(span) - radius)
                field, score = self._improve(ranked, field, score, candidates)
            field, score = self._improve(ranked, field, score, self._in_label(len(ranked)))
        self.field, self.grid = field, grid
        return field, score

    def positions(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[int, int]] | None:
        """The field as style positions (sample, y, x) on its grid, for the next phase to scale up."""
        if self.field is None or self.grid is None:
            return None
        return self.layout.sample[self.field], self.layout.y[self.field], self.layout.x[self.field], self.grid
