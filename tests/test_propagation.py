"""Propagation search (PatchMatch) against exact search: on random and real (VGG) features, at
label borders, from a coarser phase's field, and inside the engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from doodle import propagation_bank
from doodle.config import PaintConfig
from doodle.matching import ExactMatcher, LabelPartitionedMatcher, extract_patches
from doodle.patch_loss import StyleLayer, fold_matches, patch_labels, pooled_patches, semantic_descriptors
from doodle.propagation import BankLayout, FieldSearch, shifted, upsampled_field
from doodle.propagation_bank import PropagatedPatchLoss, PropagationBank, main_labels

from .helpers import textured_style, two_region_map


def smooth_features(channels: int, height: int, width: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(1, channels, height + 4, width + 4, generator=generator)
    return F.avg_pool2d(noise, 5, 1).relu()


def cosine(queries: torch.Tensor, bank: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """The exact float32 similarity of each query with its matched row."""
    return (F.normalize(queries, dim=1) * F.normalize(bank, dim=1)[rows]).sum(1)


def grid_of(features: torch.Tensor) -> tuple[int, int]:
    return tuple(n - 2 for n in features.shape[-2:])


class DescriptorSearch:
    """A field search ranked on whole unit descriptors, whose first search is `exact`: the
    propagation algorithm on its own, without the feature-map bank's projections."""

    def __init__(self, bank, layout, exact, query_labels=None, bank_labels=None, rounds=1):
        self.search = FieldSearch(F.normalize(bank, dim=1), layout, query_labels, bank_labels, rounds=rounds)
        self.exact = exact

    def seed(self, field):
        self.search.seed(field)

    def match(self, queries, grid):
        return self.search.search(F.normalize(queries, dim=1), grid, lambda: self.exact.match(queries))


def test_the_layout_finds_each_row_and_knows_the_gaps():
    kept = [torch.tensor([0, 1, 3, 5]), torch.tensor([2])]  # sample 0 is 2x3, sample 1 is 1x4
    layout = BankLayout.of([(2, 3), (1, 4)], kept)
    assert layout.sample.tolist() == [0, 0, 0, 0, 1] and layout.y.tolist() == [0, 0, 1, 1, 0]
    assert layout.x.tolist() == [0, 1, 0, 2, 2]
    rows = layout.row_at(torch.tensor([0, 0, 0, 1, 1, 0]), torch.tensor([0, 0, 1, 0, 0, 2]),
                         torch.tensor([1, 2, 2, 2, 4, 0]))
    assert rows.tolist() == [1, -1, 3, 4, -1, -1]  # (0,0,2) left out; x=4 and y=2 are off the grids


def test_shifted_moves_a_grid_and_fills_the_edge():
    grid = torch.arange(6).view(2, 3)
    assert shifted(grid, 0, 1).tolist() == [[-1, 0, 1], [-1, 3, 4]]
    assert shifted(grid, -1, 0).tolist() == [[3, 4, 5], [-1, -1, -1]]


def test_propagation_finds_the_exact_matches_of_random_features_from_a_random_start():
    style = smooth_features(16, 40, 50, seed=0)
    painting = style[..., 4:34, 6:46] + 0.05 * smooth_features(16, 30, 40, seed=1)
    bank, queries = extract_patches(style), extract_patches(painting)
    exact = ExactMatcher(bank)
    truth, truth_score = exact.match(queries)
    matcher = DescriptorSearch(bank, BankLayout.of([grid_of(style)], [torch.arange(len(bank))]), exact, rounds=4)
    matcher.seed(torch.randint(0, len(bank), (len(queries),), generator=torch.Generator().manual_seed(2)))
    found, _ = matcher.match(queries, grid_of(painting))
    score = cosine(queries, bank, found)
    assert (found == truth).float().mean() > 0.95
    assert (truth_score - score).mean() < 1e-3 and (score <= truth_score + 1e-5).all()


def test_propagation_tracks_real_features_as_the_painting_changes(encoder):
    style_image = torch.from_numpy(textured_style(96, 96)).permute(2, 0, 1)[None]
    features = encoder(style_image, ["relu3_1"])["relu3_1"]
    painting = encoder((style_image + 0.05 * torch.randn_like(style_image)).clamp(0, 1), ["relu3_1"])["relu3_1"]
    bank, queries = extract_patches(features), extract_patches(painting)
    exact = ExactMatcher(bank)
    matcher = DescriptorSearch(bank, BankLayout.of([grid_of(features)], [torch.arange(len(bank))]), exact)
    first, _ = matcher.match(queries, grid_of(painting))  # exact: nothing to start from
    assert torch.equal(first, exact.match(queries)[0])
    moved = encoder((style_image + 0.08 * torch.randn_like(style_image)).clamp(0, 1), ["relu3_1"])["relu3_1"]
    queries = extract_patches(moved)
    truth, truth_score = exact.match(queries)
    found, _ = matcher.match(queries, grid_of(moved))
    score = cosine(queries, bank, found)
    # Textures repeat, so several style patches score alike: most matches are the same, and the
    # others lose almost nothing.
    assert (found == truth).float().mean() > 0.6
    assert (truth_score - score).mean() < 0.01


def test_matches_stay_inside_their_labels_at_borders():
    height, width = 30, 40
    style = smooth_features(8, height, width, 3)
    style_map = torch.from_numpy(two_region_map(height, width) == (255, 0, 0)).all(-1).float()
    painting_map = style_map.flip(1)  # the border elsewhere
    channels = [torch.stack([m, 1 - m])[None] for m in (style_map, painting_map)]
    bank = semantic_descriptors(extract_patches(style), extract_patches(channels[0]), 1.0)
    bank_labels, _ = patch_labels(extract_patches(channels[0]), 2)
    _, query_labels = patch_labels(extract_patches(channels[1]), 2)
    by_label = LabelPartitionedMatcher(bank, bank_labels, query_labels)
    matcher = DescriptorSearch(bank, BankLayout.of([grid_of(style)], [torch.arange(len(bank))]), by_label,
                               query_labels, bank_labels)
    grid = grid_of(style)

    def queries_of(seed: int) -> torch.Tensor:
        painting = style.roll(7, dims=3) + 0.1 * smooth_features(8, height, width, seed)
        return semantic_descriptors(extract_patches(painting), extract_patches(channels[1]), 1.0)

    matcher.match(queries_of(4), grid)  # the phase's first search: exact, by label
    queries = queries_of(5)  # the painting moved on: the next search improves on the last matches
    truth, _ = by_label.match(queries)
    found, _ = matcher.match(queries, grid)
    truth_score, score = cosine(queries, bank, truth), cosine(queries, bank, found)
    assert bank_labels[found, query_labels].all()  # every match carries its query's main label
    assert (found == truth).float().mean() > 0.8 and (truth_score - score).mean() < 0.005


def test_a_coarse_field_scaled_up_lands_on_the_doubled_positions():
    fine = BankLayout.of([(20, 30)], [torch.arange(600)])
    coarse_y, coarse_x = torch.meshgrid(torch.arange(9), torch.arange(14), indexing="ij")
    field = upsampled_field(torch.zeros(126, dtype=torch.long), coarse_y.reshape(-1), coarse_x.reshape(-1),
                            (9, 14), (20, 30), fine)
    rows = field.view(20, 30)
    assert (rows >= 0).all()
    assert fine.y[rows[10, 12]] in (10, 11) and fine.x[rows[10, 12]] in (12, 13)


def test_each_phase_starts_from_the_last_ones_matches(monkeypatch):
    config = PaintConfig(matcher="patchmatch")
    style = smooth_features(8, 24, 32, 6)
    fields: dict = {}
    losses = []
    for scale in (1, 2):
        features = F.interpolate(style, scale_factor=scale) if scale > 1 else style
        bank = PropagationBank([StyleLayer(features)], config.semantic_weight, False)
        loss = PropagatedPatchLoss("relu3_1", bank, None, fields=fields)
        if scale == 2:  # seeded from the coarse phase: its exact search is never made
            monkeypatch.setattr(bank, "exact_search", lambda *_: pytest.fail("searched afresh"))
        painting = features + 0.01 * torch.randn_like(features)
        losses.append(float(loss(None, {"relu3_1": painting})))
        assert fields["relu3_1"][3] == grid_of(painting)
    assert all(np.isfinite(losses))


def labelled_channels(height: int, width: int, labels: int, seed: int) -> torch.Tensor:
    """(1, labels, height, width) one-hot blocks of 4x4 cells, labels drawn at random."""
    generator = torch.Generator().manual_seed(seed)
    blocks = torch.randint(0, labels, (height // 4 + 1, width // 4 + 1), generator=generator)
    found = blocks.repeat_interleave(4, 0).repeat_interleave(4, 1)[:height, :width]
    return F.one_hot(found, labels).permute(2, 0, 1)[None].float()


def test_the_feature_map_bank_ranks_folds_and_labels_as_patch_rows_would(monkeypatch):
    # Two samples, one with empty corners and a share below 1: every path that leaves patches out.
    valid = torch.ones(1, 1, 18, 25)
    valid[..., :4, :5] = 0
    samples = [StyleLayer(smooth_features(40, 20, 30, 7), labelled_channels(20, 30, 3, 0)),
               StyleLayer(smooth_features(40, 18, 25, 8), labelled_channels(18, 25, 3, 1), valid, share=0.6)]
    rounded = PropagationBank(samples, 1.5, True, by_label=True)
    monkeypatch.setattr(propagation_bank, "fast_bfloat16", lambda device: False)  # float32 projections
    bank = PropagationBank(samples, 1.5, True, by_label=True)
    # Where bfloat16 is native the projections are rounded to it: the same ranking, to its precision.
    assert torch.allclose(rounded.ranking, bank.ranking, atol=0.02)
    rows, map_rows = pooled_patches(samples)
    descriptors = F.normalize(semantic_descriptors(rows, map_rows, 1.5), dim=1)
    directions = torch.cat([bank.feature_directions.flatten(1), bank.map_directions.flatten(1)], 1).T
    assert torch.allclose(bank.ranking, descriptors @ directions, atol=1e-5)
    assert torch.allclose(bank.energy, rows.pow(2).sum(1), rtol=1e-5)
    assert torch.allclose(bank.scale, rows.pow(2).mean(), rtol=1e-5)
    assert torch.equal(bank.bank_labels, patch_labels(map_rows, 3)[0])
    painting, painting_map = smooth_features(40, 16, 22, 9), labelled_channels(16, 22, 3, 2)
    queries = F.normalize(semantic_descriptors(extract_patches(painting), extract_patches(painting_map), 1.5), dim=1)
    assert torch.allclose(bank.rank(painting, bank.map_term(painting_map)), queries @ directions, atol=1e-5)
    assert torch.equal(main_labels(painting_map), patch_labels(extract_patches(painting_map), 3)[1])
    index = torch.randint(0, len(rows), (14 * 20,), generator=torch.Generator().manual_seed(3))
    folded, energy = bank.fold(index, (14, 20))
    expected, expected_energy = fold_matches(rows.T.contiguous(), rows.pow(2).sum(1), index, (16, 22))
    assert torch.allclose(folded, expected, atol=1e-5) and torch.allclose(energy, expected_energy, rtol=1e-5)


def test_propagated_loss_matches_inside_labels_and_close_to_exact_search():
    """The loss the painting uses, on real-like features with maps: every match carries its
    query's label, and the matches score almost as well as an exact search by label."""
    style, style_map = smooth_features(16, 30, 40, 10), labelled_channels(30, 40, 2, 4)
    bank = PropagationBank([StyleLayer(style, style_map)], 1.0, True, by_label=True)
    painting_map = labelled_channels(30, 40, 2, 5)
    fields: dict = {}
    loss = PropagatedPatchLoss("relu3_1", bank, painting_map, fields=fields)
    first = style.roll(5, dims=3) + 0.1 * smooth_features(16, 30, 40, 11)
    loss(None, {"relu3_1": first})  # the exact first search
    moved = first + 0.05 * smooth_features(16, 30, 40, 12)
    loss(None, {"relu3_1": moved})  # propagated from the first
    queries = semantic_descriptors(extract_patches(moved), extract_patches(painting_map), 1.0)
    bank_rows = semantic_descriptors(*pooled_patches([StyleLayer(style, style_map)]), 1.0)
    query_labels = main_labels(painting_map)
    truth, truth_score = LabelPartitionedMatcher(bank_rows, bank.bank_labels, query_labels).match(queries)
    assert bank.bank_labels[loss.index, query_labels].all()
    score = cosine(queries, bank_rows, loss.index)
    assert (loss.index == truth).float().mean() > 0.7 and (truth_score - score).mean() < 0.01
    assert fields["relu3_1"][3] == grid_of(moved)



def test_queries_of_a_label_the_style_lacks_still_improve_over_the_whole_bank():
    style = smooth_features(16, 30, 40, 14)
    bank = extract_patches(style)
    bank_labels = torch.zeros(len(bank), 2, dtype=torch.bool)
    bank_labels[:, 0] = True  # no style patch carries label 1
    painting = style[..., 2:26, 3:35] + 0.05 * smooth_features(16, 24, 32, 15)
    queries = extract_patches(painting)
    query_labels = torch.zeros(len(queries), dtype=torch.long)
    query_labels[len(queries) // 2:] = 1
    exact = ExactMatcher(bank)
    search = DescriptorSearch(bank, BankLayout.of([grid_of(style)], [torch.arange(len(bank))]), exact,
                              query_labels, bank_labels, rounds=4)
    search.seed(torch.randint(0, len(bank), (len(queries),), generator=torch.Generator().manual_seed(16)))
    found, _ = search.match(queries, grid_of(painting))
    truth, truth_score = exact.match(queries)
    lacking = query_labels == 1
    assert (found[lacking] == truth[lacking]).float().mean() > 0.9
    assert (truth_score - cosine(queries, bank, found))[lacking].mean() < 1e-3
