"""Every parameter of a painting run, with its one default, in one place.

The CLI reads its defaults, help texts and allowed values from here, so the engine's signature is
the documentation. Each field's metadata says what values it takes (see RULES); one loop checks
them all, and only the checks that involve several fields are written out as code.
"""

from __future__ import annotations

import math
import sys
import typing
from dataclasses import Field, dataclass, field, fields, replace
from importlib import resources
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# Layer names follow the VGG papers: conv{block}_{k} and relu{block}_{k}.
DEFAULT_STYLE_LAYERS = ("relu3_1", "relu4_1")
DEFAULT_CONTENT_LAYERS = ("relu4_2",)
MATCHERS = ("auto", "exact", "bf16", "faiss", "patchmatch")
SEARCHES = ("label", "all")
PRECISIONS = ("auto", "fp32", "bf16")
# --init values that are not a path to an image.
INIT_KINDS = ("noise", "uniform", "content")
# --init values that start from noise, into which --init-noise has no image to blend.
NOISE_STARTS = ("noise", "uniform")
STYLE_LOSSES = ("patch", "gram")
OPTIMIZERS = ("lbfgs", "adam")
COLORS = ("none", "original", "match")
POOLINGS = ("avg", "max")
MODELS = ("auto", "vgg19", "vgg16")
DEVICES = ("auto", "cpu", "cuda")
# --learning-rate 0 means this per optimiser: L-BFGS takes whole quasi-Newton steps; Adam moves
# pixels (0-1) by about this much per step at first.
DEFAULT_LEARNING_RATES = {"lbfgs": 1.0, "adam": 0.02}
# --tolerance compares the loss now with the loss this many evaluations ago.
CONVERGENCE_WINDOW = 10
# The largest weight of any loss, alone or inside a list (patch:W, relu3_1:W). Losses are normalised
# (1 = the loss of an all-zero image; a painting's are 0.01-1) and the weights only set their ratios,
# so 1e12 is far past any useful one. The bound is float32's: the engine multiplies a style weight by
# a style-loss weight (at most 1e24) by a loss, and L-BFGS squares the gradients that weights scale;
# float32 holds 3.4e38, and measured runs stay finite up to 1e25, but --style-weight 1e300 is inf in
# float32 and every loss nan.
MAX_WEIGHT = 1e12
# Random generators take seeds of 64 bits (torch.Generator.manual_seed: 0 to 2**64 - 1).
MAX_SEED = 2**64 - 1

# The vocabulary of PaintConfig's field metadata. Rules are data so that the check, the CLI's help
# and the options reference (docs/options.md) all read the same words, written once.
#   help      the help text `doodle paint --help` shows (every field has one)
#   choices   the value must be one of these strings
#   min, max  inclusive bounds; above, below: exclusive bounds. For a list, they bind every item.
#   finite    True: the value must be a finite number (no inf, no nan)
#   problem   the exact sentence reported when a choice or a bound is broken, where the generated
#             one ("--phases must be at least 1") would say too little
RULES = ("help", "choices", "min", "max", "above", "below", "finite", "problem")
BOUNDS = ("min", "above", "max", "below")  # lower bounds first, as they read


def _setting(default: Any, help_text: str, **rules: Any) -> Any:
    """A PaintConfig field: its default, its help text and the rules its value must follow."""
    unknown = set(rules) - set(RULES)
    if unknown:  # a misspelt rule would otherwise go unchecked without a word
        raise TypeError(f"unknown field rules {sorted(unknown)}; known: {', '.join(RULES)}")
    return field(default=default, metadata={"help": help_text, **rules})


def parse_weighted(items: tuple[str, ...] | list[str], what: str) -> list[tuple[str, float]]:
    """['relu3_1:0.5', 'relu4_1'] -> [('relu3_1', 0.5), ('relu4_1', 1.0)]; a missing weight is 1."""
    parsed = []
    for item in items:
        name, _, weight = item.partition(":")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise ConfigError(f"{what} {item!r}: write NAME or NAME:WEIGHT, e.g. relu3_1:0.5") from None
        if not 0 <= value <= MAX_WEIGHT:  # written so that nan fails too
            raise ConfigError(f"{what} {item!r}: weights must be finite, between 0 and {MAX_WEIGHT:g}")
        parsed.append((name.strip(), value))
    return parsed


def flag_of(name: str) -> str:
    """'rematch_every' -> '--rematch-every': the flag that sets a field, as messages name it."""
    return "--" + name.replace("_", "-")


def _format(number: float) -> str:
    return str(number) if isinstance(number, int) else f"{number:g}"  # a 64-bit seed bound stays exact


def _limits_phrase(rules: typing.Mapping[str, Any]) -> str | None:
    """What the bounds among `rules` require, as it reads after a flag: 'must be at least 1'."""
    bounds = {key: rules[key] for key in BOUNDS if key in rules}
    if not bounds:
        return "must be a finite number" if rules.get("finite") else None
    if bounds == {"min": 0}:
        return "must not be negative"
    if set(bounds) == {"min", "max"}:
        return f"must be between {_format(bounds['min'])} and {_format(bounds['max'])}"
    words = {"min": "at least", "above": "above", "max": "at most", "below": "below"}
    return "must be " + " and ".join(f"{words[key]} {_format(value)}" for key, value in bounds.items())


def _within(value: float, rules: typing.Mapping[str, Any]) -> bool:
    """Whether `value` keeps the bounds among `rules`; written so that nan keeps none."""
    return (("min" not in rules or value >= rules["min"]) and ("max" not in rules or value <= rules["max"])
            and ("above" not in rules or value > rules["above"]) and ("below" not in rules or value < rules["below"]))


def rule_problem(name: str, value: Any, rules: typing.Mapping[str, Any]) -> str | None:
    """The one-line problem with `value` under a field's `rules`, or None when it keeps them all.

    A list is checked item by item. A value that is not finite reports only that, since its bounds
    mean nothing."""
    flag = flag_of(name)
    items = value if isinstance(value, tuple) else (value,)
    try:
        for item in items:
            if "choices" in rules and item not in rules["choices"]:
                return rules.get("problem") or f"{flag} must be one of {', '.join(rules['choices'])}"
            if rules.get("finite") and not math.isfinite(item):
                return f"{flag} must be a finite number"
            if not _within(item, rules):
                return rules.get("problem") or f"{flag} {_limits_phrase(rules)}"
    except TypeError:  # a string where a number belongs, from Python rather than the CLI
        return f"{flag} must be a number"
    return None


def _as_tuple(value: Any, item_type: type) -> tuple[tuple, bool]:
    """A list field's value as a tuple of `item_type`, and whether it could be read.

    From Python a list may come as "a,b" or a list; the frozen config stores tuples. Numbers must be
    finite: an inf blend weight or a nan angle has no meaning."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if item_type is not float:
        return tuple(value), True
    try:
        numbers = tuple(float(item) for item in value)
    except (TypeError, ValueError):
        return (), False
    return (numbers, True) if all(math.isfinite(number) for number in numbers) else ((), False)


@dataclass(frozen=True)
class PaintConfig:
    """Settings of one painting run. Images and maps are passed separately to `doodle.paint`."""

    style_loss: tuple[str, ...] = _setting(
        ("patch",),
        "Style loss: patch (nearest 3x3 style patches), gram (Gatys' Gram matrices; one per "
        "label with maps) or both with weights, e.g. patch:1,gram:0.5.",
    )
    style_layers: tuple[str, ...] = _setting(
        DEFAULT_STYLE_LAYERS,
        "VGG layers that carry the style, comma-separated, each with an optional weight "
        "(relu2_1:5); weights are relative and 0 drops a layer.",
    )
    content_layers: tuple[str, ...] = _setting(
        DEFAULT_CONTENT_LAYERS,
        "VGG layers compared with the content image (comma-separated).",
    )
    style_weight: float = _setting(
        1.0, "Weight of the style loss (beta); the content loss has --content-weight (alpha).",
        finite=True, min=0, max=MAX_WEIGHT,
    )
    content_weight: float = _setting(
        0.5, "Weight of the content loss (only used when a content image is given).",
        finite=True, min=0, max=MAX_WEIGHT,
    )
    smoothness: float = _setting(
        1.0, "Weight of the total-variation term that suppresses pixel noise.",
        finite=True, min=0, max=MAX_WEIGHT,
    )
    semantic_weight: float = _setting(
        1.0,
        "How strongly maps steer matching: patch similarity is (features + w^2 map) / (1 + w^2) "
        "cosines; from 1 up, patches come from their own label (with ReLU layers and no --variety); "
        "0 ignores the maps.",
        # The map's part of a patch's descriptor is scaled by w, so scores carry w^2: at 100 the map
        # outweighs the features 10000 to 1 already, and far above it w^2 overflows float32.
        finite=True, min=0, max=100,
    )
    variety: float = _setting(
        0.0, "Penalty on reusing the same style patch, e.g. 0.2 (0 = off; doubles matching time).",
        # Subtracted from cosine similarities (-1 to 1): above 2 it already outweighs any similarity.
        finite=True, min=0, max=100,
    )
    # Each phase doubles the size: 16 phases start at 1/32768 of it, smaller than any image allowed.
    phases: int = _setting(3, "Resolutions, coarse to fine; each doubles the previous size.", min=1, max=16)
    # 100000 evaluations of a phase take days even on tiny images: more is a typo, not a plan.
    iterations: int = _setting(40, "Iterations (loss evaluations) per phase, at most.", min=1, max=100_000)
    final_iterations: int = _setting(
        25, "At most this many of --iterations in the finest phase (0 = all of them; giving --iterations "
        "alone makes it 0). Its evaluations cost four times the previous phase's, and it starts from that "
        "phase's painting and matches.", min=0, max=100_000)
    init: str = _setting(
        "noise",
        "Starting image: noise (pixels drawn at random from the style, label by label), "
        "uniform (uniform grey noise, as the original tool), content, the path of an image, or a "
        "trained model NAME.doodle (its one-pass painting, which optimisation then finishes).",
    )
    init_noise: float = _setting(
        0.0,
        "Share of noise (drawn from the style, label by label) blended into an --init content "
        "or image start, 0-1.",
        min=0, max=1,
    )
    optimizer: str = _setting(
        "lbfgs", "lbfgs (few evaluations, the default) or adam (steadier on long runs).", choices=OPTIMIZERS,
    )
    learning_rate: float = _setting(
        0.0, "Step size; 0 = 1.0 for lbfgs, 0.02 for adam (pixels are 0-1).",
        # Pixels span 0-1: a step of 100 already throws every pixel against the clamp.
        finite=True, min=0, max=100,
        problem="--learning-rate must be between 0 and 100 (0 = the optimiser's default)",
    )
    style_blend: tuple[float, ...] = _setting(
        (),
        "Weights of several --style images, e.g. 0.7,0.3 (default: equal). Patch banks are "
        "pooled in these shares, Gram targets blended.",
        min=0, max=MAX_WEIGHT,
        problem=f"--style-blend weights must be between 0 and {MAX_WEIGHT:g}, and one must be above 0",
    )
    style_scale: float = _setting(
        1.0,
        "Resize the style image(s) by this factor before extracting features: larger strokes "
        "above 1, finer below.",
        # 100x makes a 500 px style 50000 px, past any memory; far beyond, sizes overflow floats.
        finite=True, above=0, max=100, problem="--style-scale and --style-scales must be above 0 and at most 100",
    )
    style_rotations: tuple[float, ...] = _setting(
        (),
        "Also put copies of the style rotated by these angles (degrees, e.g. -15,15,90) in the "
        "patch bank, so strokes and outlines can turn.",
        min=-360, max=360,
    )
    style_scales: tuple[float, ...] = _setting(
        (),
        "Also put copies of the style resized by these factors (e.g. 0.8,1.25) in the patch bank.",
        above=0, max=100, problem="--style-scale and --style-scales must be above 0 and at most 100",
    )
    colors: str = _setting(
        "none",
        "none (as painted), original (keep the content's colours: only luminance is transferred) "
        "or match (match the painting's colour statistics to the style's, label by label).",
        choices=COLORS,
    )
    seed: int = _setting(0, "Random seed; the same seed gives the same painting.", min=0, max=MAX_SEED)
    model: str = _setting(
        "auto", "Network weights: auto (VGG19 if available, else VGG16), vgg19 or vgg16. In doodle paint, a "
        "trained model NAME.doodle (from doodle train) paints in one forward pass instead.",
        choices=MODELS, problem="--model must be auto, vgg19 or vgg16",
    )
    pooling: str = _setting(
        "avg", "Pooling inside VGG: avg or max.", choices=POOLINGS, problem="--pooling must be avg or max",
    )
    matcher: str = _setting(
        "auto",
        "Patch search: exact (float32), bf16 (bfloat16 scores, best candidates re-checked in "
        "float32), faiss (PCA-reduced faiss index, candidates re-checked; for very large style "
        "banks), patchmatch (propagation search: each search improves the last one's matches, or "
        "the coarser phase's, from neighbours and random tries) or auto (patchmatch when painting; "
        "for training, bf16 where bfloat16 is native: CUDA, CPUs with AVX-512 BF16 or AMX, else exact).",
        choices=MATCHERS,
    )
    search: str = _setting(
        "label",
        "With maps and --semantic-weight >= 1: label searches each patch only among style "
        "patches of its own label (the same matches inside labels, about 2.5x faster); all "
        "searches every style patch (always the case when --semantic-weight is below 1).",
        choices=SEARCHES,
    )
    rematch_every: int = _setting(
        0,
        "Search for matches at every N-th evaluation and reuse them in between (1 = every "
        "evaluation; 0 = auto: 2 with patchmatch, whose searches are cheap, 4 with the others).",
        min=0,
    )
    precision: str = _setting(
        "auto",
        "Network arithmetic: fp32, bf16 (bfloat16 autocast) or auto (bf16 where bfloat16 "
        "is native: CUDA, CPUs with AVX-512 BF16 or AMX; else fp32).",
        choices=PRECISIONS,
    )
    tolerance: float = _setting(
        0.01,
        "End a phase early once the loss fell by less than this fraction over the last "
        f"{CONVERGENCE_WINDOW} evaluations (0 = always run all --iterations).",
        min=0, below=1,
    )
    # A chunk above 1 TiB fits no machine; a bank split in more than 65536 chunks is searched row by
    # row, thousands of times slower, for nothing.
    memory_budget_mb: int = _setting(
        512, "Memory for one chunk of the patch-matching score matrix, in MiB.", min=16, max=2**20,
    )
    slices: int = _setting(
        0, "Split the style patches into this many chunks (0 = automatic from the budget).", min=0, max=2**16,
    )
    device: str = _setting(
        "auto", "auto, cpu or cuda.", choices=DEVICES, problem="--device must be auto, cpu or cuda",
    )

    def with_overrides(self, **changes: Any) -> "PaintConfig":
        """A copy with the given fields changed; `None` values keep the default."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def __post_init__(self) -> None:
        problems = []
        for spec in fields(self):
            value = getattr(self, spec.name)
            item_type = LIST_ITEM_TYPES.get(spec.name)
            if item_type is not None:
                value, readable = _as_tuple(value, item_type)
                object.__setattr__(self, spec.name, value)  # () when unreadable, so later checks see numbers
                if not readable:
                    problems.append(f"{flag_of(spec.name)} must be numbers separated by commas")
                    continue
            problem = rule_problem(spec.name, value, spec.metadata)
            if problem:
                problems.append(problem)
        problems += self._clashes()
        if problems:
            # One message for all problems, each said once (--style-scale and --style-scales share one).
            raise ConfigError("; ".join(dict.fromkeys(problems)))

    def _clashes(self) -> list[str]:
        """Problems no single field's rules can see: weighted lists to parse, fields that clash."""
        problems = []
        try:
            losses = parse_weighted(self.style_loss, "--style-loss")
            if not losses or any(kind not in STYLE_LOSSES for kind, _ in losses):
                problems.append("--style-loss must be patch, gram, or both with weights (patch:1,gram:0.5)")
            elif not any(weight > 0 for _, weight in losses):
                problems.append("--style-loss needs a weight above 0")
        except ConfigError as error:
            problems.append(str(error))
        try:
            layers = parse_weighted(self.style_layers, "--style-layers")
            if layers and not any(weight > 0 for _, weight in layers):
                problems.append("--style-layers needs a layer with a weight above 0")
        except ConfigError as error:
            problems.append(str(error))
        if not self.style_layers:
            problems.append("--style-layers needs at least one layer")
        # Only an --init-noise in range can clash; one out of range was reported by its own rule.
        if 0 < self.init_noise <= 1 and self.init in NOISE_STARTS:
            problems.append("--init-noise blends noise into a starting image: use it with --init content or "
                            "--init PATH")
        if self.style_blend and not any(self.style_blend):
            problems.append("--style-blend weights must not be negative, and one must be above 0")
        return problems

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


# {field name: item type} of the list fields, read from the annotations (tuple[float, ...]) rather
# than listed by hand, so a new list field is converted and checked like the others. Instances are
# made only after this module has run, so __post_init__ always finds it.
LIST_ITEM_TYPES: dict[str, type] = {
    name: typing.get_args(hint)[0] for name, hint in typing.get_type_hints(PaintConfig).items()
    if typing.get_origin(hint) is tuple
}


def _field(name: str) -> Field:
    for spec in fields(PaintConfig):
        if spec.name == name:
            return spec
    raise KeyError(f"PaintConfig has no setting {name!r}")


def default_of(name: str) -> Any:
    """The default value of one PaintConfig field."""
    return _field(name).default


def help_of(name: str) -> str:
    """The help text of one PaintConfig field."""
    return _field(name).metadata.get("help", "")


def choices_of(name: str) -> tuple[str, ...] | None:
    """The values one PaintConfig field allows (`matcher` -> ('auto', 'exact', ...)), or None when
    it takes any value within its bounds."""
    return _field(name).metadata.get("choices")


def limits_of(name: str) -> str | None:
    """The bounds of one PaintConfig field in words, as they read after its flag ('must be at least
    1'), or None when it has none. For a list field they bind every item."""
    return _limits_phrase(_field(name).metadata)


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
            raise ConfigError(f"preset {name}: unknown settings {sorted(unknown)}")
        found[name] = Preset(name, table.get("description", ""), settings)
    return found


def preset_config(name: str, **overrides: Any) -> PaintConfig:
    """The preset's settings over the defaults, then `overrides` (None keeps the preset's value)."""
    available = presets()
    if name not in available:
        raise ConfigError(f"--preset {name!r}: choose one of {', '.join(available)} (doodle presets lists them)")
    return PaintConfig(**available[name].settings).with_overrides(**overrides)
