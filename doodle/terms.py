"""The loss terms of one phase, built from the settings and the features of that phase."""

from __future__ import annotations

import torch

from .config import PaintConfig
from .gram_loss import GramLoss, GramTargets
from .layers import layer_stride
from .losses import ContentLoss, Smoothness, WeightedTerm
from .patch_loss import PatchBank, SemanticPatchLoss, StyleLayer
from .propagation_bank import PropagatedPatchLoss, PropagationBank
from .semantic import resize_channels
from .style_bank import StyleCopy
from .temporal import TemporalGuide, temporal_term


def label_search(config: PaintConfig) -> bool:
    """Whether to search by label: asked for, and safe. Below a semantic weight of 1 a patch may
    rightly match across labels, which a search by label would forbid."""
    return config.search == "label" and config.semantic_weight >= 1


def build_terms(config: PaintConfig, out_hw: tuple[int, int], copies: list[tuple[StyleCopy, dict[str, torch.Tensor]]],
                target_channels: torch.Tensor | None, content_features: dict[str, torch.Tensor] | None,
                matcher: str, style_cache: dict | None = None, guide: TemporalGuide | None = None,
                fields: dict | None = None) -> list[WeightedTerm]:
    """The weighted loss terms of one phase at `out_hw`; `copies` pairs every style copy with its
    features this phase. Each weight is the style weight x the loss kind's weight x the layer's share.
    A temporal `guide` (a video frame) adds the "temporal" term, weighted by the guide's weight.

    The style side of each term (patch banks, Gram targets) depends on the style alone; a caller
    that scores many paintings against one style (a trainer) passes the same `style_cache` dict
    each time, and it is built once. `fields` (one dict per run) hands a propagation search's
    matches from each phase to the next."""
    cache = {} if style_cache is None else style_cache
    kinds = config.style_loss_weights
    use_maps = target_channels is not None and config.semantic_weight > 0
    terms = []
    for layer, share in config.weighted_style_layers:
        stride = layer_stride(layer)
        target_map = None
        if target_channels is not None:
            target_map = resize_channels(target_channels, (out_hw[0] // stride, out_hw[1] // stride))
        if "patch" in kinds:
            key = ("patch", layer, target_channels is not None)
            propagate = matcher == "patchmatch"
            if key not in cache:
                samples = [sample for _, sample in style_samples(copies, layer)]
                if propagate:
                    cache[key] = PropagationBank(samples, config.semantic_weight, target_channels is not None,
                                                 label_search(config), matcher_options=matcher_options(config))
                else:
                    cache[key] = PatchBank(samples, config.semantic_weight, target_channels is not None, matcher,
                                           matcher_options(config), by_label=label_search(config),
                                           reusable=style_cache is not None)
            rematch = rematch_interval(config, matcher)
            if propagate:
                term = PropagatedPatchLoss(layer, cache[key], target_map, rematch, fields, config.seed)
            else:
                term = SemanticPatchLoss(layer, cache[key], target_map, rematch)
            terms.append(WeightedTerm(f"style:{layer}", config.style_weight * kinds["patch"] * share, term))
        if "gram" in kinds:
            key = ("gram", layer, use_maps)
            if key not in cache:
                bases = [(sample.features, sample.channels if use_maps else None, copy.weight)
                         for copy, sample in style_samples(copies, layer) if copy.base]
                cache[key] = GramTargets.from_styles(bases, use_maps)
            term = GramLoss(layer, cache[key], target_map if use_maps else None)
            terms.append(WeightedTerm(f"gram:{layer}", config.style_weight * kinds["gram"] * share, term))
    if content_features is not None and config.content_weight > 0:
        for layer in config.content_layers:
            terms.append(WeightedTerm(f"content:{layer}", config.content_weight / len(config.content_layers),
                                      ContentLoss(layer, content_features[layer])))
    if config.smoothness > 0:
        terms.append(WeightedTerm("smoothness", config.smoothness, Smoothness()))
    if guide is not None and guide.weight > 0:
        terms.append(temporal_term(guide, out_hw))
    return terms


def rematch_interval(config: PaintConfig, matcher: str) -> int:
    """--rematch-every, with 0 (auto) made 2 for propagation search and 4 for the others. Measured
    on the Monet coastline (benchmarks/README.md#the-schedule): a propagation search costs a
    tenth of an evaluation, and searching every 2nd evaluation instead of every 4th lowered the
    final style loss by 6% at the same time; every evaluation gained nothing more."""
    if config.rematch_every:
        return config.rematch_every
    return 2 if matcher == "patchmatch" else 4


def matcher_options(config: PaintConfig) -> dict:
    return {"budget_bytes": config.memory_budget_mb * 2**20, "slices": config.slices, "variety": config.variety}


def style_samples(copies: list[tuple[StyleCopy, dict[str, torch.Tensor]]], layer: str
                  ) -> list[tuple[StyleCopy, StyleLayer]]:
    """Every style copy at `layer`: its features with its label channels and valid area on that grid."""
    samples = []
    for copy, features in copies:
        layer_hw = tuple(features[layer].shape[-2:])
        samples.append((copy, StyleLayer(
            features[layer],
            resize_channels(copy.channels, layer_hw) if copy.channels is not None else None,
            resize_channels(copy.valid, layer_hw) if copy.valid is not None else None,
            copy.share)))
    return samples
