"""Reading and writing images and semantic maps, finding sidecar maps, checking their shapes."""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps

from .atomic import NAME_MAX_BYTES, write_files
from .decoding import decoding, limit_hint, megapixels, os_reason, pixel_limit
from .errors import DoodleError

MAP_SUFFIX = "_sem.png"
# Hand-drawn maps are often saved at a slightly different size than their image; beyond this the
# layout no longer lines up and the map is almost certainly for another picture.
ASPECT_TOLERANCE = 0.02


def sidecar_map_path(image_path: str | Path) -> Path:
    """The conventional semantic map of an image: `X.jpg` -> `X_sem.png` beside it."""
    path = Path(image_path)
    return path.with_name(path.stem + MAP_SUFFIX)


def _a(what: str) -> str:
    return f"an {what}" if what[:1] in ("a", "e", "i", "o", "u") else f"a {what}"


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def require_file(path: str | Path, what: str) -> Path:
    """Fail early, with the file's name, when an input is missing, cannot be reached (a name too
    long, a folder that cannot be entered, a symlink loop) or is not a regular file. Only `stat` is
    asked, nothing is opened: opening a named pipe would wait forever for a writer."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            raise DoodleError(f"{path}: no such {what} file; check the path") from None
        raise DoodleError(f"{path}: cannot reach the {what} file ({os_reason(error)}); check the path and the "
                          "permissions of its folders") from None
    except ValueError:  # a NUL byte in the name
        raise DoodleError(f"{path!r}: not a valid file name; check the path") from None
    if stat.S_ISDIR(mode):
        raise DoodleError(f"{path}: is a folder, not {_a(what)} file; give the path of {_a(what)} file")
    if not stat.S_ISREG(mode):
        raise DoodleError(f"{path}: is {_kind_of(mode)}, not {_a(what)} file; give the path of a regular file")
    return path


def path_exists(path: str | Path) -> bool:
    """Whether a file or folder is there; False for a name that cannot exist or be reached (too long,
    a symlink loop, a folder that cannot be entered), where Path.exists raises."""
    try:
        os.stat(path)
    except (OSError, ValueError):
        return False
    return True


def _shown_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) as read_image gives it: EXIF orientations 5 to 8 turn the picture a quarter.
    EXIF is consulted only when the header carried it: asking a PNG for it otherwise decodes it."""
    width, height = image.size
    if "exif" in image.info and image.getexif().get(ExifTags.Base.Orientation, 1) in (5, 6, 7, 8):
        return height, width
    return width, height


def _declared_size(path: str | Path, what: str, limit: int) -> tuple[int, int]:
    path = require_file(path, what)
    with decoding(path, what, limit, header_only=True), Image.open(path) as image:
        size = _shown_size(image)  # Image.open reads the header alone; pixels wait for load()
    if size[0] * size[1] > limit:
        raise DoodleError(f"{path}: the {what} is {size[0]}x{size[1]} ({megapixels(size[0] * size[1])} megapixels); "
                          f"{limit_hint(limit)}")
    return size


def declared_size(path: str | Path, what: str = "image") -> tuple[int, int]:
    """The (width, height) an image file declares, from its header alone, nothing decoded. A
    DoodleError naming the file when it is missing, not a regular file, not an image, or larger
    than `pixel_limit()`."""
    return _declared_size(path, what, pixel_limit())


def _open(path: str | Path, what: str) -> Image.Image:
    """Decode an image, every input's one way in: its declared size is checked before any pixel is."""
    limit = pixel_limit()
    _declared_size(path, what, limit)
    path = Path(path)
    with decoding(path, what, limit, header_only=False), Image.open(path) as image:
        image.load()
        # Photos from phones carry their orientation in EXIF; honour it so maps drawn on the shown
        # picture line up.
        return ImageOps.exif_transpose(image)


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit and float greyscale as 8-bit: Pillow's own conversion clips instead of scaling."""
    if image.mode not in ("I", "F") and not image.mode.startswith("I;16"):
        return image
    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F" and values.max(initial=0) <= 1.0:
        values = values * 255.0
    elif values.max(initial=0) > 255:
        values = values / 257.0  # 65535 -> 255
    return Image.fromarray(np.clip(values + 0.5, 0, 255).astype(np.uint8), "L")


def _flatten(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """RGB, with any transparency composited onto `background`."""
    image = _to_8bit(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        canvas = Image.new("RGBA", image.size, (*background, 255))
        image = Image.alpha_composite(canvas, image.convert("RGBA"))
    return image.convert("RGB")


def read_image(path: str | Path) -> np.ndarray:
    """An RGB image as float32 HxWx3 in [0, 1]. Transparency is flattened onto white."""
    image = _flatten(_open(path, "image"), (255, 255, 255))
    return np.asarray(image, dtype=np.float32) / 255.0


def read_map(path: str | Path) -> np.ndarray:
    """A semantic map as uint8 HxWx3. RGB, RGBA, greyscale and palette images all work; fully
    transparent pixels count as black so that an unpainted area is a label of its own."""
    return np.asarray(_flatten(_open(path, "map"), (0, 0, 0)), dtype=np.uint8)


def check_map_matches(image_shape: tuple[int, ...], map_shape: tuple[int, ...],
                      image_name: str, map_name: str) -> None:
    """Maps may have another resolution than their image, but not another aspect ratio."""
    image_aspect = image_shape[1] / image_shape[0]
    map_aspect = map_shape[1] / map_shape[0]
    if abs(map_aspect / image_aspect - 1.0) > ASPECT_TOLERANCE:
        raise DoodleError(
            f"{map_name}: map is {map_shape[1]}x{map_shape[0]} but {image_name} is "
            f"{image_shape[1]}x{image_shape[0]}; the aspect ratios differ, so give the map drawn for this image"
        )


def resize_map(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A map at (width, height), nearest-neighbour so that no new colours appear."""
    return np.asarray(Image.fromarray(labels).resize(size, Image.Resampling.NEAREST))


def parse_size(text: str) -> tuple[int, int]:
    """'512x384' -> (512, 384) as (width, height)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise DoodleError(f"--size {text!r}: write it as WIDTHxHEIGHT, e.g. 512x384") from None
    if width < 1 or height < 1:
        raise DoodleError(f"--size {text!r}: width and height must be positive")
    return width, height


def check_writable(path: str | Path, inputs: list[Path], force: bool, flag: str = "--output") -> Path:
    """Refuse outputs that would clobber an input or an existing file, or that cannot be written.
    `flag` is the option the user can change to choose another place."""
    path = Path(path)
    file_format = Image.registered_extensions().get(path.suffix.lower())
    if file_format not in Image.SAVE or not _can_save(file_format):
        raise DoodleError(f"{path}: cannot write {path.suffix or 'files without an extension'}; "
                          f"end the output name with .png or .jpg")
    try:
        resolved = path.resolve()
        for source in inputs:
            if source.resolve() == resolved:
                raise DoodleError(f"{path}: the output would overwrite an input; choose another {flag}")
        if path.is_dir():
            raise DoodleError(f"{path}: is a folder; give a file name such as {path / 'painting.png'}")
        if path.exists() and not force:
            raise DoodleError(f"{path}: already exists; pass --force to overwrite it or choose another {flag}")
    except OSError as error:  # a name too long, a folder on the way that cannot be entered
        raise DoodleError(f"{path}: cannot write there ({os_reason(error)}); choose another {flag}") from None
    except RuntimeError:  # how resolve() reports a symlink loop before Python 3.13
        raise DoodleError(f"{path}: is a symlink loop; choose another {flag}") from None
    check_output_folder(path, flag)
    return path


def check_output_folder(path: Path, flag: str = "--output") -> None:
    """The folder of `path` exists or can be made, and is writable. Folders are only made when the
    result is written (make_parent), so a refused run leaves nothing behind; here the nearest
    existing one must be a writable folder, and the name one the filesystem takes."""
    if len(os.fsencode(path.name)) > NAME_MAX_BYTES:
        raise DoodleError(f"{path.name[:40]}...: the name is {len(os.fsencode(path.name))} bytes, more than the "
                          f"{NAME_MAX_BYTES} a file name may have; choose a shorter {flag}")
    try:
        existing = next(folder for folder in path.absolute().parents if folder.exists())
        is_folder = existing.is_dir()
    except OSError as error:  # a folder name too long, a folder on the way that cannot be entered
        raise DoodleError(f"{path.parent}: cannot use this folder ({os_reason(error)}); "
                          f"choose another {flag}") from None
    if not is_folder:
        raise DoodleError(f"{path.parent}: cannot create the output folder, {existing} is a file")
    if not os.access(existing, os.W_OK):
        raise DoodleError(f"{existing}: folder is not writable; choose another {flag}")


def _can_save(file_format: str) -> bool:
    """Pillow lists formats it cannot write RGB in (XBM, for one); try a one-pixel image."""
    try:
        Image.new("RGB", (1, 1)).save(io.BytesIO(), format=file_format)
        return True
    except (OSError, ValueError, KeyError):
        return False


def make_parent(path: str | Path) -> None:
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DoodleError(f"{Path(path).parent}: cannot create the folder ({error.strerror})") from None


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _png_writer(path: Path, image: np.ndarray):
    """Writes `image` in the format of `path`'s extension to a stream."""
    array = to_uint8(image) if image.dtype != np.uint8 else image
    file_format = Image.registered_extensions()[path.suffix.lower()]
    return lambda stream: Image.fromarray(array).save(stream, format=file_format)


def write_image(path: str | Path, image: np.ndarray, *, replace: bool = True) -> None:
    """Write atomically (see doodle/atomic.py), so a crash or a stop signal never leaves half a file.
    `replace=False`: never over a file that exists when it lands (FileExistsError instead)."""
    write_images([(Path(path), image)], replace=replace)


def write_images(outputs: list[tuple[Path, np.ndarray]], *, replace: bool = True, beside: bool = False) -> list[Path]:
    """Write several files as one: each is staged beside its target first, and only when all are
    written do they land, so a failure or a stop signal leaves none of them. Returns the paths
    written: without `replace`, a target that appeared meanwhile is left untouched, and with
    `beside` the files go to free numbered names beside it (`r-1.png`, `r-1_sem.png`) instead of
    FileExistsError."""
    outputs = [(Path(path), image) for path, image in outputs]
    for path, _ in outputs:
        make_parent(path)
    return write_files([(path, _png_writer(path, image)) for path, image in outputs], replace=replace, beside=beside)


# --- arrays and tensors --------------------------------------------------------------------------
# torch is imported inside these functions: the CLI imports this module to check paths and must
# start without paying for torch.

ImageLike = str | Path | np.ndarray


def name_of(value: object, fallback: str) -> str:
    """How messages name an input: its path, or `fallback` for an array."""
    return str(value) if isinstance(value, (str, Path)) else fallback


def _check_rgb(array: np.ndarray, name: str) -> None:
    if array.ndim != 3 or array.shape[2] != 3:
        raise DoodleError(f"{name}: arrays must be HxWx3 (RGB), not {array.shape}")


def load_image(value: ImageLike, name: str = "image") -> np.ndarray:
    """An image from a path, or checked from an array: float32 HxWx3 in [0, 1].

    uint8 arrays are taken as 0-255 (what scikit-image and Pillow give); float arrays must already
    be in [0, 1], because a float image in 0-255 is a mistake that would paint white."""
    if not isinstance(value, np.ndarray):
        return read_image(value)
    _check_rgb(value, name)
    if value.dtype == np.uint8:
        return value.astype(np.float32) / 255.0
    if not np.issubdtype(value.dtype, np.floating) or not np.isfinite(value).all() or value.min() < 0 or value.max() > 1:
        raise DoodleError(f"{name}: image arrays must be uint8, or finite floats in [0, 1]; divide 0-255 floats by 255")
    return value.astype(np.float32, copy=False)


def load_map(value: ImageLike, name: str = "map") -> np.ndarray:
    """A semantic map from a path, or checked from an array: uint8 HxWx3 colours."""
    if not isinstance(value, np.ndarray):
        return read_map(value)
    _check_rgb(value, name)
    if value.dtype != np.uint8:
        raise DoodleError(f"{name}: map arrays must be uint8 colours, not {value.dtype}")
    return value


def image_to_tensor(image: np.ndarray, device=None):
    """float HxWx3 -> (1, 3, H, W) float32 tensor on `device` (default: the CPU)."""
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().contiguous()
    return tensor.to(device) if device is not None else tensor


def tensor_to_image(tensor) -> np.ndarray:
    """(1, 3, H, W) tensor -> float32 HxWx3 in [0, 1], clipped."""
    return tensor.detach()[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(np.float32)


def tensor_to_uint8(tensor) -> np.ndarray:
    """(1, 3, H, W) tensor in [0, 1] -> uint8 HxWx3, rounded as `to_uint8` rounds; converted by torch,
    which does it in a fraction of numpy's time (this is on every frame of a model-painted video)."""
    import torch

    scaled = tensor.detach()[0].clamp(0, 1) * 255 + 0.5
    return scaled.to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()


def resize_image(tensor, size_hw: tuple[int, int]):
    """Antialiased resize of an image tensor to (height, width); guides are resized elsewhere, with
    area or nearest filters (see `semantic.resize_channels`)."""
    import torch.nn.functional as F

    if tuple(tensor.shape[-2:]) == tuple(size_hw):
        return tensor
    return F.interpolate(tensor, size=size_hw, mode="bilinear", antialias=True, align_corners=False)
