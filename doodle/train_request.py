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
from .feedforward import KINDS, MODEL_SUFFIX
from .images import check_output_folder, make_parent, read_map, require_file, resize_map, sidecar_map_path
from .request import PathLike, as_path, config_for, existing_file

# Models train on Gram statistics by default: on the Monet doodle, 100 steps with the painterly
# preset's per-label Grams reached a region score of 0.91 in 126 s, where 150 steps with the
# patch loss (whose search costs about 0.5 s an example) reached 0.42 in 360 s.
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

    @property
    def preview_path(self) -> Path:
        return self.output.with_name(self.output.stem + "_preview.png")


def train(request: TrainRequest, *, callback=None, on_note: Callable[[str], None] | None = None):
    """Train the model `request` asks for, writing it (atomically) every `checkpoint_every` steps,
    a preview every `preview_every` steps, and at the end, also after Ctrl-C. Returns the
    Stylizer and its TrainRecord."""
    from .encoder import load_encoder
    from .feedforward.data import photo_paths
    from .feedforward.models import Stylizer
    from .feedforward.painting import model_painting
    from .feedforward.training import TrainSettings, new_stylizer, preview_source, train_style
    from .images import load_image, write_image
    from .semantic import label_maps
    from .weights import file_sha256

    style = load_image(request.style, str(request.style))
    labels = palette = None
    if request.style_map is not None:
        labelling = label_maps([read_map(request.style_map)])
        labels, palette = labelling.labels[0], labelling.palette
        if labels.shape != style.shape[:2]:  # a map drawn at another resolution: label the painting's pixels
            labels = np.asarray(resize_map(labels.astype(np.uint8), (style.shape[1], style.shape[0])), dtype=np.int64)
    settings = TrainSettings(request.size, request.steps, request.batch, request.learning_rate, request.width,
                             request.config.seed)
    sha256 = file_sha256(request.style)
    if request.resume:
        stylizer = Stylizer.load(request.output)
        if stylizer.info.style.get("sha256") != sha256 or stylizer.info.kind != request.kind:
            raise DoodleError(f"{request.output}: was trained as a {stylizer.info.kind} model of "
                              f"{stylizer.info.style.get('name')}, not of {request.style}; give its own --style, "
                              "or --force to start over")
        stylizer.info.training["steps"] = request.steps
    else:
        stylizer = new_stylizer(request.kind, request.style.name, sha256, style, palette, request.config, settings)
    photos = photo_paths(request.content_dir) if request.content_dir is not None else None
    encoder = load_encoder(request.config.model, request.config.pooling)
    preview_input = preview_source(style, labels, palette, photos)

    def checkpoint(progress) -> None:
        if request.preview_every and progress.step % request.preview_every == 0:
            write_image(request.preview_path, model_painting(stylizer, preview_input, None))
        if request.checkpoint_every and progress.step % request.checkpoint_every == 0:
            stylizer.save(request.output)
        if callback is not None:
            callback(progress)

    make_parent(request.output)
    record = train_style(style, labels, palette, stylizer, request.config, settings, encoder, photos, checkpoint)
    stylizer.save(request.output)  # also after Ctrl-C: the last finished step is a usable model
    return stylizer, record


MIN_TRAIN_SIZE = 64  # crops smaller than this leave the deepest style layers almost nothing to see


def train_request(style: PathLike, output: PathLike, *, style_map: PathLike | None = None, kind: str = "doodle",
                  content_dir: PathLike | None = None, size: int = 256, steps: int = 1500, batch: int = 2,
                  width: int = 16, learning_rate: float = 2e-3, resume: bool = False, force: bool = False,
                  preview_every: int = 100, checkpoint_every: int = 100, preset: str | None = TRAIN_PRESET,
                  settings: Mapping[str, Any] | None = None) -> TrainRequest:
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
    require_file(style, "image")
    notes: list[str] = []
    map_path = as_path(style_map) or existing_file(sidecar_map_path(style), Path.exists)
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
        if content_dir is not None and not content_dir.is_dir():
            raise DoodleError(f"{content_dir}: no such folder; give a folder of photos as --content-dir")
    if output.suffix != MODEL_SUFFIX:
        raise DoodleError(f"{output}: end the model's name with {MODEL_SUFFIX}, e.g. "
                          f"{output.with_suffix(MODEL_SUFFIX).name}")
    if resume:
        require_file(output, "model")
    elif output.exists() and not force:
        raise DoodleError(f"{output}: already exists; pass --resume to train it further, --force to start it over, "
                          "or choose another --output")
    check_output_folder(output)
    if preview_every:
        preview = output.with_name(output.stem + "_preview.png")
        if preview.is_dir():
            raise DoodleError(f"{preview}: is a folder, so previews cannot go there; move it or use --preview-every 0")
    return TrainRequest(style, map_path, kind, content_dir, output, config, size, steps, batch, width, learning_rate,
                        resume, preview_every, checkpoint_every, tuple(notes))
