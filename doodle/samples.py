"""Where the paper's sample images are: the one place tests, benchmarks and examples ask.

They are not part of the project (see ../shared/samples/SOURCES.md): `$DOODLE_SAMPLES` names the
folder, else `shared/samples` beside the project checkout is used.
"""

from __future__ import annotations

import os
from pathlib import Path

SAMPLES_VARIABLE = "DOODLE_SAMPLES"


def samples_dir() -> Path:
    """The folder with Monet.jpg, Coastline_sem.png, Gogh.jpg, Seth.jpg and their maps (it may not exist)."""
    given = os.environ.get(SAMPLES_VARIABLE)
    if given:
        return Path(given).expanduser()
    return Path(__file__).resolve().parents[2] / "shared" / "samples"
