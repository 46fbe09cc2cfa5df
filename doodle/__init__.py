"""doodle: semantic style transfer. Turn a few-colour doodle into a painting in a painter's hand.

    import doodle
    result = doodle.paint("Monet.jpg", style_map="Monet_sem.png", target_map="Coastline_sem.png")
    result.image          # float32 HxWx3 in [0, 1]
    result.record         # mode, weights, phases, timings, losses, notes
"""

from .config import PaintConfig, preset_config, presets
from .errors import DoodleError
from .synthesis import PaintRecord, PaintResult, Progress, paint

__version__ = "0.1.0"
__all__ = ["DoodleError", "PaintConfig", "PaintRecord", "PaintResult", "Progress", "paint", "preset_config", "presets", "__version__"]
