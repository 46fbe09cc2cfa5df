"""Every parameter of a painting run, with its one default, in one place.

The CLI reads its defaults and help texts from here, so the engine's signature is the documentation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

# Layer names follow the VGG papers: conv{block}_{k} and relu{block}_{k}.
DEFAULT_STYLE_LAYERS = ("relu3_1", "relu4_1")
DEFAULT_CONTENT_LAYERS = ("relu4_2",)
MATCHERS = ("auto", "exact", "bf16", "faiss")
SEARCHES = ("label", "all")
PRECISIONS = ("auto", "fp32", "bf16")
# --init values that are not a path to an image.
INIT_KINDS = ("noise", "uniform", "content")
# --tolerance compares the loss now with the loss this many evaluations ago.
CONVERGENCE_WINDOW = 10


def _help(text: str) -> dict[str, Any]:
    return {"help": text}


@dataclass(frozen=True)
class PaintConfig:
    """Settings of one painting run. Images and maps are passed separately to `doodle.paint`."""

    style_layers: tuple[str, ...] = field(
        default=DEFAULT_STYLE_LAYERS,
        metadata=_help("VGG layers whose 3x3 patches are matched to the style (comma-separated)."),
    )
    content_layers: tuple[str, ...] = field(
        default=DEFAULT_CONTENT_LAYERS,
        metadata=_help("VGG layers compared with the content image (comma-separated)."),
    )
    style_weight: float = field(
        default=1.0, metadata=_help("Weight of the semantic patch style loss.")
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
        default=40, metadata=_help("L-BFGS iterations (loss evaluations) per phase, at most.")
    )
    init: str = field(
        default="noise",
        metadata=_help("Starting image: noise (pixels drawn at random from the style, label by label), "
                       "uniform (uniform grey noise, as the original tool), content, or the path of an image."),
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
        for name in ("style_weight", "content_weight", "smoothness", "semantic_weight", "variety"):
            if getattr(self, name) < 0:
                problems.append(f"--{name.replace('_', '-')} must not be negative")
        if not self.style_layers:
            problems.append("--style-layers needs at least one layer")
        if self.memory_budget_mb < 16:
            problems.append("--memory-budget-mb must be at least 16")
        if self.slices < 0:
            problems.append("--slices must not be negative")
        if problems:
            raise ValueError("; ".join(problems))


def default_of(name: str) -> Any:
    """The default value of one PaintConfig field."""
    return {f.name: f.default for f in fields(PaintConfig)}[name]


def help_of(name: str) -> str:
    """The help text of one PaintConfig field."""
    return {f.name: f.metadata.get("help", "") for f in fields(PaintConfig)}[name]
