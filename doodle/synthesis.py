"""The coarse-to-fine optimisation loop and `paint`, the engine's one entry point.

Nothing here prints: every evaluation is reported to an optional callback as a `Progress` record,
and `paint` returns the image together with a `PaintRecord` of what happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF

from .colors import keep_luminance, match_colours
from .config import CONVERGENCE_WINDOW, INIT_KINDS, PaintConfig
from .encoder import VGGEncoder, check_layers, layer_channels, layer_stride, load_encoder
from .errors import DoodleError
from .images import check_map_matches, read_image, read_map
from .losses import ContentLoss, GramLoss, SemanticPatchLoss, Smoothness, StyleLayer, WeightedTerm
from .matching import BYTES_PER_SCORE, PATCH_SIZE, chunk_rows, fast_bfloat16, resolve_matcher
from .semantic import label_maps, one_hot, resize_channels

ImageLike = str | Path | np.ndarray
ImagesLike = ImageLike | Sequence[ImageLike]
# Pixel range of uniform noise: the original tool's 16..240, away from clipped extremes.
NOISE_RANGE = (16 / 255, 240 / 255)
LBFGS_HISTORY = 50
# Leave this share of free memory for the OS, Python and allocator slack.
MEMORY_HEADROOM = 0.85


@dataclass(frozen=True)
class Progress:
    """One loss evaluation, as reported to callbacks."""

    phase: int  # 1-based
    phases: int
    size: tuple[int, int]  # (width, height) of this phase
    evaluation: int  # 1-based, within the phase
    max_evaluations: int
    losses: dict[str, float]  # weighted loss terms
    elapsed: float  # seconds since the run started
    pixels: torch.Tensor = field(repr=False)  # the current image (1, 3, H, W); read, never modify

    @property
    def total(self) -> float:
        return sum(self.losses.values())

    def image(self) -> np.ndarray:
        """The current image as float32 HxWx3 in [0, 1]."""
        return tensor_to_image(self.pixels)


@dataclass
class PhaseRecord:
    index: int
    size: tuple[int, int]
    evaluations: int = 0
    seconds: float = 0.0
    match_seconds: float = 0.0  # searching for nearest style patches
    network_seconds: float = 0.0  # VGG forward and backward passes
    searches: int = 0  # patch searches, summed over layers
    converged: bool = False  # stopped early by --tolerance
    losses: dict[str, float] = field(default_factory=dict)


@dataclass
class PaintRecord:
    """What a run did: mode, weights, phases with timings and final losses, notes for the user."""

    mode: str
    config: PaintConfig
    model: str = ""
    weights: str = ""
    device: str = "cpu"
    matcher: str = ""  # what --matcher auto became
    precision: str = ""  # what --precision auto became
    phases: list[PhaseRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    estimated_bytes: int = 0
    interrupted: bool = False
    seconds: float = 0.0


@dataclass
class PaintResult:
    image: np.ndarray  # float32 HxWx3 in [0, 1]
    record: PaintRecord


def image_to_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().contiguous().to(device)


def tensor_to_image(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach()[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(np.float32)


def resize_image(tensor: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    """Antialiased resize of an image tensor to (height, width)."""
    if tuple(tensor.shape[-2:]) == tuple(size_hw):
        return tensor
    return F.interpolate(tensor, size=size_hw, mode="bilinear", antialias=True, align_corners=False)


def _load(value: ImageLike | None, reader: Callable[[str | Path], np.ndarray], what: str) -> np.ndarray | None:
    """Read a path, or check an array: images are float HxWx3 in [0, 1], maps uint8 HxWx3."""
    if value is None or not isinstance(value, np.ndarray):
        return None if value is None else reader(value)
    if value.ndim != 3 or value.shape[2] != 3:
        raise DoodleError(f"{what}: arrays must be HxWx3 (RGB), not {value.shape}")
    if reader is read_map and value.dtype != np.uint8:
        raise DoodleError(f"{what}: map arrays must be uint8 colours, not {value.dtype}")
    if reader is read_image and (not np.issubdtype(value.dtype, np.floating) or value.min() < 0 or value.max() > 1):
        raise DoodleError(f"{what}: image arrays must be floats in [0, 1]; divide uint8 images by 255")
    return value


def _name(value: ImageLike | None, fallback: str) -> str:
    return str(value) if isinstance(value, (str, Path)) else fallback


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DoodleError("--device cuda: no CUDA GPU is visible to PyTorch; use --device cpu")
    return torch.device(name)


def available_memory(device: torch.device) -> int | None:
    """Bytes free for this run, or None when the platform does not say."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def phase_sizes(height: int, width: int, phases: int) -> list[tuple[int, int]]:
    """(height, width) of each phase, coarse to fine; each phase doubles the previous one."""
    return [(max(1, round(height / 2 ** (phases - 1 - p))), max(1, round(width / 2 ** (phases - 1 - p))))
            for p in range(phases)]


def smallest_side(layers: list[str], phases: int) -> int:
    """The shortest image side that gives every layer a 3x3 patch in the coarsest phase."""
    return max(layer_stride(name) for name in layers) * PATCH_SIZE * 2 ** (phases - 1)


def fit_phases(sides: list[tuple[str, int]], layers: list[str], phases: int) -> tuple[int, list[str]]:
    """Drop coarse phases that the images are too small for; error when even one is too many."""
    notes = []
    for count in range(phases, 0, -1):
        need = smallest_side(layers, count)
        if all(side >= need for _, side in sides):
            if count < phases:
                notes.append(f"images are small for {phases} phases; using {count} (each side needs "
                             f"{smallest_side(layers, phases)} px for {phases})")
            return count, notes
    name, side = min(sides, key=lambda item: item[1])
    raise DoodleError(f"{name}: its short side is {side} px but layers {','.join(layers)} need at least "
                      f"{smallest_side(layers, 1)} px; use a larger image or --size, or shallower --style-layers")


def estimate_bytes(out_hw: tuple[int, int], style_hw: tuple[int, int] | list[tuple[int, int]], labels: int,
                   config: PaintConfig, layers: list[str]) -> int:
    """Peak memory of the finest phase: style patch banks (of every style and copy in `style_hw`),
    one score block, patches and network activations with their gradients. Deliberately generous;
    used to refuse hopeless runs."""
    total = 0
    style_sizes = style_hw if isinstance(style_hw, list) else [style_hw]
    patch_layers = config.style_layer_names if "patch" in config.style_loss_weights else ()
    for name in patch_layers:
        stride = layer_stride(name)
        channels = layer_channels(name)
        bank = sum(max(0, h // stride - 2) * max(0, w // stride - 2) for h, w in style_sizes)
        queries = max(0, out_hw[0] // stride - 2) * max(0, out_hw[1] // stride - 2)
        # raw patches and their column copy, the normalised descriptors with map channels, the
        # per-label copies of those (patches on label edges sit in several) and bfloat16 copies
        total += bank * PATCH_SIZE**2 * (4.5 * channels + 2.5 * labels) * 4
        # current patches at a search and their descriptors, the folded matches
        total += 3 * queries * PATCH_SIZE**2 * channels * 4
        rows = chunk_rows(queries, config.memory_budget_mb * 2**20, config.slices, max(bank, 1))
        total += queries * rows * BYTES_PER_SCORE
    deepest = max(layer_stride(name) for name in layers)
    stride = 1
    while stride <= deepest:
        cells = (out_hw[0] // stride) * (out_hw[1] // stride)
        # conv and relu outputs of about three convs per block, kept for the backward pass, twice
        total += 2 * 3 * 2 * layer_channels(f"conv{stride.bit_length()}_1") * cells * 4
        stride *= 2
    return int(total)


def format_bytes(count: int) -> str:
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.0f} MiB"


def resolve_precision(name: str, device: torch.device) -> str:
    """`auto` becomes bf16 where bfloat16 is native (see `fast_bfloat16`), else fp32."""
    if name != "auto":
        return name
    return "bf16" if fast_bfloat16(device) else "fp32"


def encode(encoder: VGGEncoder, image: torch.Tensor, layers: Iterable[str], precision: str) -> dict[str, torch.Tensor]:
    """Features of `image` at `layers`, as float32 whatever the network ran in.

    Channels-last layout lets oneDNN and cuDNN pick their fastest convolutions (about 20% on CPU);
    bf16 autocast runs the convolutions in bfloat16 (about 2x on CPUs with AVX-512 BF16) while the
    losses, the matching descriptors and L-BFGS stay in float32."""
    device_type = image.device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        features = encoder(image.contiguous(memory_format=torch.channels_last), layers)
    return {name: value.float() for name, value in features.items()}


def label_search(config: PaintConfig) -> bool:
    """Whether to search by label: asked for, and safe. Below a semantic weight of 1 a patch may
    rightly match across labels, which a search by label would forbid."""
    return config.search == "label" and config.semantic_weight >= 1


@dataclass
class StyleCopy:
    """One style image, or a rotated or rescaled copy of one, at its full working size."""

    image: torch.Tensor  # (1, 3, H, W)
    channels: torch.Tensor | None  # (1, K, H, W) label channels, None without maps
    valid: torch.Tensor | None  # (1, 1, H, W): 1 where the copy has pixels; None when all of it does
    weight: float  # the style's --style-blend weight, normalised to sum to 1 over the styles
    share: float  # fraction of its patches in the pooled bank: weight / the largest weight
    base: bool  # the style itself (Gram targets and colours come from these only)


def style_copies(image: torch.Tensor, channels: torch.Tensor | None, weight: float, share: float,
                 rotations: Sequence[float], scales: Sequence[float]) -> list[StyleCopy]:
    """The style itself, then copies at every other scale and angle (as CNNMRF augments its bank).
    Rotated copies grow to hold the whole turned image; `valid` marks its empty corners."""
    copies = [StyleCopy(image, channels, None, weight, share, True)]
    for scale in dict.fromkeys((1.0, *scales)):
        hw = (max(1, round(image.shape[-2] * scale)), max(1, round(image.shape[-1] * scale)))
        scaled = resize_image(image, hw)
        scaled_channels = resize_channels(channels, hw) if channels is not None else None
        for angle in dict.fromkeys((0.0, *rotations)):
            if scale == 1.0 and angle % 360 == 0:
                continue
            if angle % 360 == 0:
                copies.append(StyleCopy(scaled, scaled_channels, None, weight, share, False))
                continue
            turn = dict(angle=angle, expand=True)
            valid = TF.rotate(torch.ones_like(scaled[:, :1]), interpolation=TF.InterpolationMode.BILINEAR, **turn)
            copies.append(StyleCopy(
                TF.rotate(scaled, interpolation=TF.InterpolationMode.BILINEAR, **turn),
                TF.rotate(scaled_channels, interpolation=TF.InterpolationMode.NEAREST, **turn)
                if scaled_channels is not None else None,
                valid, weight, share, False))
    return copies


def _build_terms(config: PaintConfig, out_hw: tuple[int, int], copies: list[tuple[StyleCopy, dict[str, torch.Tensor]]],
                 target_channels: torch.Tensor | None, content_features: dict[str, torch.Tensor] | None,
                 matcher: str) -> list[WeightedTerm]:
    """The loss terms of one phase; `copies` pairs every style copy with its features this phase."""
    matcher_options = {"budget_bytes": config.memory_budget_mb * 2**20, "slices": config.slices,
                       "variety": config.variety}
    kinds = config.style_loss_weights
    use_maps = target_channels is not None and config.semantic_weight > 0
    terms = []
    for layer, share in config.weighted_style_layers:
        stride = layer_stride(layer)
        target_map = None
        if target_channels is not None:
            target_map = resize_channels(target_channels, (out_hw[0] // stride, out_hw[1] // stride))
        samples = []
        for copy, features in copies:
            layer_hw = tuple(features[layer].shape[-2:])
            samples.append((copy, StyleLayer(
                features[layer],
                resize_channels(copy.channels, layer_hw) if copy.channels is not None else None,
                resize_channels(copy.valid, layer_hw) if copy.valid is not None else None,
                copy.share)))
        if "patch" in kinds:
            term = SemanticPatchLoss(layer, [sample for _, sample in samples], None, target_map,
                                     config.semantic_weight, matcher, matcher_options, by_label=label_search(config),
                                     rematch_every=config.rematch_every)
            terms.append(WeightedTerm(f"style:{layer}", config.style_weight * kinds["patch"] * share, term))
        if "gram" in kinds:
            bases = [(sample.features, sample.channels if use_maps else None, copy.weight)
                     for copy, sample in samples if copy.base]
            term = GramLoss(layer, bases, target_map if use_maps else None)
            terms.append(WeightedTerm(f"gram:{layer}", config.style_weight * kinds["gram"] * share, term))
    if content_features is not None and config.content_weight > 0:
        for layer in config.content_layers:
            terms.append(WeightedTerm(f"content:{layer}", config.content_weight / len(config.content_layers),
                                      ContentLoss(layer, content_features[layer])))
    if config.smoothness > 0:
        terms.append(WeightedTerm("smoothness", config.smoothness, Smoothness()))
    return terms


def style_noise(style: torch.Tensor | list[torch.Tensor], style_channels: torch.Tensor | list | None,
                target_channels: torch.Tensor | None, out_hw: tuple[int, int], generator: torch.Generator,
                weights: Sequence[float] | None = None) -> torch.Tensor:
    """Noise whose pixels are drawn at random from the style image, label by label when there are
    maps. Starting from the right palette in every region matters: patch matching refines texture
    well but barely moves a region's overall colour, so grey noise leaves regions washed out.

    With several styles (lists of images and of channels), each style gives pixels in proportion to
    its weight."""
    if isinstance(style, list) and len(style) == 1:
        style, style_channels = style[0], style_channels[0] if isinstance(style_channels, list) else style_channels
    if isinstance(style, list):
        return _blended_noise(style, style_channels, target_channels, out_hw, generator, weights)
    pixels = style[0].flatten(1)  # (3, H*W)
    if style_channels is None or target_channels is None:
        index = torch.randint(pixels.shape[1], (out_hw[0] * out_hw[1],), generator=generator)
        return pixels[:, index.to(pixels.device)].view(1, 3, *out_hw)
    style_labels = resize_channels(style_channels, tuple(style.shape[-2:])).argmax(1).flatten()
    target_labels = resize_channels(target_channels, out_hw).argmax(1).flatten()
    noise = torch.empty(3, target_labels.numel(), device=style.device)
    for label in target_labels.unique():
        where = (target_labels == label).nonzero().squeeze(1)
        source = (style_labels == label).nonzero().squeeze(1)
        if source.numel() == 0:  # label too thin to survive resizing: fall back to any style pixel
            source = torch.arange(pixels.shape[1], device=style.device)
        pick = torch.randint(source.numel(), (where.numel(),), generator=generator).to(style.device)
        noise[:, where] = pixels[:, source[pick]]
    return noise.view(1, 3, *out_hw)


def _blended_noise(styles: list[torch.Tensor], channels: list[torch.Tensor] | None, target_channels: torch.Tensor | None,
                   out_hw: tuple[int, int], generator: torch.Generator, weights: Sequence[float] | None) -> torch.Tensor:
    weights = list(weights) if weights is not None else [1.0] * len(styles)
    pixels = torch.cat([style[0].flatten(1) for style in styles], 1).cpu()
    owner = torch.cat([torch.full((style.shape[-2] * style.shape[-1],), i)
                       for i, style in enumerate(styles)])
    with_maps = channels is not None and target_channels is not None
    if with_maps:
        style_labels = torch.cat([resize_channels(c, tuple(s.shape[-2:])).argmax(1).flatten().cpu()
                                  for s, c in zip(styles, channels)])
        target_labels = resize_channels(target_channels, out_hw).argmax(1).flatten().cpu()
    else:
        style_labels = torch.zeros(pixels.shape[1], dtype=torch.long)
        target_labels = torch.zeros(out_hw[0] * out_hw[1], dtype=torch.long)
    noise = torch.empty(3, target_labels.numel())
    for label in target_labels.unique():
        where = (target_labels == label).nonzero().squeeze(1)
        source = (style_labels == label).nonzero().squeeze(1)
        if source.numel() == 0:
            source = torch.arange(pixels.shape[1])
        # Pick a style by its blend weight for every pixel, then a pixel of that style and label:
        # each style weighs its weight however many pixels it has (and multinomial never sees more
        # categories than styles, where it is limited to 2^24).
        by_style = [source[owner[source] == i] for i in range(len(styles))]
        available = torch.tensor([w if len(pool) else 0.0 for w, pool in zip(weights, by_style)])
        chosen = torch.multinomial(available, where.numel(), replacement=True, generator=generator)
        for i, pool in enumerate(by_style):
            targets = where[chosen == i]
            if len(targets):
                noise[:, targets] = pixels[:, pool[torch.randint(len(pool), (len(targets),), generator=generator)]]
    return noise.view(1, 3, *out_hw).to(styles[0].device)


def _initial_image(config: PaintConfig, out_hw: tuple[int, int], styles: list[torch.Tensor],
                   style_channels: list[torch.Tensor] | None, weights: list[float],
                   target_channels: torch.Tensor | None, content: torch.Tensor | None,
                   init_image: np.ndarray | None, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    def noise() -> torch.Tensor:
        return style_noise(styles, style_channels, target_channels, out_hw, generator, weights)

    if config.init == "noise":
        return noise()
    if config.init == "uniform":
        low, high = NOISE_RANGE
        uniform = torch.rand((1, 3, *out_hw), generator=generator)
        return (low + (high - low) * uniform).to(device)
    start = resize_image(content if config.init == "content" else image_to_tensor(init_image, device), out_hw)
    if config.init_noise > 0:
        # Some noise lets the style replace the photo's fine detail rather than only tint it.
        start = (1 - config.init_noise) * start + config.init_noise * noise()
    return start


def _mode(content: np.ndarray | None, target_map: np.ndarray | None) -> str:
    if content is not None:
        return "semantic" if target_map is not None else "style"
    return "doodle" if target_map is not None else "texture"


def _as_list(value: ImagesLike | None) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def paint(style: ImagesLike, *, style_map: ImagesLike | None = None, content: ImageLike | None = None,
          content_map: ImageLike | None = None, target_map: ImageLike | None = None,
          size: tuple[int, int] | None = None, config: PaintConfig = PaintConfig(),
          callback: Callable[[Progress], None] | None = None,
          on_note: Callable[[str], None] | None = None,
          encoder: VGGEncoder | None = None) -> PaintResult:
    """Paint an image in the style of `style`.

    Modes follow from what is given: `target_map` (a doodle) and `style_map` paint a new picture of
    that layout; `content` repaints a photo (with `content_map` and `style_map`: semantic transfer);
    `style` alone with `size` (width, height) synthesises a texture. Images are paths or float
    arrays HxWx3 in [0, 1]; maps are paths or uint8 arrays HxWx3. `style` may be a list of several
    styles (with a list of as many maps), weighed by `config.style_blend`. `callback` hears every
    evaluation; `on_note` hears each note (a dropped phase, a borrowed label) as it arises.
    Ctrl-C (KeyboardInterrupt) stops the run early and returns the image so far, with
    `record.interrupted` set.
    """
    started = time.perf_counter()
    record = PaintRecord(mode="", config=config)

    def note(texts: list[str]) -> None:
        record.notes.extend(texts)
        for text in texts:
            if on_note is not None:
                on_note(text)

    styles_given, maps_given = _as_list(style), _as_list(style_map)
    if not styles_given:
        raise DoodleError("give at least one style image")
    if maps_given and len(maps_given) != len(styles_given):
        raise DoodleError(f"{len(maps_given)} style map(s) for {len(styles_given)} style image(s); give one map per "
                          "style, or none")
    maps_given = maps_given or [None] * len(styles_given)
    if any(m is None for m in maps_given) and any(m is not None for m in maps_given):
        raise DoodleError("some style images have maps and some not; give every style a map, or use no maps")
    blend = config.style_blend or (1.0,) * len(styles_given)
    if len(blend) != len(styles_given):
        raise DoodleError(f"--style-blend has {len(blend)} weight(s) for {len(styles_given)} style image(s); "
                          "give one weight per --style")
    style_names = [_name(given, f"style {i + 1}") for i, given in enumerate(styles_given)]
    dropped = [name for name, weight in zip(style_names, blend) if weight == 0]
    if dropped:
        note([f"{', '.join(dropped)}: blend weight 0, left out"])
    kept = [i for i, weight in enumerate(blend) if weight > 0]
    style_names = [style_names[i] for i in kept]
    total_weight = sum(blend[i] for i in kept)
    weights = [blend[i] / total_weight for i in kept]
    style_images = [_load(styles_given[i], read_image, style_names[k]) for k, i in enumerate(kept)]
    style_label_images = [_load(maps_given[i], read_map, f"map of {style_names[k]}") for k, i in enumerate(kept)]
    with_style_maps = style_label_images[0] is not None
    content_name = _name(content, "content")
    content_image = _load(content, read_image, "content")
    target_side_map = _load(content_map if content is not None else target_map, read_map,
                            "content_map" if content is not None else "target_map")
    target_map_name = _name(content_map if content is not None else target_map, "map")
    if config.init == "content" and content is None:
        raise DoodleError("--init content needs a --content image; use --init noise or a path")
    if config.colors == "original" and content is None:
        raise DoodleError("--colors original keeps the content's colours and needs --content; use --colors match")
    init_image = None if config.init in INIT_KINDS else read_image(config.init)
    if content is not None and target_map is not None:
        raise DoodleError("give the content's map as content_map (--content-map), not as target_map (--map)")
    if with_style_maps != (target_side_map is not None):
        missing = "the style" if not with_style_maps else ("the content" if content is not None else "the target")
        raise DoodleError(f"a semantic map was given for one side only; give {missing} a map too, or use no maps")
    for image, labels, name, given in zip(style_images, style_label_images, style_names, [maps_given[i] for i in kept]):
        if labels is not None:
            check_map_matches(image.shape, labels.shape, name, _name(given, "style map"))
    if content_image is not None and target_side_map is not None:
        check_map_matches(content_image.shape, target_side_map.shape, content_name, target_map_name)

    mode = _mode(content_image, target_side_map)
    record.mode = mode
    # The output takes the size of the content, else of the doodle, else of the (first) style.
    layout, layout_name = next((image, name) for image, name in ((content_image, content_name),
                                                                 (target_side_map, target_map_name),
                                                                 (style_images[0], style_names[0]))
                               if image is not None)
    out_hw = tuple(int(side) for side in (layout.shape[:2] if size is None else (size[1], size[0])))
    texture = mode == "texture"
    if size is not None and not texture:
        # A doodle or photo keeps its proportions; only a texture may take any shape.
        check_map_matches(out_hw, layout.shape, f"--size {size[0]}x{size[1]}", layout_name)
    # The style's brush strokes keep their size relative to the picture: when --size shrinks or
    # grows the content or doodle, the style image is scaled by the same factor. A texture keeps
    # the style's own scale, whatever its size. --style-scale comes on top.
    style_factor = (1.0 if texture else out_hw[0] / layout.shape[0]) * config.style_scale
    style_hws = [(max(1, round(image.shape[0] * style_factor)), max(1, round(image.shape[1] * style_factor)))
                 for image in style_images]

    device = pick_device(config.device)
    record.device = str(device)
    style_layers = list(config.style_layer_names)
    layers = list(dict.fromkeys(style_layers + list(config.content_layers if content_image is not None else ())))
    check_layers("vgg19", layers)  # the superset: catch typos before any work; the model is checked later
    scaled = "" if config.style_scale == 1 else f" at --style-scale {config.style_scale:g}"
    sides = [(name + scaled, min(hw)) for name, hw in zip(style_names, style_hws)]
    sides.append((layout_name if size is None else f"--size {size[0]}x{size[1]}", min(out_hw)))
    phases, notes = fit_phases(sides, layers, config.phases)
    note(notes)

    labels = 0
    style_channels: list[torch.Tensor] | None = None
    target_channels = None
    if with_style_maps:
        labelling = label_maps(style_label_images, target_side_map)
        note(labelling.notes)
        labels = labelling.count
        style_channels = [one_hot(found, labels).to(device) for found in labelling.labels[:-1]]
        target_channels = one_hot(labelling.labels[-1], labels).to(device)

    copies: list[StyleCopy] = []
    augment = "patch" in config.style_loss_weights
    if not augment and (config.style_rotations or config.style_scales):
        note(["--style-rotations and --style-scales add copies to the patch bank; with --style-loss gram "
              "alone there is none, so they are not used"])
    for index, (image, weight) in enumerate(zip(style_images, weights)):
        tensor = resize_image(image_to_tensor(image, device), style_hws[index])
        channels = resize_channels(style_channels[index], style_hws[index]) if style_channels else None
        copies += style_copies(tensor, channels, weight, weight / max(weights),
                               config.style_rotations if augment else (), config.style_scales if augment else ())
    if len(copies) > len(style_images):
        note([f"the patch bank holds {len(copies)} style images: {len(style_images)} style(s) and "
              f"{len(copies) - len(style_images)} rotated or rescaled copies"])

    record.estimated_bytes = estimate_bytes(out_hw, [tuple(c.image.shape[-2:]) for c in copies], labels, config, layers)
    free = available_memory(device)
    if free is not None and record.estimated_bytes > MEMORY_HEADROOM * free:
        raise DoodleError(
            f"this run needs about {record.estimated_bytes / 2**30:.1f} GiB but {free / 2**30:.1f} GiB is free; "
            f"use a smaller --size (or a smaller style image), or fewer --style-layers")

    if encoder is None:
        encoder = load_encoder(config.model, config.pooling, device)
    check_layers(encoder.info.model, layers)
    record.model, record.weights = encoder.info.model, encoder.info.source
    record.matcher = resolve_matcher(config.matcher, device)
    record.precision = resolve_precision(config.precision, device)
    note([f"{out_hw[1]}x{out_hw[0]} on {device}, {record.precision} network, {record.matcher} search; "
          f"estimated peak memory {format_bytes(record.estimated_bytes)}"])
    generator = torch.Generator().manual_seed(config.seed)
    bases = [copy for copy in copies if copy.base]
    content_full = image_to_tensor(content_image, device) if content_image is not None else None
    smallest_style = smallest_side(style_layers, 1)
    pixels: torch.Tensor | None = None
    try:
        for index, phase_hw in enumerate(phase_sizes(*out_hw, phases)):
            phase_record = PhaseRecord(index + 1, (phase_hw[1], phase_hw[0]))
            record.phases.append(phase_record)
            if pixels is None:
                pixels = _initial_image(config, phase_hw, [copy.image for copy in bases],
                                        [copy.channels for copy in bases] if with_style_maps else None, weights,
                                        target_channels, content_full, init_image, generator, device)
            else:
                pixels = F.interpolate(pixels, size=phase_hw, mode="bicubic", align_corners=False).clamp(0, 1)
            with torch.no_grad():
                copy_features = []
                for copy in copies:
                    copy_hw = phase_sizes(*copy.image.shape[-2:], phases)[index]
                    if not copy.base and min(copy_hw) < smallest_style:
                        continue  # a shrunken copy too small for the deepest layer at this phase
                    copy_features.append((copy, encode(encoder, resize_image(copy.image, copy_hw), style_layers,
                                                       record.precision)))
                content_features = None
                if content_full is not None:
                    content_features = encode(encoder, resize_image(content_full, phase_hw), config.content_layers,
                                              record.precision)
            terms = _build_terms(config, phase_hw, copy_features, target_channels, content_features, record.matcher)
            pixels, record.interrupted = _optimise(pixels, terms, encoder, layers, config, record.precision,
                                                   phase_record, phases, started, callback)
            if record.interrupted:
                break
    except KeyboardInterrupt:  # between phases, or while the style features are computed
        record.interrupted = True
        if pixels is None:
            raise
    if tuple(pixels.shape[-2:]) != out_hw:  # interrupted before the last phase: still deliver the asked size
        pixels = resize_image(pixels.detach(), out_hw)
    image = tensor_to_image(pixels)
    if config.colors == "original":
        image = keep_luminance(image, tensor_to_image(resize_image(content_full, out_hw)))
    elif config.colors == "match":
        painted_labels = None
        if target_channels is not None:
            painted_labels = resize_channels(target_channels, out_hw).argmax(1)[0].cpu().numpy()
        # style labels at each style image's own size: a map may have another resolution than its image
        style_labels = [resize_channels(style_channels[i], picture.shape[:2]).argmax(1)[0].cpu().numpy()
                        if with_style_maps else None for i, picture in enumerate(style_images)]
        image = match_colours(image, painted_labels, list(zip(style_images, style_labels)), weights)
    record.seconds = time.perf_counter() - started
    return PaintResult(image, record)


def converged(history: list[float], tolerance: float, window: int = CONVERGENCE_WINDOW) -> bool:
    """Whether the loss fell by less than `tolerance` (a fraction) over the last `window` evaluations."""
    if tolerance <= 0 or len(history) <= window:
        return False
    before, now = history[-1 - window], history[-1]
    return before - now < tolerance * abs(before)


def _synchronise(device: torch.device) -> None:
    # CUDA runs asynchronously: without this the network's time would be booked to whatever waits next.
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _optimise(pixels: torch.Tensor, terms: list[WeightedTerm], encoder: VGGEncoder, layers: list[str],
              config: PaintConfig, precision: str, phase_record: PhaseRecord, phases: int, started: float,
              callback: Callable[[Progress], None] | None) -> tuple[torch.Tensor, bool]:
    """One phase of L-BFGS (or Adam) on the pixels: the result, and whether Ctrl-C cut it short.

    The result is the image with the lowest loss the phase evaluated: without a line search L-BFGS
    can overshoot on Gram losses (fourth powers of the pixels), and the last step is then not the best."""
    variable = pixels.detach().contiguous().clone().requires_grad_(True)
    if config.optimizer == "adam":
        optimiser: torch.optim.Optimizer = torch.optim.Adam([variable], lr=config.step_size)
    else:
        # One iteration per step() call, so that the loop can stop on convergence; L-BFGS keeps its
        # history across calls, and without a line search it evaluates the loss once per iteration.
        optimiser = torch.optim.LBFGS([variable], lr=config.step_size, max_iter=1, max_eval=1,
                                      tolerance_grad=0.0, tolerance_change=0.0, history_size=LBFGS_HISTORY)
    phase_started = time.perf_counter()
    last_losses: dict[str, float] = {}
    history: list[float] = []
    best: dict = {"total": float("inf"), "pixels": variable.detach().clone(), "losses": {}}
    device = variable.device

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        with torch.no_grad():
            # L-BFGS has no bounds; keep pixels displayable so the network never sees impossible colours.
            variable.clamp_(0.0, 1.0)
        network_started = time.perf_counter()
        features = encode(encoder, variable, layers, precision)
        _synchronise(device)
        network_seconds = time.perf_counter() - network_started
        parts = {item.name: item.weight * item.term(variable, features) for item in terms}
        total = sum(parts.values())
        backward_started = time.perf_counter()
        total.backward()
        _synchronise(device)
        phase_record.network_seconds += network_seconds + time.perf_counter() - backward_started
        phase_record.evaluations += 1
        last_losses.clear()
        last_losses.update({name: value.item() for name, value in parts.items()})
        history.append(sum(last_losses.values()))
        if history[-1] < best["total"]:
            best.update(total=history[-1], pixels=variable.detach().clone(), losses=dict(last_losses))
        if callback is not None:
            callback(Progress(phase_record.index, phases, phase_record.size, phase_record.evaluations,
                              config.iterations, dict(last_losses), time.perf_counter() - started, variable))
        return total

    interrupted = False
    try:
        for _ in range(config.iterations):
            optimiser.step(closure)
            if converged(history, config.tolerance):
                phase_record.converged = True
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        phase_record.seconds = time.perf_counter() - phase_started
        phase_record.match_seconds = sum(item.term.stats.match_seconds for item in terms)
        phase_record.searches = sum(item.term.stats.searches for item in terms)
        phase_record.losses = dict(best["losses"] or last_losses)
    return best["pixels"].clamp(0, 1), interrupted
