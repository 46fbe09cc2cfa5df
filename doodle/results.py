"""Writing what a painting run makes: the painting (with its companions), and frames on the way.

Writes go through `doodle/atomic.py`: never half a file, and never over a file the user did not
ask to replace (--force), whatever appeared while the run worked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import DoodleError
from .images import write_image, write_images
from .request import PaintRequest


def write_result(request: PaintRequest, image: np.ndarray) -> Path:
    """Write the painting and its companions together, atomically; returns where the painting went.

    Without --force no file is replaced, whatever appeared since the run began (another run's
    painting, a photo copied there): the filesystem decides at the moment the files land. Such a
    file is left untouched, and the painting goes beside it under a free numbered name (`r-1.png`,
    with `r-1_sem.png` for an exemplar's map) rather than being thrown away after all the work;
    the run then ends with a one-line DoodleError that says where it went, so that a script
    expecting OUTPUT does not go on as if all were well."""
    outputs = [(request.output, image)] + [(item.path, item.image) for item in request.companions]
    try:
        written = write_images(outputs, replace=request.force, beside=True)
    except OSError as error:
        raise DoodleError(f"{request.output}: cannot write the {request.what} ({error.strerror or error}); "
                          "choose another --output") from None
    if written[0] != request.output:
        appeared = next((path for path, _ in outputs if path.exists()), request.output)
        companions = "".join(f" with its map {path}" for path in written[1:])
        raise DoodleError(f"{appeared}: appeared while painting and was left as it is; the {request.what} was "
                          f"written beside it, to {written[0]}{companions}")
    return written[0]


class FrameWriter:
    """The image every `every` evaluations into `folder` (--save-every), as `phase1_0010.png`.

    Frames are a by-product: one that cannot be written (a full disk, a folder made read-only)
    is noted once and frame saving stops, while the painting goes on. A run's frames replace
    frames of the same name an earlier run left there."""

    def __init__(self, folder: Path, every: int, on_note: Callable[[str], None]) -> None:
        self.folder, self.every, self.on_note = folder, every, on_note

    def offer(self, phase: int, evaluation: int, image: Callable[[], np.ndarray]) -> None:
        """Write the frame of this evaluation if one is due; `image` is asked only then."""
        if not self.every or evaluation % self.every:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_image(self.folder / f"phase{phase}_{evaluation:04d}.png", image())
        except (OSError, DoodleError) as error:
            self.every = 0
            reason = getattr(error, "strerror", None) or error
            self.on_note(f"{self.folder}: cannot write frames ({reason}); no more frames are saved, the painting "
                         "goes on")
