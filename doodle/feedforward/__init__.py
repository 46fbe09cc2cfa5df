"""Feed-forward networks trained per style: paint a doodle or a photo in one forward pass.

    from doodle.feedforward import Stylizer
    painting = Stylizer.load("monet.doodle")("doodle.png")   # float32 HxWx3 in [0, 1]

`networks.py` holds the generators, `data.py` the training examples (made on the spot from the
style's own map, or from photos), `training.py` the loop (the engine's own loss terms), and
`models.py` the model files and the `Stylizer`. This module imports no torch: the request layer
and the CLI read the constants here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DoodleError

MODEL_SUFFIX = ".doodle"
KINDS = ("doodle", "content")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def photo_paths(folder: Path) -> tuple[Path, ...]:
    """The photos in a folder (and its subfolders), in name order; a DoodleError when there are none."""
    found = tuple(sorted(path for path in Path(folder).rglob("*") if path.suffix.lower() in PHOTO_SUFFIXES))
    if not found:
        raise DoodleError(f"{folder}: no photos (.jpg, .png...) in this folder; give a folder of photos as "
                          "--content-dir")
    return found


def __getattr__(name: str) -> Any:
    if name == "Stylizer":
        from .models import Stylizer

        return Stylizer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
