"""What crosses between the browser's canvas and the server: the drawn doodle (a PNG, snapped to
the style's label palette here, so that a brush's anti-aliased edge never becomes a label of its
own), the canvas's setup, and uploads checked before a pixel of them is decoded."""

from __future__ import annotations

import base64
import binascii
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DoodleError
from ..images import ASPECT_TOLERANCE, declared_size, read_image, read_map, resize_map, to_uint8
from ..semantic import colour_name, snap_to_palette
from .styles import StudioStyle

MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # a painting or a doodle; a bigger file is refused unread
MAX_UPLOAD_PIXELS = 36_000_000  # as declared in the header: a bigger picture (or a bomb) is refused undecoded
DATA_URL_PREFIX = "data:image/png;base64,"


def data_url(image: np.ndarray, fmt: str = "PNG") -> str:
    """An image as a data: URL, for the canvas (PNG keeps a map's colours exact; JPEG for a painting)."""
    stream = io.BytesIO()
    Image.fromarray(image).convert("RGB").save(stream, format=fmt, quality=90)
    kind = "png" if fmt == "PNG" else "jpeg"
    return f"data:image/{kind};base64,{base64.b64encode(stream.getvalue()).decode('ascii')}"


def canvas_labels(url: str, style: StudioStyle) -> np.ndarray:
    """The labels of a canvas snapshot (a PNG data URL at the canvas's size), every pixel snapped to
    the nearest label colour of `style`."""
    width, height = style.canvas_size
    if not url.startswith(DATA_URL_PREFIX):
        raise DoodleError("the canvas sent something that is not a PNG; reload the page")
    encoded = url[len(DATA_URL_PREFIX):]
    # A PNG of the canvas is at most its raw pixels plus headers: anything larger is not our canvas.
    if len(encoded) > 4 * (width * height * 4 + 65536) // 3 + 4:
        raise DoodleError("the canvas sent more data than a drawing of its size; reload the page")
    try:
        with Image.open(io.BytesIO(base64.b64decode(encoded, validate=True))) as image:
            if image.size != (width, height):
                raise DoodleError(f"the canvas is {image.size[0]}x{image.size[1]} but this style's is "
                                  f"{width}x{height}; reload the page")
            pixels = np.asarray(image.convert("RGB"))
    except (binascii.Error, OSError, ValueError):
        raise DoodleError("the canvas sent a damaged PNG; reload the page") from None
    return snap_to_palette(pixels, style.palette)


def checked_upload(path: Path, shown_name: str, what: str) -> tuple[int, int]:
    """(width, height) of an uploaded file, from its size on disk and its header alone: too large a
    file or picture is refused before anything is decoded. Messages name the file as the user did."""
    size = os.stat(path).st_size
    if size > MAX_UPLOAD_BYTES:
        raise DoodleError(f"{shown_name}: {size / 2**20:.0f} MB is too large to upload; the studio takes "
                          f"{what}s of up to {MAX_UPLOAD_BYTES // 2**20} MB")
    try:
        width, height = declared_size(path, what)
    except DoodleError as error:
        raise DoodleError(str(error).replace(str(path), shown_name)) from None
    if width * height > MAX_UPLOAD_PIXELS:
        raise DoodleError(f"{shown_name}: {width}x{height} is too many pixels for the studio (at most "
                          f"{MAX_UPLOAD_PIXELS // 1_000_000} megapixels); shrink it first")
    return width, height


def read_upload(path: Path, shown_name: str, what: str) -> np.ndarray:
    """An uploaded painting (RGB float) or map (RGB uint8), checked as `checked_upload` says."""
    checked_upload(path, shown_name, what)
    try:
        return read_map(path) if what == "map" else read_image(path)
    except DoodleError as error:
        raise DoodleError(str(error).replace(str(path), shown_name)) from None


def uploaded_doodle(path: Path, shown_name: str, style: StudioStyle) -> np.ndarray:
    """The labels of an uploaded doodle, at the canvas's size: it must have the style's aspect."""
    drawn = read_upload(path, shown_name, "map")
    width, height = style.canvas_size
    if abs((drawn.shape[1] / drawn.shape[0]) / (width / height) - 1) > ASPECT_TOLERANCE:
        raise DoodleError(f"{shown_name}: the map is {drawn.shape[1]}x{drawn.shape[0]}, but {style.painting.name} "
                          f"is {style.labels.shape[1]}x{style.labels.shape[0]}; draw the doodle at the painting's "
                          "aspect ratio")
    labels = snap_to_palette(drawn, style.palette)
    return resize_map(labels.astype(np.uint8), (width, height)).astype(np.int64)


def canvas_setup(style: StudioStyle, start: np.ndarray, *, editing_style_map: bool = False) -> dict:
    """What the canvas needs to draw for `style`: its size, the brushes (one per label, in the label's
    colour, with the legend's names), the eraser's label, the layout to start from, the style's own
    map (for "start from the style's map") and, when the style's map itself is edited, the painting
    to show beneath it."""
    width, height = style.canvas_size
    setup = {"width": width, "height": height, "background": style.background,
             "colours": [colour_name(colour) for colour in style.palette], "names": list(style.names),
             "start": data_url(style.palette[start].astype(np.uint8)),
             "style_map": data_url(style.palette[style.canvas_labels()].astype(np.uint8)),
             "editing_style_map": editing_style_map, "underlay": None}
    if editing_style_map:
        painting = np.asarray(Image.fromarray(to_uint8(read_image(style.painting)))
                              .resize((width, height), Image.Resampling.LANCZOS))
        setup["underlay"] = data_url(painting, "JPEG")
    return setup
