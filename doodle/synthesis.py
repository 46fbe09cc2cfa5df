"""`paint`, the engine's one entry point, as named stages; nothing here prints.

prepare inputs (`inputs.py`) -> plan the run (`plan.py`) -> load the network -> build the style
bank (`style_bank.py`) -> per phase: starting image or upsampled result, encode, build the loss
terms (`terms.py`), optimise (`optimise.py`) -> colours (`colors.py`). Every evaluation is
reported to an optional callback as a `Progress` record, and `paint` returns the image with a
`PaintRecord` of what happened.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from .colors import keep_luminance, match_colours
from .config import PaintConfig
from .encoder import VGGEncoder, load_encoder
from .errors import DoodleError
from .images import ImageLike, image_to_tensor, resize_image, tensor_to_image
from .inputs import ImagesLike, Notes, PaintInputs, planned_sizes, prepare_inputs
from .layers import check_layers
from .optimise import PhaseOutcome, encode, non_finite_advice, optimise_phase
from .plan import RunPlan, check_fits, phase_sizes, plan_run, smallest_side, uses_style_copies
from .records import PaintRecord, PaintResult, PhaseRecord, Progress
from .semantic import one_hot, resize_channels
from .starting import initial_image
from .style_bank import StyleBank, StyleCopy, build_style_bank
from .temporal import TemporalGuide
from .terms import build_terms


def paint(style: ImagesLike, *, style_map: ImagesLike | None = None, content: ImageLike | None = None,
          content_map: ImageLike | None = None, target_map: ImageLike | None = None,
          size: tuple[int, int] | None = None, config: PaintConfig = PaintConfig(),
          callback: Callable[[Progress], None] | None = None,
          on_note: Callable[[str], None] | None = None,
          encoder: VGGEncoder | None = None, guide: TemporalGuide | None = None,
          style_features: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> PaintResult:
    """Paint an image in the style of `style`.

    Modes follow from what is given: `target_map` (a doodle) and `style_map` paint a new picture of
    that layout; `content` repaints a photo (with `content_map` and `style_map`: semantic transfer);
    `style` alone with `size` (width, height) synthesises a texture. Images are paths or arrays
    HxWx3 (float in [0, 1], or uint8); maps are paths or uint8 arrays HxWx3. `style` may be a list
    of several styles (with a list of as many maps), weighed by `config.style_blend`. `callback`
    hears every evaluation; `on_note` hears each note (a dropped phase, a borrowed label) as it
    arises. Ctrl-C (KeyboardInterrupt) stops the run early and returns the image so far, with
    `record.interrupted` set. A temporal `guide` (a frame of a video: the previous painted frame
    warped into this one, at the painting's size) seeds the start where its mask trusts it and adds
    the "temporal" loss term to every phase; see `doodle.temporal`. `style_features` (from
    `style_features_of` for the same style and settings) are used instead of encoding the style
    again, wherever their key matches: `doodle batch` computes them once for many paintings. Given
    a dict, `paint` adds what it encodes, so the next painting of the style (a clip's next frame)
    finds it there.
    """
    started = time.perf_counter()
    record = PaintRecord(mode="", config=config)

    def note(texts: list[str]) -> None:
        record.notes.extend(texts)
        for text in texts:
            if on_note is not None:
                on_note(text)

    inputs, plan, bank, encoder = prepare_run(style, style_map, content, content_map, target_map, size, config,
                                              encoder, record, note)
    if guide is not None:
        guide.check_size(inputs.out_hw)
    note([plan.summary(inputs.out_hw)])
    content_full = image_to_tensor(inputs.content, plan.device) if inputs.content is not None else None
    pixels = run_phases(inputs, plan, bank, content_full, encoder, config, record, started, callback, note,
                        guide=guide, style_features=style_features)
    image = finish_colours(tensor_to_image(pixels), inputs, bank, content_full, config)
    record.seconds = time.perf_counter() - started
    return PaintResult(image, record)


def prepare_run(style: ImagesLike, style_map: ImagesLike | None, content: ImageLike | None,
                content_map: ImageLike | None, target_map: ImageLike | None, size: tuple[int, int] | None,
                config: PaintConfig, encoder: VGGEncoder | None, record: PaintRecord, note: Notes
                ) -> tuple[PaintInputs, RunPlan, StyleBank, VGGEncoder]:
    """The stages before the first phase: inputs, plan, network and style bank."""
    # Sizes first, from the files' headers: a run that cannot fit is refused before anything is decoded.
    check_fits(planned_sizes(style, content, content_map, target_map, size, config), config, content is not None)
    inputs = prepare_inputs(style, style_map, content, content_map, target_map, size, config, note)
    record.mode = inputs.mode
    plan = plan_run(inputs, config, note)
    record.device, record.estimated_bytes = str(plan.device), plan.estimated_bytes
    record.matcher, record.precision = plan.matcher, plan.precision
    if encoder is None:
        encoder = load_encoder(config.model, config.pooling, plan.device)
    check_layers(encoder.info.model, plan.layers)
    record.model, record.weights = encoder.info.model, encoder.info.source
    bank = build_style_bank(inputs, uses_style_copies(config), config.style_rotations, config.style_scales,
                            plan.device, note)
    return inputs, plan, bank, encoder


def style_features_of(style: ImagesLike, *, style_map: ImagesLike | None = None, content: ImageLike | None = None,
                      content_map: ImageLike | None = None, target_map: ImageLike | None = None,
                      size: tuple[int, int] | None = None, config: PaintConfig = PaintConfig(),
                      encoder: VGGEncoder | None = None) -> dict[str, dict[str, np.ndarray]]:
    """The style's features at every phase of the run these arguments describe (every copy of every
    style), as numpy arrays keyed by what they were computed from (`feature_key`), for `paint`'s
    `style_features`: a run with other settings or another style simply finds no matching key."""
    record = PaintRecord(mode="", config=config)
    inputs, plan, bank, encoder = prepare_run(style, style_map, content, content_map, target_map, size, config,
                                              encoder, record, lambda texts: None)
    found: dict[str, dict[str, torch.Tensor]] = {}
    for index in range(len(plan.phase_sizes)):
        encode_style(bank.copies, index, plan, encoder, found)  # fills `found`
    return {key: {layer: value.detach().cpu().numpy() for layer, value in features.items()}
            for key, features in found.items()}


def as_features(value, device: torch.device) -> torch.Tensor:
    """A shared feature map on `device`: a tensor as it is, a numpy array copied (those from Ray's
    object store are read-only)."""
    return value.to(device) if isinstance(value, torch.Tensor) else torch.from_numpy(np.array(value)).to(device)


def feature_key(image_digest: str, copy_hw: tuple[int, int], plan: RunPlan, encoder: VGGEncoder) -> str:
    """What a style copy's features depend on: its pixels, its size at this phase, the layers, the
    network (weights file and pooling) and the arithmetic."""
    info = encoder.info
    return (f"{image_digest}:{copy_hw[0]}x{copy_hw[1]}:{','.join(plan.style_layers)}:{info.sha256}:"
            f"{encoder.pooling}:{plan.precision}")


def image_digest(image: torch.Tensor) -> str:
    return hashlib.sha256(image.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def encode_style(copies: list[StyleCopy], index: int, plan: RunPlan, encoder: VGGEncoder,
                 shared: Mapping[str, Mapping[str, np.ndarray]] | None = None
                 ) -> list[tuple[StyleCopy, dict[str, torch.Tensor]]]:
    """Every style copy at phase `index`'s scale with its features; shrunken copies too small for
    the deepest layer at this phase are left out (the styles themselves were checked by the plan).
    With `shared`, features found there under their `feature_key` are taken from there, and when
    it is a dict the features encoded here are added to it (without, no key is computed)."""
    smallest = smallest_side(plan.style_layers, 1)
    found = []
    with torch.no_grad():
        for copy in copies:
            copy_hw = phase_sizes(*copy.image.shape[-2:], plan.phases)[index]
            if not copy.base and min(copy_hw) < smallest:
                continue
            key = feature_key(image_digest(copy.image), copy_hw, plan, encoder) if shared is not None else None
            if key is not None and key in shared:
                features = {layer: as_features(value, plan.device) for layer, value in shared[key].items()}
            else:
                features = encode(encoder, resize_image(copy.image, copy_hw), plan.style_layers, plan.precision)
                if isinstance(shared, dict):  # a cache: the next run with this style finds them
                    shared[key] = features
            found.append((copy, features))
    return found


def run_phases(inputs: PaintInputs, plan: RunPlan, bank: StyleBank, content: torch.Tensor | None,
               encoder: VGGEncoder, config: PaintConfig, record: PaintRecord, started: float,
               callback: Callable[[Progress], None] | None, note: Notes = lambda texts: None,
               guide: TemporalGuide | None = None,
               style_features: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> torch.Tensor:
    """Coarse to fine: each phase starts from the previous result, upsampled. Ctrl-C ends the run
    with the best image so far (and re-raises only when there is no image yet). A phase whose loss
    stops being finite ends on its best finite image, with a note (see `check_finite`)."""
    generator = torch.Generator().manual_seed(config.seed)
    pixels: torch.Tensor | None = None
    fields: dict = {}  # a propagation search's matches, handed from each phase to the next
    try:
        for index, phase_hw in enumerate(plan.phase_sizes):
            phase_record = PhaseRecord(index + 1, (phase_hw[1], phase_hw[0]))
            record.phases.append(phase_record)
            if pixels is None:
                pixels = initial_image(config, phase_hw, [copy.image for copy in bank.bases],
                                       [copy.channels for copy in bank.bases] if inputs.with_maps else None,
                                       inputs.weights, bank.target_channels, content, inputs.init_image, generator,
                                       plan.device, guide)
            else:
                pixels = F.interpolate(pixels, size=phase_hw, mode="bicubic", align_corners=False).clamp(0, 1)
            encoded = encode_style(bank.copies, index, plan, encoder, style_features)
            content_features = None
            if content is not None:
                with torch.no_grad():
                    content_features = encode(encoder, resize_image(content, phase_hw), config.content_layers,
                                              plan.precision)
            terms = build_terms(config, phase_hw, encoded, bank.target_channels, content_features, plan.matcher,
                                guide=guide, fields=fields)
            outcome = optimise_phase(pixels, terms, encoder, plan.layers, config, plan.precision, phase_record,
                                     plan.phases, started, callback)
            check_finite(outcome, phase_record, config, note)
            pixels = outcome.pixels
            if outcome.interrupted:
                record.interrupted = True
                break
    except KeyboardInterrupt:  # between phases, or while the style features are computed
        record.interrupted = True
        if pixels is None:
            raise
    if tuple(pixels.shape[-2:]) != inputs.out_hw:  # interrupted before the last phase: still deliver the asked size
        pixels = resize_image(pixels.detach(), inputs.out_hw)
    return pixels


def check_finite(outcome: PhaseOutcome, phase_record: PhaseRecord, config: PaintConfig, note: Notes) -> None:
    """Say so when a phase's loss stopped being finite (an overflow: the phase kept its best finite
    image), naming the setting to lower. When not one step of the first phase had a finite loss, the
    image is still the starting image: that is an error, and nothing is written."""
    stop = outcome.non_finite
    if stop is None:
        return
    phase_record.non_finite = True
    what = f"phase {phase_record.index}: the loss ({', '.join(stop.terms)}) was no longer finite at evaluation " \
           f"{stop.evaluation}"
    advice = non_finite_advice(stop.terms, stop.pixels_finite, config)
    if phase_record.index == 1 and outcome.best_evaluation <= 1:
        raise DoodleError(f"{what}, before any step improved on the starting image; the painting was not written; "
                          f"{advice}")
    note([f"{what}; the phase stopped there on its best finite image (evaluation {outcome.best_evaluation}); "
          f"if the painting looks unfinished, {advice}"])


def finish_colours(image: np.ndarray, inputs: PaintInputs, bank: StyleBank, content: torch.Tensor | None,
                   config: PaintConfig) -> np.ndarray:
    """--colors original keeps the content's chroma; --colors match matches each label's colours to the style's."""
    if config.colors == "original":
        return keep_luminance(image, tensor_to_image(resize_image(content, inputs.out_hw)))
    if config.colors != "match":
        return image
    painted_labels = None
    if bank.target_channels is not None:
        painted_labels = resize_channels(bank.target_channels, inputs.out_hw).argmax(1)[0].cpu().numpy()
    # style labels at each style image's own size: a map may have another resolution than its image
    style_labels = [None] * len(inputs.styles)
    if inputs.labelling is not None:
        count = inputs.labelling.count
        style_labels = [resize_channels(one_hot(labels, count), picture.shape[:2]).argmax(1)[0].numpy()
                        for labels, picture in zip(inputs.labelling.labels[:-1], inputs.styles)]
    return match_colours(image, painted_labels, list(zip(inputs.styles, style_labels)), inputs.weights)
