"""Pillow under doodle's rules: how many pixels an input may have, and decoding that turns whatever
a damaged or hostile file makes Pillow raise into one DoodleError naming the file.

The limit follows the memory free on this machine; the user raises it with `doodle --max-megapixels
N` or the environment variable DOODLE_MAX_MEGAPIXELS. Torch-free: the CLI checks inputs before it
pays for torch.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageFile, UnidentifiedImageError

from .errors import DoodleError
from .meminfo import available_ram

MAX_MEGAPIXELS_VARIABLE = "DOODLE_MAX_MEGAPIXELS"
MAX_MEGAPIXELS_OPTION = "--max-megapixels"
MAX_MEGAPIXELS_HELP = ("Refuse input images larger than N megapixels, read from their header before any pixel is "
                       "decoded. Default: what fits in a quarter of the free memory (or DOODLE_MAX_MEGAPIXELS). "
                       "Give it before the command: doodle --max-megapixels 400 paint ...")
# Decoding holds the 8-bit RGB pixels, their float32 copy and a few working copies (flattening, EXIF
# rotation, the first resize): about this many bytes a pixel at the peak.
DECODE_BYTES_PER_PIXEL = 32
# One decode may take this share of the free memory: a run holds several images and a network too.
DECODE_MEMORY_SHARE = 0.25
# Where the platform does not say how much memory is free (no /proc/meminfo): about 3 GiB decoded.
FALLBACK_PIXEL_LIMIT = 100_000_000
# What Pillow raises, besides OSError, for damaged or hostile files: its plugins unpack headers with
# struct and arithmetic and report bad data as SyntaxError.
UNDECODABLE = (SyntaxError, ValueError, TypeError, IndexError, KeyError, EOFError, ZeroDivisionError,
               OverflowError, struct.error)
# Pillow keeps its decoding settings in module globals; they are changed and restored under this lock.
_PILLOW_SETTINGS = threading.Lock()


def os_reason(error: BaseException) -> str:
    """An OS error's reason without the path (messages name it already), on one line."""
    text = getattr(error, "strerror", None) or str(error)
    return " ".join(text.split())


def megapixels_to_pixels(text: str, given_as: str) -> int:
    """A pixel limit given in megapixels ('200', '0.5'); `given_as` shows where, e.g. "--max-megapixels 'x'"."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise DoodleError(f"{given_as}: give the largest image to read in megapixels, a number above 0 (e.g. 200)")
    return max(1, int(value * 1e6))


def set_max_megapixels(text: str) -> None:
    """The --max-megapixels flag: checked here, then set for the whole process (and any process it starts)."""
    megapixels_to_pixels(text, f"{MAX_MEGAPIXELS_OPTION} {text!r}")
    os.environ[MAX_MEGAPIXELS_VARIABLE] = str(text).strip()


def pixel_limit() -> int:
    """The most pixels an input image may declare: DOODLE_MAX_MEGAPIXELS (or --max-megapixels) when
    set, else as many as decode in about a quarter of the memory free now."""
    given = os.environ.get(MAX_MEGAPIXELS_VARIABLE, "").strip()
    if given:
        return megapixels_to_pixels(given, f"{MAX_MEGAPIXELS_VARIABLE}={given!r}")
    available = available_ram()
    if available is None:
        return FALLBACK_PIXEL_LIMIT
    return max(1, int(available * DECODE_MEMORY_SHARE) // DECODE_BYTES_PER_PIXEL)


def megapixels(pixels: int) -> str:
    value = pixels / 1e6
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def limit_hint(limit: int) -> str:
    """What the limit is, where it came from, and how to raise it."""
    source = "as set" if os.environ.get(MAX_MEGAPIXELS_VARIABLE, "").strip() else "from the free memory"
    return (f"the limit is {megapixels(limit)} megapixels ({source}); shrink the image, or raise the limit with "
            f"doodle {MAX_MEGAPIXELS_OPTION} N (or {MAX_MEGAPIXELS_VARIABLE}=N) if the machine has the memory")


@contextlib.contextmanager
def decoding(path: Path, what: str, limit: int, header_only: bool) -> Iterator[None]:
    """Run a Pillow read of `path` under doodle's rules, turning whatever a damaged or hostile file
    makes Pillow raise into one DoodleError naming the file.

    Pillow's own bomb guard (a fixed 179 megapixels, whatever the memory) is off while only a header
    is read, so that our check, which can say the size, answers; while pixels are decoded it is set to
    `limit`, with its warning an error, for formats whose frames are larger than their header says
    (ICO, GIF). Truncated files are refused rather than half decoded. Both settings are globals of
    Pillow: they are set under a lock and restored, leaving other users of Pillow as they were."""
    with _PILLOW_SETTINGS, warnings.catch_warnings():
        # Pillow warns about damage it reads past (corrupt EXIF, TIFF tags beyond the end): noise to a
        # user, who gets either the image or one error naming the file.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = (None if header_only else limit), False
        try:
            yield
        except UnidentifiedImageError:
            raise DoodleError(f"{path}: not an image file that can be read; give a PNG or JPEG {what}") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DoodleError(f"{path}: the {what} holds a picture larger than its header says, over the pixel "
                              f"limit; {limit_hint(limit)}") from None
        except OSError as error:
            raise DoodleError(f"{path}: cannot read the {what} ({os_reason(error)}); check the file") from None
        except UNDECODABLE as error:
            raise DoodleError(f"{path}: the {what} is damaged and cannot be decoded ({type(error).__name__}: "
                              f"{os_reason(error)}); check the file") from None
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved
