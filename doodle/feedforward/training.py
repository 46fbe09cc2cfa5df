"""Training a generator for one style with the engine's own loss terms.

Every step paints a small batch of training examples (see `data.py`), encodes the paintings with the
same VGG encoder as `doodle paint`, and scores each with the terms `terms.build_terms` makes for the
optimisation path: the semantic patch loss against the style's patch bank (with the same matchers),
Gram and per-label Gram losses, the content loss and smoothness, weighted by the same settings and
presets. The content term compares a doodle example with the painting under it (recombined layouts
have none), and a photo example with the photo. Adam updates the network.

With a `stability` weight the batch is also painted perturbed as the next frame of a video would
show it (`stability_term`), and the network learns to paint that as its first painting, moved.

Nothing here prints: each step is reported to a callback as a `TrainProgress`, and `train` returns
the trained `Stylizer` with a `TrainRecord`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import PaintConfig
from ..encoder import VGGEncoder
from ..images import image_to_tensor
from ..interrupts import deferred_interrupts, signal_of
from ..layers import check_layers
from ..matching import resolve_matcher
from ..optimise import encode
from ..plan import pick_device, resolve_precision
from ..semantic import one_hot
from ..style_bank import StyleCopy, style_copies
from ..terms import build_terms
from .data import (
    DoodleExamples,
    Example,
    PhotoExamples,
    inside,
    perturb_photos,
    random_flow,
    resized_flow,
    skimage_photos,
    warp_batch,
)
from .models import ModelInfo, Stylizer

# Added to the seed of the network's noise, so that it is a stream apart from the examples'.
NOISE_SEED_OFFSET = 1_000_003
# ... and the stability term's perturbations another, so that a run with the term sees the same
# examples and noise as one without it.
PERTURBATION_SEED_OFFSET = 2_000_003
# The learning rate falls along a half cosine to this share of its start by the last step.
FINAL_LEARNING_RATE = 0.1


@dataclass(frozen=True)
class TrainSettings:
    """How to train, beside the loss settings (a PaintConfig)."""

    size: int = 256  # side of the square training crops, in pixels
    steps: int = 800
    batch: int = 2
    learning_rate: float = 2e-3
    width: int = 16  # channels of the generator (see networks.py)
    seed: int = 0
    stability: float = 0.0  # weight of the stability term (0 = off; see stability_term)


@dataclass(frozen=True)
class TrainProgress:
    """One training step, as reported to callbacks."""

    step: int  # 1-based, counting steps of earlier runs that are resumed
    steps: int
    losses: dict[str, float]  # weighted loss terms, averaged over the batch
    elapsed: float  # seconds of this run
    stylizer: Stylizer = field(repr=False)  # the network now: for previews; do not train it

    @property
    def total(self) -> float:
        return sum(self.losses.values())


@dataclass
class TrainRecord:
    history: list[tuple[int, float, float]] = field(default_factory=list)  # (step, seconds, total loss)
    seconds: float = 0.0
    interrupted: bool = False
    stop_signal: int | None = None  # the signal that stopped it (Ctrl-C's SIGINT, SIGTERM, SIGHUP)
    notes: list[str] = field(default_factory=list)


@dataclass
class StyleTarget:
    """The style side of training, computed once: the style (and copies) with their features."""

    copies: list[tuple[StyleCopy, dict[str, torch.Tensor]]]
    layers: tuple[str, ...]  # every layer the network computes for the losses
    matcher: str
    precision: str
    cache: dict = field(default_factory=dict)  # patch banks and Gram targets, built at the first example


def style_target(style: torch.Tensor, channels: torch.Tensor | None, config: PaintConfig, encoder: VGGEncoder,
                 with_content: bool, device: torch.device) -> StyleTarget:
    style_layers = tuple(config.style_layer_names)
    layers = tuple(dict.fromkeys(style_layers + (tuple(config.content_layers) if with_content else ())))
    check_layers(encoder.info.model, layers)
    precision = resolve_precision(config.precision, device)
    augment = "patch" in config.style_loss_weights
    copies = style_copies(style, channels, 1.0, 1.0, config.style_rotations if augment else (),
                          config.style_scales if augment else ())
    with torch.no_grad():
        encoded = [(copy, encode(encoder, copy.image, style_layers, precision)) for copy in copies]
    matcher = resolve_matcher(config.matcher, device)
    if matcher == "patchmatch":  # every step scores a new doodle: no field to improve, so search exactly
        matcher = resolve_matcher("auto", device)
    return StyleTarget(encoded, layers, matcher, precision)


def example_loss(painted: torch.Tensor, features: dict[str, torch.Tensor], example: Example, target: StyleTarget,
                 config: PaintConfig, encoder: VGGEncoder) -> dict[str, torch.Tensor]:
    """The weighted loss terms of one painted example (1, 3, H, W) with its features."""
    content_features = None
    if example.pixels is not None and config.content_weight > 0:
        with torch.no_grad():
            content_features = encode(encoder, example.pixels, config.content_layers, target.precision)
    terms = build_terms(config, tuple(painted.shape[-2:]), target.copies, example.labels, content_features,
                        target.matcher, target.cache)
    return {item.name: item.weight * item.term(painted, features) for item in terms}


def stability_term(network: torch.nn.Module, kind: str, inputs: torch.Tensor, painted: torch.Tensor,
                   noise: list[torch.Tensor] | None, generator: torch.Generator) -> torch.Tensor:
    """ReReVST's compound regularisation (Wang et al. 2020): mean |warp(G(x)) - G(x')| over the
    pixels the warp reads from inside the picture, where x' is the batch `inputs` moved by a random
    smooth flow (`data.random_flow`) and `painted` = G(x).

    Photos are warped bilinearly and get a small brightness change and pixel noise as well. Maps
    are warped with nearest sampling (labels stay labels). A doodle generator also paints from
    noise (`noise`, the noise `painted` was made with): G(x') gets that noise moved by the same flow
    (per level, nearest, so it stays white noise). With the noise held still instead, the term
    could only be met by ignoring the noise, which is the network's source of texture; with the
    noise moved, the term asks only that the painting move with the map. A video painted with a
    doodle model is then steadiest with its noise moved along the map's motion, and where nothing
    moves (one seed for the whole clip) it is steady anyway."""
    flow = random_flow(inputs.shape[0], tuple(inputs.shape[-2:]), generator).to(inputs.device)
    if kind == "doodle":
        moved_noise = [warp_batch(level, resized_flow(flow, tuple(level.shape[-2:])), labels=True) for level in noise]
        repainted = network(warp_batch(inputs, flow, labels=True), noise=moved_noise)
    else:
        repainted = network(perturb_photos(inputs, flow, generator))
    valid = inside(flow)
    difference = (warp_batch(painted, flow) - repainted).abs() * valid
    return difference.sum() / (painted.shape[1] * valid.sum()).clamp_min(1.0)


def learning_rate_at(step: int, steps: int, start: float) -> float:
    """Half-cosine decay from `start` to FINAL_LEARNING_RATE of it."""
    progress = min(1.0, step / max(1, steps))
    return start * (FINAL_LEARNING_RATE + (1 - FINAL_LEARNING_RATE) * 0.5 * (1 + math.cos(math.pi * progress)))


def train(stylizer: Stylizer, examples: DoodleExamples | PhotoExamples, target: StyleTarget, config: PaintConfig,
          settings: TrainSettings, encoder: VGGEncoder,
          callback: Callable[[TrainProgress], None] | None = None) -> TrainRecord:
    """Train `stylizer`'s network in place from its current step up to `settings.steps`.

    A stop signal (Ctrl-C, SIGTERM, SIGHUP) stops after the step under way and returns with
    `record.interrupted` and `record.stop_signal` set; the network then holds the last finished
    step, so the model is usable and can be resumed."""
    network = stylizer.network
    device = stylizer.device
    network.train()
    optimiser = torch.optim.Adam(network.parameters(), lr=settings.learning_rate)
    if stylizer.optimiser_state is not None:
        try:
            optimiser.load_state_dict(stylizer.optimiser_state)
        except (ValueError, KeyError, RuntimeError):
            pass  # a state that does not fit this network: Adam starts afresh, the weights go on
    record = TrainRecord()
    started = time.perf_counter()
    # The network's noise draws its own stream, apart from the examples' (seeded from the same
    # settings in data.py): two streams from one seed would move together.
    generator = torch.Generator().manual_seed(NOISE_SEED_OFFSET + settings.seed + stylizer.step)
    perturbations = torch.Generator().manual_seed(PERTURBATION_SEED_OFFSET + settings.seed + stylizer.step)
    kind = stylizer.info.kind
    with deferred_interrupts() as interrupt:
        try:
            while stylizer.step < settings.steps and not interrupt.asked:
                for group in optimiser.param_groups:
                    group["lr"] = learning_rate_at(stylizer.step, settings.steps, settings.learning_rate)
                batch = [example.to(device) for example in (next(examples) for _ in range(settings.batch))]
                inputs = torch.cat([stylizer.network_input(example) for example in batch])
                # The noise drawn here is what network(inputs, generator) would draw: the same stream.
                noise = network.draw_noise(inputs, generator) if kind == "doodle" else None
                painted = network(inputs, noise=noise) if kind == "doodle" else network(inputs, generator)
                features = encode(encoder, painted, target.layers, target.precision)
                parts: dict[str, torch.Tensor] = {}
                for index, example in enumerate(batch):
                    one = {name: value[index: index + 1] for name, value in features.items()}
                    for name, value in example_loss(painted[index: index + 1], one, example, target, config,
                                                    encoder).items():
                        parts[name] = parts.get(name, 0.0) + value / len(batch)
                if settings.stability > 0:
                    parts["stability"] = settings.stability * stability_term(network, kind, inputs, painted, noise,
                                                                             perturbations)
                total = sum(parts.values())
                optimiser.zero_grad()
                total.backward()
                optimiser.step()
                stylizer.step += 1
                stylizer.optimiser_state = optimiser.state_dict()
                elapsed = time.perf_counter() - started
                record.history.append((stylizer.step, elapsed, total.item()))
                if callback is not None:
                    callback(TrainProgress(stylizer.step, settings.steps, {k: v.item() for k, v in parts.items()},
                                           elapsed, stylizer))
            record.interrupted, record.stop_signal = interrupt.asked, interrupt.signum
        except KeyboardInterrupt as stop:  # a second stop signal, or Ctrl-C outside the main thread
            record.interrupted, record.stop_signal = True, signal_of(stop)
        finally:
            network.eval()
            record.seconds = time.perf_counter() - started
    return record


def new_stylizer(kind: str, style_name: str, style_sha256: str, style: np.ndarray, palette: np.ndarray | None,
                 config: PaintConfig, settings: TrainSettings) -> Stylizer:
    """An untrained generator for a style, with everything its model file will say about it."""
    labels = 0 if palette is None else len(palette)
    architecture = {"labels": labels, "width": settings.width}
    colours = [] if palette is None else [tuple(int(c) for c in colour) for colour in palette]
    info = ModelInfo(kind, architecture, colours,
                     {"name": style_name, "sha256": style_sha256, "width": style.shape[1], "height": style.shape[0]},
                     {"config": config_settings(config), "size": settings.size, "steps": settings.steps,
                      "batch": settings.batch, "learning_rate": settings.learning_rate, "seed": settings.seed,
                      "stability": settings.stability})
    # The network's first weights come from the seed (the same seed, the same model). Only the CPU
    # generator is seeded (torch.manual_seed would seed every GPU's too), and put back afterwards.
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(settings.seed)
        return Stylizer(info)


def config_settings(config: PaintConfig) -> dict[str, Any]:
    """The settings that differ from the defaults, as JSON values (the model file records them)."""
    defaults = PaintConfig()
    return {name: (list(value) if isinstance(value, tuple) else value)
            for name, value in vars(config).items() if value != getattr(defaults, name)}


def train_style(style: np.ndarray, style_labels: np.ndarray | None, palette: np.ndarray | None, stylizer: Stylizer,
                config: PaintConfig, settings: TrainSettings, encoder: VGGEncoder,
                photos: list | None = None, callback: Callable[[TrainProgress], None] | None = None) -> TrainRecord:
    """Train `stylizer` (new, or resumed from a model file) on a style image and its labels."""
    device = pick_device(config.device)
    encoder = encoder.to(device)
    stylizer.network.to(device)
    kind = stylizer.info.kind
    channels = None
    if style_labels is not None and kind == "doodle":
        channels = one_hot(style_labels, len(palette)).to(device)
    target = style_target(image_to_tensor(style, device), channels, config, encoder, config.content_weight > 0, device)
    size = (settings.size, settings.size)
    seed = settings.seed + stylizer.step  # a resumed run draws new examples
    if kind == "doodle":
        examples = DoodleExamples(style, style_labels, len(palette), size, seed)
    else:
        examples = PhotoExamples(photos or skimage_photos(), size, seed)
    record = train(stylizer, examples, target, config, settings, encoder, callback)
    stylizer.info.training["seconds"] = stylizer.info.training.get("seconds", 0.0) + record.seconds
    if record.history:
        stylizer.info.training["loss"] = record.history[-1][2]
    return record


def preview_source(style: np.ndarray, labels: np.ndarray | None, palette: np.ndarray | None,
                   photos: list | None) -> np.ndarray | Path:
    """What previews show the network painting: the style's own map (doodle models, as a colour
    map), else the first training photo."""
    if labels is not None and palette is not None:
        return np.asarray(palette, dtype=np.uint8)[labels]
    return photos[0] if photos else skimage_photos()[0]
