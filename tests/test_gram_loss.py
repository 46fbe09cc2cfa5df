import torch

from doodle.gram_loss import GramLoss, GramTargets


def gram_loss(styles, target):
    return GramLoss("relu3_1", GramTargets.from_styles(styles, target is not None), target)


def test_gram_loss_has_the_papers_normalisation():
    from doodle.gram_loss import gram_distance, gram_matrix

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
    from doodle.gram_loss import gram_matrix

    first, second = torch.rand(1, 4, 6, 6), torch.rand(1, 4, 9, 5)
    blended = gram_loss([(first, None, 0.7), (second, None, 0.3)], None)
    assert torch.allclose(blended.targets[0], 0.7 * gram_matrix(first) + 0.3 * gram_matrix(second), rtol=1e-5)
    only_first = gram_loss([(first, None, 1.0), (second, None, 0.0)], None)
    assert torch.allclose(only_first.targets[0], gram_matrix(first))


def test_masked_gram_falls_back_to_one_gram_when_labels_are_too_thin():
    from doodle.gram_loss import gram_matrix

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


def test_label_shares_leave_out_labels_thinner_than_a_cell_unless_all_are():
    from doodle.gram_loss import label_shares

    assert torch.allclose(label_shares(torch.tensor([3.0, 0.5, 1.0])), torch.tensor([0.75, 0.0, 0.25]))
    assert torch.allclose(label_shares(torch.tensor([0.6, 0.2])), torch.tensor([0.75, 0.25]))
