import pytest
import torch

from doodle import PaintConfig
from doodle.gram_loss import GramLoss
from doodle.losses import ContentLoss, Smoothness
from doodle.patch_loss import SemanticPatchLoss
from doodle.propagation_bank import PropagatedPatchLoss
from doodle.style_bank import StyleCopy
from doodle.terms import build_terms


def copy_with_features(weight=1.0, base=True, labels=0):
    channels = None
    if labels:
        channels = torch.zeros(1, labels, 24, 24)
        channels[:, 0, :, :12], channels[:, 1, :, 12:] = 1, 1
    features = {"relu3_1": torch.rand(1, 8, 6, 6), "relu4_1": torch.rand(1, 8, 3, 3), "relu4_2": torch.rand(1, 8, 3, 3)}
    return StyleCopy(torch.rand(1, 3, 24, 24), channels, None, weight, weight, base), features


def test_terms_follow_the_settings_by_name_kind_and_weight():
    copies = [copy_with_features()]
    content = {"relu4_2": torch.rand(1, 8, 3, 3)}
    terms = build_terms(PaintConfig(style_loss="patch:2,gram:1", content_weight=0.5, smoothness=3.0), (24, 24),
                        copies, None, content, "exact")
    kinds = {term.name: type(term.term) for term in terms}
    assert kinds == {"style:relu3_1": SemanticPatchLoss, "gram:relu3_1": GramLoss, "style:relu4_1": SemanticPatchLoss,
                     "gram:relu4_1": GramLoss, "content:relu4_2": ContentLoss, "smoothness": Smoothness}
    weights = {term.name: term.weight for term in terms}
    assert weights["style:relu3_1"] == 1.0 and weights["gram:relu4_1"] == 0.5  # 2 x 1/2 and 1 x 1/2
    assert weights["content:relu4_2"] == 0.5 and weights["smoothness"] == 3.0


def test_terms_that_weigh_nothing_are_left_out():
    terms = build_terms(PaintConfig(smoothness=0.0, content_weight=0.0), (24, 24), [copy_with_features()], None,
                        {"relu4_2": torch.rand(1, 8, 3, 3)}, "exact")
    assert [term.name for term in terms] == ["style:relu3_1", "style:relu4_1"]


def test_only_the_styles_themselves_give_gram_targets_and_maps_steer_them():
    target = torch.zeros(1, 2, 24, 24)
    target[:, 1] = 1  # the painting is all label 1
    copies = [copy_with_features(labels=2), copy_with_features(base=False, labels=2)]
    terms = build_terms(PaintConfig(style_loss="gram", style_layers="relu3_1"), (24, 24), copies, target, None, "exact")
    gram = terms[0].term
    assert gram.with_maps and gram.labels == [0, 1]
    unmapped = build_terms(PaintConfig(style_loss="gram", style_layers="relu3_1", semantic_weight=0), (24, 24),
                           copies, target, None, "exact")[0].term
    assert not unmapped.with_maps


@pytest.mark.parametrize("search, semantic_weight, partitioned", [("label", 1.0, True), ("all", 1.0, False),
                                                                  ("label", 0.5, False)])
def test_patch_search_by_label_only_where_it_is_safe(search, semantic_weight, partitioned):
    from doodle.matching import LabelPartitionedMatcher

    target = torch.zeros(1, 2, 24, 24)
    target[:, 0, :, :12], target[:, 1, :, 12:] = 1, 1
    config = PaintConfig(style_layers="relu3_1", search=search, semantic_weight=semantic_weight)
    term = build_terms(config, (24, 24), [copy_with_features(labels=2)], target, None, "exact")[0].term
    assert isinstance(term.matcher, LabelPartitionedMatcher) == partitioned


def test_propagation_search_gets_its_own_bank_and_searches_every_other_evaluation():
    terms = build_terms(PaintConfig(smoothness=0.0), (24, 24), [copy_with_features()], None, None, "patchmatch")
    assert [type(term.term) for term in terms] == [PropagatedPatchLoss, PropagatedPatchLoss]
    assert terms[0].term.rematch_every == 2  # auto: a propagation search is cheap
    exact = build_terms(PaintConfig(smoothness=0.0), (24, 24), [copy_with_features()], None, None, "bf16")
    assert exact[0].term.rematch_every == 4
    chosen = build_terms(PaintConfig(smoothness=0.0, rematch_every=3), (24, 24), [copy_with_features()], None, None,
                         "patchmatch")
    assert chosen[0].term.rematch_every == 3
