import torch

from doodle.losses import GramLoss, GramTargets, PatchBank, SemanticPatchLoss, StyleLayer, patch_labels, relative_mse
from doodle.matching import extract_patches


def patch_loss(samples, target, semantic_weight, by_label=False, rematch_every=1):
    """A patch loss on relu3_1 with its own bank, as the term builder makes one."""
    bank = PatchBank(samples, semantic_weight, target is not None, by_label=by_label)
    return SemanticPatchLoss("relu3_1", bank, target, rematch_every=rematch_every)


def gram_loss(styles, target):
    return GramLoss("relu3_1", GramTargets.from_styles(styles, target is not None), target)

def test_folded_patch_loss_equals_the_patch_by_patch_loss():
    generator = torch.Generator().manual_seed(0)
    loss = patch_loss([StyleLayer(torch.rand(1, 16, 20, 24, generator=generator))], None, 1.0)
    features = torch.rand(1, 16, 18, 22, generator=generator).requires_grad_(True)
    folded = loss(None, {"relu3_1": features})
    folded_gradient, = torch.autograd.grad(folded, features)
    patches = extract_patches(features)
    direct = relative_mse(patches, loss.style_columns.T[loss.index], loss.scale)
    direct_gradient, = torch.autograd.grad(direct, features)
    assert torch.allclose(folded, direct, rtol=1e-5)
    assert torch.allclose(folded_gradient, direct_gradient, rtol=1e-4, atol=1e-9)


def test_matches_are_reused_between_searches():
    generator = torch.Generator().manual_seed(1)
    loss = patch_loss([StyleLayer(torch.rand(1, 8, 10, 10, generator=generator))], None, 1.0, rematch_every=3)
    for _ in range(7):  # searches at evaluations 1, 4 and 7
        loss(None, {"relu3_1": torch.rand(1, 8, 10, 10, generator=generator)})
    assert loss.stats.searches == 3


def test_patch_labels_says_which_labels_a_patch_touches():
    channels = torch.zeros(1, 3, 3, 4)
    channels[:, 0, :, :2], channels[:, 2, :, 2:] = 1, 1  # label 0 left, label 2 right
    touches, main = patch_labels(extract_patches(channels), 3)
    assert touches.tolist() == [[True, False, True], [True, False, True]]
    assert main.tolist() == [0, 2]


def test_search_by_label_needs_maps():
    from doodle.matching import ExactMatcher, LabelPartitionedMatcher

    features, channels = torch.rand(1, 8, 6, 6), torch.zeros(1, 2, 6, 6)
    channels[:, 0, :, :3], channels[:, 1, :, 3:] = 1, 1
    with_maps = patch_loss([StyleLayer(features, channels)], channels, 1.0, by_label=True)
    without = patch_loss([StyleLayer(features)], None, 1.0, by_label=True)
    assert isinstance(with_maps.matcher, LabelPartitionedMatcher) and isinstance(without.matcher, ExactMatcher)
    # each patch finds itself: the same image, the same map
    assert with_maps(None, {"relu3_1": features}).item() < 1e-6


def test_gram_loss_has_the_papers_normalisation():
    from doodle.losses import gram_distance, gram_matrix

    generator = torch.Generator().manual_seed(2)
    image, style = torch.rand(1, 6, 5, 7, generator=generator), torch.rand(1, 6, 5, 7, generator=generator)
    n, m = 6, 35
    f, s = image.flatten(2)[0], style.flatten(2)[0]
    paper = ((f @ f.T - s @ s.T) ** 2).sum() / (4 * n**2 * m**2)
    assert torch.allclose(gram_distance(gram_matrix(image), gram_matrix(style)), paper, rtol=1e-5)


def two_region_features(left: float, right: float) -> torch.Tensor:
    """Features whose left half is one 'texture' and right half another (channels 0-1 vs 2-3)."""
    features = torch.zeros(1, 4, 8, 8)
    features[:, :2, :, :4], features[:, 2:, :, 4:] = left, right
    return features


def test_masked_gram_keeps_each_labels_statistics_apart():
    channels = torch.zeros(1, 2, 8, 8)
    channels[:, 0, :, :4], channels[:, 1, :, 4:] = 1, 1  # label 0 left, label 1 right
    style = two_region_features(1.0, 2.0)
    swapped = torch.zeros_like(style)
    swapped[:, :2, :, 4:], swapped[:, 2:, :, :4] = 1.0, 2.0  # the same textures, in each other's place
    masked = gram_loss([(style, channels, 1.0)], channels)
    plain = gram_loss([(style, None, 1.0)], None)
    assert masked(None, {"relu3_1": style}).item() < 1e-6
    # one Gram for the whole image cannot tell where a texture sits; one per label can
    assert plain(None, {"relu3_1": swapped}).item() < 1e-6
    assert masked(None, {"relu3_1": swapped}).item() > 0.5


def test_several_styles_blend_their_gram_targets():
    from doodle.losses import gram_matrix

    first, second = torch.rand(1, 4, 6, 6), torch.rand(1, 4, 9, 5)
    blended = gram_loss([(first, None, 0.7), (second, None, 0.3)], None)
    assert torch.allclose(blended.targets[0], 0.7 * gram_matrix(first) + 0.3 * gram_matrix(second), rtol=1e-5)
    only_first = gram_loss([(first, None, 1.0), (second, None, 0.0)], None)
    assert torch.allclose(only_first.targets[0], gram_matrix(first))


def test_pooled_bank_takes_each_style_in_its_share_and_skips_empty_corners():
    from doodle.losses import StyleLayer, pooled_patches

    first, second = torch.rand(1, 3, 10, 10), torch.rand(1, 3, 10, 10)  # 64 patches each
    patches, maps = pooled_patches([StyleLayer(first), StyleLayer(second, share=0.25)])
    assert patches.shape == (64 + 16, 27) and maps is None
    assert torch.equal(patches[:64], extract_patches(first))
    valid = torch.ones(1, 1, 10, 10)
    valid[..., :2, :2] = 0  # an empty corner, as a rotated copy has
    kept, _ = pooled_patches([StyleLayer(first, valid=valid)])
    assert len(kept) == 64 - 4  # the patches whose 3x3 window reaches into the corner are gone
    # a turned copy with no whole patch at this layer, in a blend: it simply adds nothing
    empty, _ = pooled_patches([StyleLayer(first), StyleLayer(second, valid=torch.zeros(1, 1, 10, 10), share=0.5)])
    assert len(empty) == 64


def test_blended_bank_subsample_covers_the_whole_picture():
    from doodle.losses import StyleLayer, pooled_patches

    # 12 patches per row: a stride of 12 (share 1/12) would keep one column; a random draw keeps many
    columns = torch.arange(14.0).repeat(1, 1, 14, 1)  # (1, 1, 14, 14), each cell holds its column
    patches, _ = pooled_patches([StyleLayer(columns, share=1 / 12)])
    assert len(patches) == 12 and len(patches[:, 4].unique()) >= 6


def test_masked_gram_falls_back_to_one_gram_when_labels_are_too_thin():
    from doodle.losses import gram_matrix

    style = torch.rand(1, 4, 6, 6)
    thin = torch.zeros(1, 2, 6, 6)
    thin[:, 0, 0, 0], thin[:, 1, 0, 1] = 0.5, 0.5  # neither label covers a whole cell
    loss = gram_loss([(style, thin, 1.0)], thin)
    assert not loss.with_maps and torch.allclose(loss.targets[0], gram_matrix(style))


def test_masked_gram_counts_every_region_when_all_are_thinner_than_a_cell():
    style_channels = torch.zeros(1, 2, 8, 8)
    style_channels[:, 0, :, :4], style_channels[:, 1, :, 4:] = 1, 1
    style = two_region_features(1.0, 2.0)
    painting_map = torch.zeros(1, 2, 1, 1)
    painting_map[:, 0], painting_map[:, 1] = 0.6, 0.4  # at a deep layer the painting is one cell
    loss = gram_loss([(style, style_channels, 1.0)], painting_map)
    assert loss(None, {"relu3_1": torch.zeros(1, 4, 1, 1)}).item() > 0.5  # not a silent zero


def test_folded_patch_distance_is_the_mean_squared_distance_to_each_matched_patch():
    from doodle.losses import fold_matches, folded_patch_distance, patch_coverage

    generator = torch.Generator().manual_seed(3)
    features = torch.rand(1, 5, 6, 7, generator=generator).requires_grad_(True)
    bank = torch.rand(11, 5 * 9, generator=generator)
    index = torch.randint(0, 11, (4 * 5,), generator=generator)  # a 6x7 grid holds 4x5 patches
    scale = torch.tensor(0.3)
    folded_target, matched_energy = fold_matches(bank.T.contiguous(), bank.pow(2).sum(1), index, (6, 7))
    folded = folded_patch_distance(features, patch_coverage((6, 7)), folded_target, matched_energy, scale)
    slow = (extract_patches(features) - bank[index]).pow(2).mean() / scale
    assert torch.allclose(folded, slow, rtol=1e-5)
    folded_gradient, = torch.autograd.grad(folded, features)
    slow_gradient, = torch.autograd.grad(slow, features)
    assert torch.allclose(folded_gradient, slow_gradient, rtol=1e-4, atol=1e-8)


def test_patch_coverage_counts_the_patches_over_each_cell():
    from doodle.losses import patch_coverage

    coverage = patch_coverage((4, 5))[0, 0]
    assert coverage.tolist() == [[1, 2, 3, 2, 1], [2, 4, 6, 4, 2], [2, 4, 6, 4, 2], [1, 2, 3, 2, 1]]


def test_total_variation_is_zero_for_a_flat_image_and_counts_steps():
    from doodle.losses import total_variation

    assert total_variation(torch.full((1, 3, 5, 4), 0.7)).item() == 0
    stripes = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])[None, None]  # every horizontal step is 1
    assert total_variation(stripes).item() == 1.0


def test_label_shares_leave_out_labels_thinner_than_a_cell_unless_all_are():
    from doodle.losses import label_shares

    assert torch.allclose(label_shares(torch.tensor([3.0, 0.5, 1.0])), torch.tensor([0.75, 0.0, 0.25]))
    assert torch.allclose(label_shares(torch.tensor([0.6, 0.2])), torch.tensor([0.75, 0.25]))


def four_terms() -> list:
    from doodle.losses import ContentLoss, Smoothness

    features, channels = torch.rand(1, 4, 6, 6), torch.zeros(1, 2, 6, 6)
    channels[:, 0, :, :3], channels[:, 1, :, 3:] = 1, 1
    return [patch_loss([StyleLayer(features, channels)], channels, 1.0),
            gram_loss([(features, channels, 1.0)], channels),
            ContentLoss("relu3_1", features), Smoothness()]


def test_every_term_is_a_loss_term_and_creates_its_state_up_front():
    from doodle.losses import LossTerm

    image, features = torch.rand(1, 3, 12, 12), {"relu3_1": torch.rand(1, 4, 6, 6)}
    for term in four_terms():
        assert isinstance(term, LossTerm)
        created = set(vars(term))
        loss = term(image, features)
        assert loss.dim() == 0
        assert set(vars(term)) == created, f"{type(term).__name__} added state after construction"
    assert [term.layer for term in four_terms()] == ["relu3_1", "relu3_1", "relu3_1", None]
    assert not isinstance(object(), LossTerm)


def test_terms_that_read_one_image_refuse_a_batch():
    import pytest

    patch, gram = four_terms()[:2]
    batch = {"relu3_1": torch.rand(2, 4, 6, 6)}
    for term in (patch, gram):
        with pytest.raises(ValueError, match="one image at a time"):
            term(None, batch)
