import torch

from doodle.gram_loss import GramLoss, GramTargets
from doodle.patch_loss import PatchBank, SemanticPatchLoss, StyleLayer


def patch_loss(samples, target, semantic_weight, by_label=False, rematch_every=1):
    """A patch loss on relu3_1 with its own bank, as the term builder makes one."""
    bank = PatchBank(samples, semantic_weight, target is not None, by_label=by_label)
    return SemanticPatchLoss("relu3_1", bank, target, rematch_every=rematch_every)


def gram_loss(styles, target):
    return GramLoss("relu3_1", GramTargets.from_styles(styles, target is not None), target)


def test_total_variation_is_zero_for_a_flat_image_and_counts_steps():
    from doodle.losses import total_variation

    assert total_variation(torch.full((1, 3, 5, 4), 0.7)).item() == 0
    stripes = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])[None, None]  # every horizontal step is 1
    assert total_variation(stripes).item() == 1.0


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
