"""doodle: semantic style transfer. Turn a few-colour doodle into a painting in a painter's hand.

    import doodle
    result = doodle.paint("Monet.jpg", style_map="Monet_sem.png", target_map="Coastline_sem.png")
    result.image          # float32 HxWx3 in [0, 1]
    result.record         # mode, weights, phases, timings, losses, notes

The engine (and torch) is imported on first use of `paint` or the records, so that importing the
package, its configuration or its command line costs no more than they need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import PaintConfig, preset_config, presets
from .errors import DoodleError

if TYPE_CHECKING:
    from .records import PaintRecord, PaintResult, Progress
    from .synthesis import paint

__version__ = "0.1.0"
__all__ = ["DoodleError", "PaintConfig", "PaintRecord", "PaintResult", "Progress", "paint", "preset_config", "presets",
           "__version__"]
_ENGINE = {"paint": "synthesis", "PaintRecord": "records", "PaintResult": "records", "Progress": "records"}


def __getattr__(name: str) -> Any:
    if name in _ENGINE:
        from importlib import import_module

        return getattr(import_module(f".{_ENGINE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
