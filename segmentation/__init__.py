"""Automatic semantic maps, so that no one has to draw them.

    from segmentation import segment
    result = segment(["Gogh.jpg", "Seth.jpg"])      # labelled together: one colour, one region kind
    result.maps                                    # uint8 HxWx3 maps, ready for doodle.paint
    result.method, result.names, result.notes, result.reason

Methods:
- `cluster` (offline, any picture): co-segmentation of VGG features, colour and position.
- `portrait` (faces; `pip install 'doodle[portrait]'`): background, clothing, hair, skin, eyebrows,
  eyes and lips from MediaPipe's face mesh and selfie segmentation.
- `network` (photos of people, animals, vehicles, rooms): torchvision's DeepLabV3, downloaded once.
- `auto` (the default): portrait when mediapipe is installed and every image shows a face, else
  cluster (also cluster when a number of labels is asked for).

This package uses `doodle` for images and features; `doodle`'s engine never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from doodle.errors import DoodleError
from doodle.images import ImageLike, load_image, name_of

from . import portrait
from .result import MAX_LABELS, Segmentation, SegmentationUnavailable

METHODS = ("auto", "cluster", "portrait", "network")
MIN_SIDE = 32  # smaller pictures have too few superpixels and too little for VGG to see
MIN_LABELS = 2


def segment(images: Sequence[ImageLike] | ImageLike, *, method: str = "auto", labels: int | None = None,
            names: Sequence[str] | None = None, encoder=None,
            on_note: Callable[[str], None] | None = None) -> Segmentation:
    """Make semantic maps for `images` together (paths, or float RGB arrays in [0, 1]).

    Images labelled in one call share their labels: the same colour marks the same kind of region
    in all of them, which is what `doodle.paint` needs from a style map and a content map. `labels`
    fixes the number of labels for the cluster method (2-12); otherwise it is chosen from the
    images. `names` name the images in messages (paths name themselves). `on_note` hears why a
    method was chosen or a request could not be met in full.
    """
    if method not in METHODS:
        raise DoodleError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
    if labels is not None and not MIN_LABELS <= labels <= MAX_LABELS:
        raise DoodleError(f"--labels {labels}: give a number from {MIN_LABELS} to {MAX_LABELS}")
    if isinstance(images, (str, Path, np.ndarray)):
        images = [images]
    if not images:
        raise DoodleError("give at least one image to segment")
    loaded = [(load_image(image, "image array"), name_of(image, "image array")) for image in images]
    if names is not None and len(names) != len(loaded):
        raise DoodleError(f"got {len(names)} names for {len(loaded)} images")
    names = list(names) if names is not None else [name for _, name in loaded]
    for (array, _), name in zip(loaded, names):
        if min(array.shape[:2]) < MIN_SIDE:
            raise DoodleError(f"{name}: is {array.shape[1]}x{array.shape[0]}; segmentation needs at least "
                              f"{MIN_SIDE} pixels on each side; use a larger image")
    arrays = [array for array, _ in loaded]
    notes: list[str] = []

    def note(text: str) -> None:
        notes.append(text)
        if on_note is not None:
            on_note(text)

    if labels is not None and method not in ("auto", "cluster"):
        note(f"--labels applies to the cluster method; the {method} method has fixed labels")
    result = None
    if method == "auto" and not portrait.available():
        note(f"no portrait backend here, so using the cluster method (for portraits: {portrait.INSTALL_HINT})")
    elif method == "auto" and labels is not None:
        note("--labels given, so using the cluster method")
    elif method in ("auto", "portrait"):
        try:
            result = portrait.portrait_segment(arrays, names)
        except portrait.NoFace as error:
            if method == "portrait":
                raise
            note(f"{error.name}: no face found, so using the cluster method")
    elif method == "network":
        from .network import network_segment

        result = network_segment(arrays)
    if result is None:
        from .cluster import cluster_segment

        result = cluster_segment(arrays, labels, encoder, names)
    for text in result.notes:
        note(text)
    return replace(result, notes=notes)


__all__ = ["METHODS", "MAX_LABELS", "Segmentation", "SegmentationUnavailable", "segment"]
