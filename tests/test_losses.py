import torch

from doodle.losses import SemanticPatchLoss, patch_labels, relative_mse
from doodle.matching import extract_patches


def test_folded_patch_loss_equals_the_patch_by_patch_loss():
    generator = torch.Generator().manual_seed(0)
    loss = SemanticPatchLoss("relu3_1", torch.rand(1, 16, 20, 24, generator=generator), None, None, 1.0)
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
    loss = SemanticPatchLoss("relu3_1", torch.rand(1, 8, 10, 10, generator=generator), None, None, 1.0,
                             rematch_every=3)
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
    with_maps = SemanticPatchLoss("relu3_1", features, channels, channels, 1.0, by_label=True)
    without = SemanticPatchLoss("relu3_1", features, None, None, 1.0, by_label=True)
    assert isinstance(with_maps.matcher, LabelPartitionedMatcher) and isinstance(without.matcher, ExactMatcher)
    # each patch finds itself: the same image, the same map
    assert with_maps(None, {"relu3_1": features}).item() < 1e-6
