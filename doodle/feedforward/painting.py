"""Painting with a trained model, for the request layer (`doodle paint --model`) and for starting
the optimisation path from a model's painting (`--init NAME.doodle`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch.nn.functional as F

from ..config import PaintConfig
from ..errors import DoodleError
from ..images import ImageLike, name_of, resize_image, tensor_to_image, tensor_to_uint8
from ..inputs import declared_shape
from ..meminfo import available_ram
from ..memory import MEMORY_HEADROOM, format_bytes
from ..records import PaintRecord, PaintResult
from .models import Stylizer


def painting_bytes(model: Stylizer, hw: tuple[int, int]) -> int:
    """Peak memory of one forward pass at `hw`, generously: the input channels, a few of the widest
    feature maps alive at once at full size (inference frees the rest as it goes), and the output."""
    channels = model.info.labels + 3 + 4 * int(model.info.architecture.get("width", 16)) + 6
    return hw[0] * hw[1] * channels * 4


def refuse_unfitting_painting(model: Stylizer, source: ImageLike, size_hw: tuple[int, int] | None) -> None:
    """Refuse, before anything is decoded or allocated, a painting that cannot fit in memory: the
    source is encoded at its own size first, so both sizes count."""
    source_hw = declared_shape(source, "map" if model.info.kind == "doodle" else "image")
    largest = max([source_hw] + ([size_hw] if size_hw is not None else []), key=lambda hw: hw[0] * hw[1])
    needed, free = painting_bytes(model, largest), available_ram()
    if free is not None and needed > MEMORY_HEADROOM * free:
        what = f"--size {largest[1]}x{largest[0]}" if largest is size_hw else name_of(source, "the input")
        raise DoodleError(f"{what}: painting at {largest[1]}x{largest[0]} needs about {format_bytes(needed)} but "
                          f"{format_bytes(free)} is free; use a smaller --size or a smaller input")


def model_painting(model: Stylizer, source: ImageLike, size_hw: tuple[int, int] | None, seed: int = 0,
                   on_note: Callable[[str], None] | None = None, *, precision: str = "fp32",
                   as_uint8: bool = False) -> np.ndarray:
    """`model`'s painting of a doodle or photo, at `size_hw` (height, width) or the source's own size:
    float32 in [0, 1], or uint8 with `as_uint8`. A map is resized with nearest neighbours (no new
    labels), a photo with antialiasing. `precision`: "bf16" runs the network under bfloat16 autocast;
    anything else ("auto" included) in float32. Unlike the optimisation engine, auto stays float32:
    where bfloat16 is native it takes about two thirds of a bare forward pass's time, but in `doodle
    video`'s loop (the encoder busy beside it) it measured no faster, and float32 paints the same on
    every machine."""
    refuse_unfitting_painting(model, source, size_hw)
    inputs = model.input_tensor(source, on_note)
    if size_hw is not None and tuple(inputs.shape[-2:]) != tuple(size_hw):
        inputs = (F.interpolate(inputs, size=size_hw, mode="nearest") if model.info.kind == "doodle"
                  else resize_image(inputs, size_hw))
    painted = model.paint_tensor(inputs, seed, "bf16" if precision == "bf16" else "fp32")
    return tensor_to_uint8(painted) if as_uint8 else tensor_to_image(painted)


def paint_with_model(path: Path, doodle: ImageLike | None, content: ImageLike | None, size: tuple[int, int] | None,
                     config: PaintConfig, on_note: Callable[[str], None] | None = None) -> PaintResult:
    """One forward pass of the model in `path` over the doodle (doodle models) or the photo
    (content models); `size` is (width, height) or None for the input's own."""
    started = time.perf_counter()
    model = Stylizer.load(path)
    if (model.info.kind == "doodle") != (doodle is not None):
        wanted = "a doodle: give --map, not --content" if model.info.kind == "doodle" else \
            "photos: give --content PHOTO, not --map"
        raise DoodleError(f"{path}: a {model.info.kind} model paints {wanted}")
    source = doodle if doodle is not None else content
    image = model_painting(model, source, None if size is None else (size[1], size[0]), config.seed, on_note,
                           precision=config.precision)
    record = PaintRecord(mode="doodle" if model.info.kind == "doodle" else "style", config=config,
                         model=f"{Path(path).name}, a {model.info.kind} model", weights=str(path), device="cpu",
                         seconds=time.perf_counter() - started)
    return PaintResult(image, record)
