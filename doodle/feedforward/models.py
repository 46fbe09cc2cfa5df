"""Model files that are safe to share, and the `Stylizer` that paints with one.

A model file (`NAME.doodle`) is safetensors: the network's weights (and, to resume training, Adam's
moments) as plain tensors, plus one JSON metadata entry: the format version, the kind and sizes of
the network, the style it learnt (name, sha256, size), its label palette, the training settings and
how far training got. Loading never unpickles anything, checks the tensors against a digest kept
in the metadata, and refuses other format versions and files that are not doodle models.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..atomic import write_files
from ..decoding import os_reason
from ..errors import DoodleError
from ..images import ImageLike, image_to_tensor, load_image, load_map, name_of, require_file, tensor_to_image
from ..semantic import colour_name, label_maps
from . import KINDS
from .data import Example
from .networks import MIN_CONTENT_SIDE, ContentGenerator, DoodleGenerator

FORMAT_VERSION = 1
METADATA_KEY = "doodle_model"
OPTIMISER_PREFIX = "optimiser."
# Each palette colour is drawn as a block this wide when a doodle is labelled against a model's
# palette: several pixels, so that it counts as a solid label (see semantic.label_maps).
SWATCH_SIDE = 8
# A model's safetensors header is its metadata and the index of its tensors: tens of kilobytes.
# safetensors itself accepts 100 MB of JSON; a header above this is no doodle model.
MAX_HEADER_BYTES = 16 * 2**20
# What a model file holds besides its header: the network's weights, and Adam's two moments of each
# to resume training. Anything more is not a doodle model, however the metadata reads.
COPIES_OF_THE_WEIGHTS = 3


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about itself (its JSON metadata)."""

    kind: str  # doodle or content
    architecture: dict[str, int]  # the network's constructor arguments
    palette: list[tuple[int, int, int]]  # label colours, in the order of the network's input channels
    style: dict[str, Any]  # name, sha256, width, height of the style image
    training: dict[str, Any] = field(default_factory=dict)  # settings, steps done, seconds, final loss
    format_version: int = FORMAT_VERSION

    @property
    def labels(self) -> int:
        return len(self.palette)


def build_network(kind: str, architecture: dict[str, int]) -> torch.nn.Module:
    if kind == "doodle":
        return DoodleGenerator(**architecture)
    return ContentGenerator(**architecture)


def model_digest(meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> str:
    """sha256 of the metadata (as sorted JSON) and of every tensor's name, type, shape and bytes.

    It catches damage and careless edits; it is no signature, since anyone can compute it again."""
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for key in sorted(tensors):
        tensor = tensors[key].detach().contiguous().cpu()
        digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


# What a model's metadata may say: the network's constructor arguments and their bounds. Anything
# else is refused before a network is built, so a file cannot ask for a billion channels.
ARCHITECTURE_BOUNDS = {"doodle": {"labels": (1, 64), "width": (4, 256), "levels": (1, 8), "noise_channels": (0, 64)},
                       "content": {"labels": (0, 64), "width": (4, 256), "blocks": (0, 16)}}


def _read_metadata(raw: str, path: Path) -> dict[str, Any]:
    """The model's JSON metadata, checked: format version, kind, architecture within bounds, a palette
    of as many 0-255 colours as the network has label channels."""
    damaged = DoodleError(f"{path}: the model's metadata is damaged; train it again")
    try:
        meta = json.loads(raw)
        version = meta["format_version"]
    except (ValueError, KeyError, TypeError):
        raise damaged from None
    if version != FORMAT_VERSION:
        raise DoodleError(f"{path}: model format {version}, but this doodle reads format {FORMAT_VERSION}; "
                          "train the model again with this version")
    kind, architecture, palette = meta.get("kind"), meta.get("architecture"), meta.get("palette")
    if kind not in KINDS or not isinstance(architecture, dict) or not isinstance(palette, list):
        raise damaged
    bounds = ARCHITECTURE_BOUNDS[kind]
    if not set(architecture) <= set(bounds) or not all(
            type(value) is int and bounds[key][0] <= value <= bounds[key][1] for key, value in architecture.items()):
        raise damaged
    labels = architecture.get("labels", 0)
    if len(palette) != labels or not all(isinstance(colour, list) and len(colour) == 3
                                         and all(type(c) is int and 0 <= c <= 255 for c in colour)
                                         for colour in palette):
        raise damaged
    if not isinstance(meta.get("style", {}), dict) or not isinstance(meta.get("training", {}), dict):
        raise damaged
    meta.setdefault("style", {})
    meta.setdefault("training", {})
    return meta


def _info_of(meta: dict[str, Any]) -> ModelInfo:
    return ModelInfo(meta["kind"], meta["architecture"], [tuple(c) for c in meta["palette"]], meta["style"],
                     meta["training"], meta["format_version"])


def peek_info(path: Path) -> ModelInfo | None:
    """What a model file says about itself, from its header alone (no weights read), or None when
    it is not a doodle model of this format: for scanning a folder of models cheaply. `Stylizer.load`
    checks the rest before a model paints."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as stream:
            raw = (stream.metadata() or {}).get(METADATA_KEY)
        return None if raw is None else _info_of(_read_metadata(raw, Path(path)))
    except Exception:  # noqa: BLE001 - anything unreadable is simply not a model to offer
        return None


def _not_a_model(path: Path) -> DoodleError:
    return DoodleError(f"{path}: not a doodle model (models are safetensors files made by doodle train); "
                       "check the path")


def _damaged(path: Path) -> DoodleError:
    return DoodleError(f"{path}: the model file is damaged (shorter or longer than its index says: cut short in "
                       "copying?); train it again or fetch a good copy")


def _header_and_data_bytes(path: Path) -> tuple[int, int]:
    """The lengths of a model file's safetensors header and of the tensor data after it, checked
    before safetensors reads anything: a regular file (a named pipe would hang), a header of sane
    length that starts a JSON object, and a file long enough to hold it."""
    path = require_file(path, "model")
    try:
        size = path.stat().st_size
        with open(path, "rb") as stream:
            prefix = stream.read(9)
    except OSError as error:
        raise DoodleError(f"{path}: cannot read the model ({os_reason(error)}); check the file") from None
    header = int.from_bytes(prefix[:8], "little")
    if len(prefix) < 9 or prefix[8:9] != b"{" or header > MAX_HEADER_BYTES:
        raise _not_a_model(path)
    if 8 + header > size:
        raise _damaged(path)
    return header, size - 8 - header


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _optimiser_tensors(state: dict | None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Adam's per-parameter moments as flat tensors, and its step counts as numbers (for JSON)."""
    if not state:
        return {}, {}
    tensors, steps = {}, {}
    for index, moments in state["state"].items():
        for name, value in moments.items():
            if name == "step":
                steps[str(index)] = float(value)
            else:
                tensors[f"{OPTIMISER_PREFIX}{index}.{name}"] = value
    return tensors, {"steps": steps, "param_groups": state["param_groups"]}


def _optimiser_state(tensors: dict[str, torch.Tensor], saved: dict[str, Any]) -> dict | None:
    if not saved:
        return None
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        index, name = key[len(OPTIMISER_PREFIX):].split(".", 1)
        state.setdefault(int(index), {})[name] = value
    for index, step in saved["steps"].items():
        state.setdefault(int(index), {})["step"] = torch.tensor(step)
    return {"state": state, "param_groups": saved["param_groups"]}


class Stylizer:
    """A trained (or training) generator for one style: call it with a doodle or a photo.

        stylizer = Stylizer.load("monet.doodle")
        painting = stylizer("doodle.png")       # float32 HxWx3 in [0, 1], at the doodle's size
    """

    def __init__(self, info: ModelInfo, network: torch.nn.Module | None = None, step: int = 0,
                 optimiser_state: dict | None = None) -> None:
        self.info = info
        self.network = network if network is not None else build_network(info.kind, info.architecture)
        # Channels-last lets oneDNN pick faster convolutions: 90 ms instead of 131 ms for the Monet
        # doodle model at 512x384 on two CPU cores.
        self.network.to(memory_format=torch.channels_last).eval()
        self.step = step  # training steps done
        self.optimiser_state = optimiser_state

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    # --- inputs ---------------------------------------------------------------------------------

    def labels_of(self, doodle: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """(H, W) label indices of a doodle in this model's palette, and notes for colours it does
        not know (each borrows the nearest known label, as `doodle paint` does)."""
        palette = np.array(self.info.palette, dtype=np.uint8)
        # one SWATCH_SIDE-square block of each colour, stacked: a 'style map' that has every label
        swatch = np.repeat(palette, SWATCH_SIDE * SWATCH_SIDE, axis=0).reshape(-1, SWATCH_SIDE, 3)
        labelling = label_maps([swatch], doodle)
        # Labelling palettes are ordered by prominence; the network's channels follow the model's.
        known = palette.astype(np.float32)
        order = np.array([int(np.argmin(np.linalg.norm(known - colour.astype(np.float32), axis=1)))
                          for colour in labelling.palette])
        notes = [text.replace("the style map", "the model's palette") for text in labelling.notes]
        return order[labelling.labels[-1]], notes

    def network_input(self, example: Example) -> torch.Tensor:
        """What the network takes for a training example: its map, or its photo."""
        return example.labels if self.info.kind == "doodle" else example.pixels

    def input_tensor(self, source: ImageLike, on_note=None) -> torch.Tensor:
        """The network's input for a doodle map or a photo (path or array)."""
        if self.info.kind == "doodle":
            labels, notes = self.labels_of(load_map(source, name_of(source, "map")))
            for text in notes:
                if on_note is not None:
                    on_note(text)
            return F.one_hot(torch.from_numpy(labels).long(), self.info.labels).permute(2, 0, 1)[None].float()
        return image_to_tensor(load_image(source, name_of(source, "photo")))

    # --- painting -------------------------------------------------------------------------------

    @torch.inference_mode()
    def paint_tensor(self, inputs: torch.Tensor, seed: int = 0, precision: str = "fp32") -> torch.Tensor:
        """(1, C, H, W) network input -> (1, 3, H, W) float32 painting; the same seed gives the same
        noise. `precision` "bf16" runs the network under bfloat16 autocast: where bfloat16 is native
        a bare pass takes about two thirds of the time (100 ms instead of 150 for a content model at
        512x384 on this project's 2-core CPU) and moves pixels by about 0.001 on average (0.3 of a
        grey level)."""
        least = 2 if self.info.kind == "doodle" else MIN_CONTENT_SIDE
        if min(inputs.shape[-2:]) < least:
            height, width = inputs.shape[-2:]
            raise DoodleError(f"{width}x{height} is too small for a {self.info.kind} model; give at least "
                              f"{least}x{least} pixels")
        generator = torch.Generator(device=self.device).manual_seed(seed)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            painted = self.network(inputs.to(self.device).contiguous(memory_format=torch.channels_last), generator)
        return painted.float()

    def __call__(self, source: ImageLike, seed: int = 0, on_note=None, precision: str = "fp32") -> np.ndarray:
        """Paint a doodle (doodle models) or a photo (content models) in one forward pass, at its size."""
        inputs = self.input_tensor(source, on_note)
        return tensor_to_image(self.paint_tensor(inputs, seed, precision))

    # --- files ----------------------------------------------------------------------------------

    def save(self, path: str | Path, *, replace: bool = True, beside: bool = False) -> Path:
        """Write the model atomically (see doodle/atomic.py): never half a file. `replace=False`:
        never over a file that exists when it lands; then `beside` writes it to a free numbered
        name beside that file (`m-1.doodle`) instead of raising FileExistsError. Returns the path."""
        from safetensors.torch import save

        tensors = {f"network.{key}": value.detach().contiguous().cpu()
                   for key, value in self.network.state_dict().items()}
        optimiser_tensors, optimiser_numbers = _optimiser_tensors(self.optimiser_state)
        tensors.update({key: value.detach().contiguous().cpu() for key, value in optimiser_tensors.items()})
        meta = {"format_version": FORMAT_VERSION, "kind": self.info.kind, "architecture": self.info.architecture,
                "palette": [list(map(int, colour)) for colour in self.info.palette], "style": self.info.style,
                "training": {**self.info.training, "step": self.step}, "optimiser": optimiser_numbers}
        meta["sha256"] = model_digest(meta, tensors)
        data = save(tensors, metadata={METADATA_KEY: json.dumps(meta, sort_keys=True)})
        return write_files([(Path(path), lambda stream: stream.write(data))], replace=replace, beside=beside)[0]

    @classmethod
    def load(cls, path: str | Path) -> "Stylizer":
        """Read a model file; raises DoodleError (one line) for anything that is not a sound doodle model.

        The metadata is read and checked first (kind, sizes within bounds, palette), then the
        tensor names and shapes against the network it describes, and only then the tensors, so a
        foreign or hostile file costs neither memory nor a traceback."""
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        _, data_bytes = _header_and_data_bytes(path)
        try:
            with safe_open(str(path), framework="pt") as stream:
                raw = (stream.metadata() or {}).get(METADATA_KEY)
                if raw is None:
                    raise DoodleError(f"{path}: a safetensors file, but not a doodle model (no doodle metadata)")
                meta = _read_metadata(raw, path)
                info = _info_of(meta)
                with torch.device("meta"):  # the network's shapes and sizes, without its memory
                    blueprint = build_network(info.kind, info.architecture).state_dict()
                expected = {f"network.{key}": tuple(value.shape) for key, value in blueprint.items()}
                found = {key: tuple(stream.get_slice(key).get_shape()) for key in stream.keys()
                         if key.startswith("network.")}
                if found != expected:
                    raise DoodleError(f"{path}: the model's weights do not fit the network its metadata describes; "
                                      "train it again")
                weight_bytes = sum(value.numel() * value.element_size() for value in blueprint.values())
                if data_bytes > COPIES_OF_THE_WEIGHTS * weight_bytes:
                    raise DoodleError(f"{path}: holds more data than a model of the network it describes (its weights "
                                      "and Adam's moments); not a doodle model, check the path")
                tensors = {key: stream.get_tensor(key) for key in stream.keys()}
        except DoodleError:
            raise
        except SafetensorError as error:
            raise (_damaged(path) if "incomplete metadata" in str(error) else _not_a_model(path)) from None
        except (OSError, ValueError, RuntimeError, TypeError):
            raise _not_a_model(path) from None
        if meta.get("sha256") != model_digest({k: v for k, v in meta.items() if k != "sha256"}, tensors):
            raise DoodleError(f"{path}: the model does not match its checksum (damaged or changed since it was "
                              "written); train it again or fetch a good copy")
        network = build_network(info.kind, info.architecture)
        network.load_state_dict({key[len("network."):]: value for key, value in tensors.items()
                                 if key.startswith("network.")})
        optimiser_tensors = {key: value for key, value in tensors.items() if key.startswith(OPTIMISER_PREFIX)}
        try:
            optimiser = _optimiser_state(optimiser_tensors, meta.get("optimiser") or {})
        except (KeyError, TypeError, ValueError, AttributeError):
            optimiser = None  # a model that paints but cannot resume: training starts Adam afresh
        return cls(info, network, int(meta["training"].get("step", 0)), optimiser)

    def describe(self) -> list[tuple[str, str]]:
        """(what, value) lines for `doodle model`: what the file holds."""
        info, training = self.info, self.info.training
        style = info.style
        does = "paints doodles in the style" if info.kind == "doodle" else "repaints photos in the style"
        lines = [("kind", f"{info.kind} ({does})"),
                 ("style", f"{style.get('name', '?')} ({style.get('width', '?')}x{style.get('height', '?')}, "
                           f"sha256 {str(style.get('sha256', '?'))[:16]}...)"),
                 ("network", ", ".join(f"{key} {value}" for key, value in info.architecture.items())
                  + f"; {sum(p.numel() for p in self.network.parameters()):,} weights"),
                 ("labels", ", ".join(colour_name(np.array(colour)) for colour in info.palette) or "none (no map)"),
                 ("training", f"{self.step} of {training.get('steps', '?')} steps, {training.get('seconds', 0):.0f} s, "
                              f"{training.get('size', '?')} px crops, batch {training.get('batch', '?')}"
                              + (f", stability {training['stability']:g}" if training.get("stability") else "")),
                 ("settings", ", ".join(f"{key} {value}" for key, value in sorted(training.get('config', {}).items()))
                  or "defaults"),
                 ("format", f"version {info.format_version}")]
        return lines
