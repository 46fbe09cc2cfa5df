"""Every parameter of a painting run, with its one default, in one place.

The CLI reads its defaults and help texts from here, so the engine's signature is the documentation.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# Layer names follow the VGG papers: conv{block}_{k} and relu{block}_{k}.
DEFAULT_STYLE_LAYERS = ("relu3_1", "relu4_1")
DEFAULT_CONTENT_LAYERS = ("relu4_2",)
MATCHERS = ("auto", "exact", "bf16", "faiss")
SEARCHES = ("label", "all")
PRECISIONS = ("auto", "fp32", "bf16")
# --init values that are not a path to an image.
INIT_KINDS = ("noise", "uniform", "content")
STYLE_LOSSES = ("patch", "gram")
OPTIMIZERS = ("lbfgs", "adam")
COLORS = ("none", "original", "match")
# --learning-rate 0 means this per optimiser: L-BFGS takes whole quasi-Newton steps; Adam moves
# pixels (0-1) by about this much per step at first.
DEFAULT_LEARNING_RATES = {"lbfgs": 1.0, "adam": 0.02}
# --tolerance compares the loss now with the loss this many evaluations ago.
CONVERGENCE_WINDOW = 10


def _help(text: str) -> dict[str, Any]:
    return {"help": text}


def parse_weighted(items: tuple[str, ...] | list[str], what: str) -> list[tuple[str, float]]:
    """['relu3_1:0.5', 'relu4_1'] -> [('relu3_1', 0.5), ('relu4_1', 1.0)]; a missing weight is 1."""
    parsed = []
    for item in items:
        name, _, weight = item.partition(":")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(f"{what} {item!r}: write NAME or NAME:WEIGHT, e.g. relu3_1:0.5") from None
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"{what} {item!r}: weights must be finite and not negative")
        parsed.append((name.strip(), value))
    return parsed


@dataclass(frozen=True)
class PaintConfig:
    """Settings of one painting run. Images and maps are passed separately to `doodle.paint`."""

    style_loss: tuple[str, ...] = field(
        default=("patch",),
        metadata=_help("Style loss: patch (nearest 3x3 style patches), gram (Gatys' Gram matrices; one per "
                       "label with maps) or both with weights, e.g. patch:1,gram:0.5."),
    )
    style_layers: tuple[str, ...] = field(
        default=DEFAULT_STYLE_LAYERS,
        metadata=_help("VGG layers that carry the style, comma-separated, each with an optional weight "
                       "(relu2_1:5); weights are relative and 0 drops a layer."),
    )
    content_layers: tuple[str, ...] = field(
        default=DEFAULT_CONTENT_LAYERS,
        metadata=_help("VGG layers compared with the content image (comma-separated)."),
    )
    style_weight: float = field(
        default=1.0, metadata=_help("Weight of the style loss (beta); the content loss has --content-weight (alpha).")
    )
    content_weight: float = field(
        default=0.5,
        metadata=_help("Weight of the content loss (only used when a content image is given)."),
    )
    smoothness: float = field(
        default=1.0,
        metadata=_help("Weight of the total-variation term that suppresses pixel noise."),
    )
    semantic_weight: float = field(
        default=1.0,
        metadata=_help(
            "How strongly maps steer matching: patch similarity is (features + w^2 map) / (1 + w^2) "
            "cosines; from 1 up, patches come from their own label (with ReLU layers and no --variety); "
            "0 ignores the maps."
        ),
    )
    variety: float = field(
        default=0.0,
        metadata=_help("Penalty on reusing the same style patch, e.g. 0.2 (0 = off; doubles matching time)."),
    )
    phases: int = field(
        default=3, metadata=_help("Resolutions, coarse to fine; each doubles the previous size.")
    )
    iterations: int = field(
        default=40, metadata=_help("Iterations (loss evaluations) per phase, at most.")
    )
    init: str = field(
        default="noise",
        metadata=_help("Starting image: noise (pixels drawn at random from the style, label by label), "
                       "uniform (uniform grey noise, as the original tool), content, or the path of an image."),
    )
    init_noise: float = field(
        default=0.0,
        metadata=_help("Share of noise (drawn from the style, label by label) blended into an --init content "
                       "or image start, 0-1."),
    )
    optimizer: str = field(
        default="lbfgs",
        metadata=_help("lbfgs (few evaluations, the default) or adam (steadier on long runs)."),
    )
    learning_rate: float = field(
        default=0.0,
        metadata=_help("Step size; 0 = 1.0 for lbfgs, 0.02 for adam (pixels are 0-1)."),
    )
    style_blend: tuple[float, ...] = field(
        default=(),
        metadata=_help("Weights of several --style images, e.g. 0.7,0.3 (default: equal). Patch banks are "
                       "pooled in these shares, Gram targets blended."),
    )
    style_scale: float = field(
        default=1.0,
        metadata=_help("Resize the style image(s) by this factor before extracting features: larger strokes "
                       "above 1, finer below."),
    )
    style_rotations: tuple[float, ...] = field(
        default=(),
        metadata=_help("Also put copies of the style rotated by these angles (degrees, e.g. -15,15,90) in the "
                       "patch bank, so strokes and outlines can turn."),
    )
    style_scales: tuple[float, ...] = field(
        default=(),
        metadata=_help("Also put copies of the style resized by these factors (e.g. 0.8,1.25) in the patch bank."),
    )
    colors: str = field(
        default="none",
        metadata=_help("none (as painted), original (keep the content's colours: only luminance is transferred) "
                       "or match (match the painting's colour statistics to the style's, label by label)."),
    )
    seed: int = field(default=0, metadata=_help("Random seed; the same seed gives the same painting."))
    model: str = field(
        default="auto",
        metadata=_help("Network weights: auto (VGG19 if available, else VGG16), vgg19 or vgg16."),
    )
    pooling: str = field(default="avg", metadata=_help("Pooling inside VGG: avg or max."))
    matcher: str = field(
        default="auto",
        metadata=_help("Patch search: exact (float32), bf16 (bfloat16 scores, best candidates re-checked in "
                       "float32), faiss (PCA-reduced faiss index, candidates re-checked; for very large style "
                       "banks) or auto (bf16 where bfloat16 is native: CUDA, CPUs with AVX-512 BF16 or AMX; "
                       "else exact)."),
    )
    search: str = field(
        default="label",
        metadata=_help("With maps and --semantic-weight >= 1: label searches each patch only among style "
                       "patches of its own label (the same matches inside labels, about 2.5x faster); all "
                       "searches every style patch (always the case when --semantic-weight is below 1)."),
    )
    rematch_every: int = field(
        default=4,
        metadata=_help("Search for matches at every N-th evaluation and reuse them in between (1 = every "
                       "evaluation)."),
    )
    precision: str = field(
        default="auto",
        metadata=_help("Network arithmetic: fp32, bf16 (bfloat16 autocast) or auto (bf16 where bfloat16 "
                       "is native, as for --matcher auto; else fp32)."),
    )
    tolerance: float = field(
        default=0.01,
        metadata=_help("End a phase early once the loss fell by less than this fraction over the last "
                       f"{CONVERGENCE_WINDOW} evaluations (0 = always run all --iterations)."),
    )
    memory_budget_mb: int = field(
        default=512,
        metadata=_help("Memory for one chunk of the patch-matching score matrix, in MiB."),
    )
    slices: int = field(
        default=0,
        metadata=_help("Split the style patches into this many chunks (0 = automatic from the budget)."),
    )
    device: str = field(default="auto", metadata=_help("auto, cpu or cuda."))

    def with_overrides(self, **changes: Any) -> "PaintConfig":
        """A copy with the given fields changed; `None` values keep the default."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def __post_init__(self) -> None:
        problems = []
        for name in ("style_loss", "style_layers", "content_layers", "style_blend", "style_rotations",
                     "style_scales"):
            if isinstance(getattr(self, name), (str, list)):  # "a,b" from Python: store the tuple
                value = getattr(self, name)
                items = [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
                object.__setattr__(self, name, tuple(items))
        for name in ("style_blend", "style_rotations", "style_scales"):
            try:
                values = tuple(float(value) for value in getattr(self, name))
                if not all(math.isfinite(value) for value in values):
                    raise ValueError(name)
                object.__setattr__(self, name, values)
            except (TypeError, ValueError):
                problems.append(f"--{name.replace('_', '-')} must be numbers separated by commas")
                object.__setattr__(self, name, ())  # so the checks below see numbers; the error stands
        try:
            losses = parse_weighted(self.style_loss, "--style-loss")
            if not losses or any(kind not in STYLE_LOSSES for kind, _ in losses):
                problems.append("--style-loss must be patch, gram, or both with weights (patch:1,gram:0.5)")
            elif not any(weight > 0 for _, weight in losses):
                problems.append("--style-loss needs a weight above 0")
            layers = parse_weighted(self.style_layers, "--style-layers")
            if layers and not any(weight > 0 for _, weight in layers):
                problems.append("--style-layers needs a layer with a weight above 0")
        except ValueError as error:
            problems.append(str(error))
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"--optimizer must be one of {', '.join(OPTIMIZERS)}")
        if self.colors not in COLORS:
            problems.append(f"--colors must be one of {', '.join(COLORS)}")
        if self.learning_rate < 0:
            problems.append("--learning-rate must not be negative (0 = the optimiser's default)")
        if not 0 <= self.init_noise <= 1:
            problems.append("--init-noise must be between 0 and 1")
        elif self.init_noise > 0 and self.init in ("noise", "uniform"):
            problems.append("--init-noise blends noise into a starting image: use it with --init content or "
                            "--init PATH")
        if any(weight < 0 for weight in self.style_blend) or (self.style_blend and not any(self.style_blend)):
            problems.append("--style-blend weights must not be negative, and one must be above 0")
        if not self.style_scale > 0 or any(not factor > 0 for factor in self.style_scales):
            problems.append("--style-scale and --style-scales must be above 0")
        if self.phases < 1:
            problems.append("--phases must be at least 1")
        if self.iterations < 1:
            problems.append("--iterations must be at least 1")
        if self.pooling not in ("avg", "max"):
            problems.append("--pooling must be avg or max")
        if self.model not in ("auto", "vgg19", "vgg16"):
            problems.append("--model must be auto, vgg19 or vgg16")
        if self.matcher not in MATCHERS:
            problems.append(f"--matcher must be one of {', '.join(MATCHERS)}")
        if self.search not in SEARCHES:
            problems.append(f"--search must be one of {', '.join(SEARCHES)}")
        if self.precision not in PRECISIONS:
            problems.append(f"--precision must be one of {', '.join(PRECISIONS)}")
        if self.rematch_every < 1:
            problems.append("--rematch-every must be at least 1")
        if not 0 <= self.tolerance < 1:
            problems.append("--tolerance must be at least 0 and below 1")
        if self.device not in ("auto", "cpu", "cuda"):
            problems.append("--device must be auto, cpu or cuda")
        for name in ("style_weight", "content_weight", "smoothness", "semantic_weight", "variety", "learning_rate",
                     "style_scale"):
            if not math.isfinite(getattr(self, name)):
                problems.append(f"--{name.replace('_', '-')} must be a finite number")
            elif getattr(self, name) < 0 and name not in ("learning_rate", "style_scale"):  # checked above
                problems.append(f"--{name.replace('_', '-')} must not be negative")
        if not self.style_layers:
            problems.append("--style-layers needs at least one layer")
        if self.memory_budget_mb < 16:
            problems.append("--memory-budget-mb must be at least 16")
        if self.slices < 0:
            problems.append("--slices must not be negative")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def style_loss_weights(self) -> dict[str, float]:
        """{'patch': w, 'gram': w} for the style losses in use (weight above 0)."""
        return {kind: weight for kind, weight in parse_weighted(self.style_loss, "--style-loss") if weight > 0}

    @property
    def weighted_style_layers(self) -> list[tuple[str, float]]:
        """(layer, share) for the style layers in use; shares sum to 1."""
        layers = [(name, weight) for name, weight in parse_weighted(self.style_layers, "--style-layers") if weight > 0]
        total = sum(weight for _, weight in layers)
        return [(name, weight / total) for name, weight in layers]

    @property
    def style_layer_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.weighted_style_layers)

    @property
    def step_size(self) -> float:
        return self.learning_rate or DEFAULT_LEARNING_RATES[self.optimizer]


def default_of(name: str) -> Any:
    """The default value of one PaintConfig field."""
    return {f.name: f.default for f in fields(PaintConfig)}[name]


def help_of(name: str) -> str:
    """The help text of one PaintConfig field."""
    return {f.name: f.metadata.get("help", "") for f in fields(PaintConfig)}[name]


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    settings: dict[str, Any]


def presets() -> dict[str, Preset]:
    """The named presets, read from doodle/presets.toml (data, not code)."""
    text = resources.files("doodle").joinpath("presets.toml").read_text()
    known = {f.name for f in fields(PaintConfig)}
    found = {}
    for name, table in tomllib.loads(text).items():
        settings = {key: (tuple(value) if isinstance(value, list) else value)
                    for key, value in table.items() if key != "description"}
        unknown = set(settings) - known
        if unknown:  # a typo in the data file must not pass silently
            raise ValueError(f"preset {name}: unknown settings {sorted(unknown)}")
        found[name] = Preset(name, table.get("description", ""), settings)
    return found


def preset_config(name: str, **overrides: Any) -> PaintConfig:
    """The preset's settings over the defaults, then `overrides` (None keeps the preset's value)."""
    available = presets()
    if name not in available:
        raise ValueError(f"--preset {name!r}: choose one of {', '.join(available)} (doodle presets lists them)")
    return PaintConfig(**available[name].settings).with_overrides(**overrides)
