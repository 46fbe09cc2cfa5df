"""The request layer for `doodle train`: a checked, resolved training job, and running it.

The same rules as the rest of the request layer (`doodle/request.py`): one-line errors before any
work, the style's sidecar map found beside it, nothing overwritten unless asked, and the model
written atomically, at checkpoints and at the end, also after Ctrl-C.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import PaintConfig
from .errors import DoodleError
from .feedforward import KINDS, MODEL_SUFFIX, photo_paths
from .images import (
    check_output_folder,
    declared_size,
    make_parent,
    path_exists,
    read_map,
    require_file,
    resize_map,
    sidecar_map_path,
)
from .interrupts import deferred_interrupts
from .request import PathLike, as_path, config_for, present_sidecar

# Models train on Gram statistics by default: on the Monet doodle, 150 steps with the painterly
# preset's per-label Grams reached a coastline region score of 0.943 in 229 s, where 150 steps with
# the patch loss (whose search costs about 0.5 s an example) reached 0.42 in 360 s.
TRAIN_PRESET = "painterly"


@dataclass(frozen=True)
class TrainRequest:
    """A resolved training job: the style, what to learn, and where the model goes."""

    style: Path
    style_map: Path | None  # doodle models learn its labels; content models use none
    kind: str
    content_dir: Path | None
    output: Path
    config: PaintConfig
    size: int
    steps: int
    batch: int
    width: int
    learning_rate: float
    resume: bool
    preview_every: int
    checkpoint_every: int
    notes: tuple[str, ...] = ()
    photos: tuple[Path, ...] = ()  # a content model's training photos from --content-dir (none: scikit-image's)
    force: bool = False  # replace a model in OUTPUT (--force); without it (or --resume) none is ever replaced
    stability: float = 0.0  # weight of the stability term (--stability; 0 = off)

    @property
    def preview_path(self) -> Path:
        return preview_path_of(self.output)


def preview_path_of(output: Path) -> Path:
    """Where previews of the model in `output` go: `NAME_preview.png` beside it."""
    return output.with_name(output.stem + "_preview.png")


@dataclass
class ModelDestination:
    """Where a training run writes its model. The first write replaces a file only when asked
    (--force, or --resume: the model being trained); a model file that appeared in OUTPUT while
    training (another run, a copy) is left untouched and this run's model goes beside it, to
    `NAME-1.doodle`, since throwing the training away would lose more. Later checkpoints replace
    the run's own earlier one."""

    path: Path
    replace: bool
    on_note: Callable[[str], None] | None = None

    def save(self, stylizer) -> None:
        written = stylizer.save(self.path, replace=self.replace, beside=True)
        if written != self.path and self.on_note is not None:
            self.on_note(f"{self.path} appeared while training and is left as it is; the model goes to {written}")
        self.path, self.replace = written, True


def train(request: TrainRequest, *, callback=None, on_note: Callable[[str], None] | None = None):
    """Train the model `request` asks for, writing it (atomically) every `checkpoint_every` steps,
    a preview every `preview_every` steps, and at the end, also after a stop signal (Ctrl-C,
    SIGTERM, SIGHUP) once a step is done. Returns the Stylizer and its TrainRecord; raises
    DoodleError, after training, when the model had to go beside an OUTPUT that appeared meanwhile."""
    from .encoder import load_encoder
    from .feedforward.models import Stylizer
    from .feedforward.painting import model_painting
    from .feedforward.training import TrainSettings, config_settings, new_stylizer, preview_source, train_style
    from .images import check_map_matches, load_image, write_image
    from .semantic import label_maps
    from .weights import file_sha256

    style = load_image(request.style, str(request.style))
    labels = palette = None
    if request.style_map is not None:
        drawn = read_map(request.style_map)
        check_map_matches(style.shape, drawn.shape, str(request.style), str(request.style_map))
        labelling = label_maps([drawn])
        labels, palette = labelling.labels[0], labelling.palette
        if labels.shape != style.shape[:2]:  # a map drawn at another resolution: label the painting's pixels
            labels = np.asarray(resize_map(labels.astype(np.uint8), (style.shape[1], style.shape[0])), dtype=np.int64)
    settings = TrainSettings(request.size, request.steps, request.batch, request.learning_rate, request.width,
                             request.config.seed, request.stability)
    sha256 = file_sha256(request.style)
    if request.resume:
        stylizer = Stylizer.load(request.output)
        check_resumable(stylizer, request, sha256, palette)
        if stylizer.info.architecture.get("width") != request.width and on_note is not None:
            on_note(f"{request.output} keeps its width {stylizer.info.architecture.get('width')}; --width applies "
                    "to new models")
        stylizer.info.training.update({"steps": request.steps, "size": request.size, "batch": request.batch,
                                       "learning_rate": request.learning_rate, "stability": request.stability,
                                       "config": config_settings(request.config)})
    else:
        stylizer = new_stylizer(request.kind, request.style.name, sha256, style, palette, request.config, settings)
    encoder = load_encoder(request.config.model, request.config.pooling)
    preview_input = preview_source(style, labels, palette, list(request.photos) or None)
    steps_before = stylizer.step
    destination = ModelDestination(request.output, request.force or request.resume, on_note)

    def checkpoint(progress) -> None:
        if request.preview_every and progress.step % request.preview_every == 0:
            write_image(request.preview_path, model_painting(stylizer, preview_input, None))
        if request.checkpoint_every and progress.step % request.checkpoint_every == 0:
            destination.save(stylizer)
        if callback is not None:
            callback(progress)

    make_parent(request.output)
    # The loop holds stop signals itself (between steps); this holds them while the final model
    # is written, so that a signal then waits for it rather than losing the run.
    with deferred_interrupts(armed=False) as interrupt:
        record = train_style(style, labels, palette, stylizer, request.config, settings, encoder,
                             list(request.photos) or None, checkpoint)
        interrupt.hold(record.stop_signal)
        # After a stop the last finished step is a usable model; a run stopped before its first step
        # leaves the file as it was (with --force, an older model is not replaced by an untrained one).
        if stylizer.step > steps_before:
            destination.save(stylizer)
    if interrupt.asked:  # the loop's signal, or one that came while the model was written
        record.interrupted, record.stop_signal = True, interrupt.signum
    if destination.path != request.output:
        raise DoodleError(f"{request.output}: appeared while training and was left as it is; the model was "
                          f"written beside it, to {destination.path}")
    return stylizer, record


def check_resumable(stylizer, request: TrainRequest, sha256: str, palette: np.ndarray | None) -> None:
    """A model resumes only on its own style, kind and labels (in the same order)."""
    if stylizer.info.style.get("sha256") != sha256 or stylizer.info.kind != request.kind:
        raise DoodleError(f"{request.output}: was trained as a {stylizer.info.kind} model of "
                          f"{stylizer.info.style.get('name')}, not of {request.style}; give its own --style, "
                          "or --force to start over")
    known = [tuple(colour) for colour in stylizer.info.palette]
    given = [] if palette is None else [tuple(int(c) for c in colour) for colour in palette]
    if known != given:
        raise DoodleError(f"{request.output}: was trained on other map colours than {request.style_map}; give the "
                          "map it was trained on, or --force to start over")


MIN_TRAIN_SIZE = 64  # crops smaller than this leave the deepest style layers almost nothing to see


def train_request(style: PathLike, output: PathLike, *, style_map: PathLike | None = None, kind: str = "doodle",
                  content_dir: PathLike | None = None, size: int = 256, steps: int = 800, batch: int = 2,
                  width: int = 16, learning_rate: float = 2e-3, resume: bool = False, force: bool = False,
                  preview_every: int = 50, checkpoint_every: int = 50, preset: str | None = TRAIN_PRESET,
                  settings: Mapping[str, Any] | None = None, stability: float = 0.0) -> TrainRequest:
    """Check and resolve `doodle train`; raises DoodleError. `settings` are the loss settings given
    (PaintConfig fields), over the preset's."""
    style, output, content_dir = Path(style), Path(output), as_path(content_dir)
    config = config_for(preset, dict(settings or {}))
    if kind not in KINDS:
        raise DoodleError(f"--kind {kind!r}: choose one of {', '.join(KINDS)}")
    for value, flag, least in ((size, "--size", MIN_TRAIN_SIZE), (steps, "--steps", 1), (batch, "--batch", 1),
                               (width, "--width", 4), (preview_every, "--preview-every", 0),
                               (checkpoint_every, "--checkpoint-every", 0)):
        if value < least:
            raise DoodleError(f"{flag} must be at least {least}")
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise DoodleError("--learning-rate must be a finite number above 0")
    if not (math.isfinite(stability) and stability >= 0):
        raise DoodleError("--stability must be a finite number, 0 (off) or more")
    declared_size(style, "image")  # the header, so that a bomb is refused before training starts
    notes: list[str] = []
    photos: tuple[Path, ...] = ()
    map_path = as_path(style_map) or present_sidecar(style)
    if map_path is not None:
        require_file(map_path, "map")
    if kind == "doodle":
        if map_path is None:
            raise DoodleError(f"{style}: a doodle model learns the style's labels, but it has no map "
                              f"{sidecar_map_path(style).name}; give --style-map, or --kind content")
        if content_dir is not None:
            raise DoodleError("--content-dir gives photos to a content model; with --kind doodle the style's own map "
                              "makes the training doodles")
    else:
        if map_path is not None:
            notes.append(f"{map_path} is not used: content models learn from photos alone, without maps")
        map_path = None
        if content_dir is not None:
            if not content_dir.is_dir():
                raise DoodleError(f"{content_dir}: no such folder; give a folder of photos as --content-dir")
            photos = photo_paths(content_dir)
    if output.suffix != MODEL_SUFFIX:
        raise DoodleError(f"{output}: end the model's name with {MODEL_SUFFIX}, e.g. "
                          f"{output.with_suffix(MODEL_SUFFIX).name}")
    if resume:
        require_file(output, "model")
    elif path_exists(output) and not force:
        raise DoodleError(f"{output}: already exists; pass --resume to train it further, --force to start it over, "
                          "or choose another --output")
    check_output_folder(output)
    if preview_every and path_exists(preview_path_of(output)) and preview_path_of(output).is_dir():
        raise DoodleError(f"{preview_path_of(output)}: is a folder, so previews cannot go there; move it or use "
                          "--preview-every 0")
    return TrainRequest(style, map_path, kind, content_dir, output, config, size, steps, batch, width, learning_rate,
                        resume, preview_every, checkpoint_every, tuple(notes), photos, force, stability)
