import torch

from doodle.losses import relative_mse
from doodle.matching import extract_patches
from doodle.patch_loss import PatchBank, SemanticPatchLoss, StyleLayer, patch_labels


def patch_loss(samples, target, semantic_weight, by_label=False, rematch_every=1):
    """A patch loss on relu3_1 with its own bank, as the term builder makes one."""
    bank = PatchBank(samples, semantic_weight, target is not None, by_label=by_label)
    return SemanticPatchLoss("relu3_1", bank, target, rematch_every=rematch_every)


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


def test_pooled_bank_takes_each_style_in_its_share_and_skips_empty_corners():
    from doodle.patch_loss import StyleLayer, pooled_patches

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
    from doodle.patch_loss import StyleLayer, pooled_patches

    # 12 patches per row: a stride of 12 (share 1/12) would keep one column; a random draw keeps many
    columns = torch.arange(14.0).repeat(1, 1, 14, 1)  # (1, 1, 14, 14), each cell holds its column
    patches, _ = pooled_patches([StyleLayer(columns, share=1 / 12)])
    assert len(patches) == 12 and len(patches[:, 4].unique()) >= 6


def test_folded_patch_distance_is_the_mean_squared_distance_to_each_matched_patch():
    from doodle.patch_loss import fold_matches, folded_patch_distance, patch_coverage

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
    from doodle.patch_loss import patch_coverage

    coverage = patch_coverage((4, 5))[0, 0]
    assert coverage.tolist() == [[1, 2, 3, 2, 1], [2, 4, 6, 4, 2], [2, 4, 6, 4, 2], [1, 2, 3, 2, 1]]


def test_a_reusable_bank_scores_many_paintings_and_a_single_use_one_lets_go_of_its_descriptors():
    generator = torch.Generator().manual_seed(3)
    features = torch.rand(1, 8, 10, 10, generator=generator)
    channels = torch.zeros(1, 2, 10, 10)
    channels[:, 0, :, :5], channels[:, 1, :, 5:] = 1, 1
    shared = PatchBank([StyleLayer(features, channels)], 1.0, True, by_label=True, reusable=True)
    for target in (channels, channels.flip(-1)):
        loss = SemanticPatchLoss("relu3_1", shared, target)
        assert loss(None, {"relu3_1": features}).item() >= 0
    assert set(shared.label_matchers) == {0, 1}  # one matcher a label, made once and kept
    once = PatchBank([StyleLayer(features, channels)], 1.0, True, by_label=True)
    SemanticPatchLoss("relu3_1", once, channels)
    assert once.descriptors is None
