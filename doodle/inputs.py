"""The first stage of a run: load and check what `paint` was given, and decide the mode and sizes.

Everything here is arrays and numbers (no network, no device): the images and maps are read, the
maps are labelled together, and every inconsistency is refused with a one-line `DoodleError`
before any heavy work starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .config import INIT_KINDS, PaintConfig
from .errors import DoodleError
from .feedforward import MODEL_SUFFIX
from .images import ImageLike, check_map_matches, declared_size, load_image, load_map, name_of, read_image
from .semantic import Labelling, label_maps

ImagesLike = ImageLike | Sequence[ImageLike]
Notes = Callable[[list[str]], None]


@dataclass(frozen=True)
class PaintInputs:
    """The checked inputs of one run; styles with blend weight 0 are already left out."""

    mode: str  # doodle, semantic, style or texture
    styles: list[np.ndarray]  # float32 HxWx3 in [0, 1]
    style_names: list[str]
    weights: list[float]  # blend weights of the styles, summing to 1
    content: np.ndarray | None
    init_image: np.ndarray | None  # --init PATH
    labelling: Labelling | None  # the style maps then the target-side map, in one palette
    sizes: WorkingSizes  # of the painting and of each style

    @property
    def with_maps(self) -> bool:
        return self.labelling is not None

    @property
    def out_hw(self) -> tuple[int, int]:
        """(height, width) of the painting."""
        return self.sizes.out_hw

    @property
    def style_hws(self) -> list[tuple[int, int]]:
        """Working size of each style: scaled with the painting and --style-scale."""
        return self.sizes.style_hws

    @property
    def sides(self) -> list[tuple[str, int]]:
        return self.sizes.sides


def as_list(value: ImagesLike | None) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def mode_of(content: object | None, target_map: object | None) -> str:
    """doodle (map only), semantic (content and map), style (content only) or texture (neither)."""
    if content is not None:
        return "semantic" if target_map is not None else "style"
    return "doodle" if target_map is not None else "texture"


def blend_weights(count: int, config: PaintConfig) -> list[float]:
    blend = config.style_blend or (1.0,) * count
    if len(blend) != count:
        raise DoodleError(f"--style-blend has {len(blend)} weight(s) for {count} style image(s); "
                          "give one weight per --style")
    return list(blend)


def model_start(path: str, content: np.ndarray | None, target_map: np.ndarray | None, out_hw: tuple[int, int],
                seed: int, note: Notes) -> np.ndarray:
    """A trained model's painting of the content (content model) or the doodle (doodle model) at
    the painting's size: a start that already has the style, so optimisation needs far fewer steps."""
    from .feedforward.models import Stylizer
    from .feedforward.painting import model_painting

    model = Stylizer.load(path)
    source = content if model.info.kind == "content" else target_map
    if source is None:
        needs = "--content" if model.info.kind == "content" else "a doodle (--map)"
        raise DoodleError(f"--init {path}: a {model.info.kind} model paints from {needs}, which this run has not")
    return model_painting(model, source, out_hw, seed, lambda text: note([f"--init {path}: {text}"]))


Shape = tuple[int, int]  # (height, width)


@dataclass(frozen=True)
class WorkingSizes:
    """The sizes a run works at, decided from the inputs' shapes alone: no pixel is needed."""

    out_hw: Shape  # the painting
    style_hws: list[Shape]  # each style, scaled with the painting and --style-scale
    sides: list[tuple[str, int]]  # (name, short side) of every picture that sets how many phases fit
    names: list[str]  # what sets each size, as messages name it: the styles, then the painting
    growth: float = 1.0  # how much --size enlarges the doodle or photo (and so the styles)


def working_sizes(style_shapes: Sequence[Shape], style_names: Sequence[str], content_shape: Shape | None,
                  content_name: str, map_shape: Shape | None, map_name: str, size: tuple[int, int] | None,
                  config: PaintConfig) -> WorkingSizes:
    """The painting takes the size of the content, else of the doodle, else of the (first) style,
    unless `size` (width, height) says otherwise."""
    texture = content_shape is None and map_shape is None
    layout, layout_name = next((shape, name) for shape, name in ((content_shape, content_name),
                                                                 (map_shape, map_name),
                                                                 (style_shapes[0], style_names[0]))
                               if shape is not None)
    out_hw = tuple(int(side) for side in (layout if size is None else (size[1], size[0])))
    if size is not None and not texture:
        # A doodle or photo keeps its proportions; only a texture may take any shape.
        check_map_matches(out_hw, layout, f"--size {size[0]}x{size[1]}", layout_name)
    # The style's brush strokes keep their size relative to the picture: when --size shrinks or
    # grows the content or doodle, the style image is scaled by the same factor. A texture keeps
    # the style's own scale, whatever its size. --style-scale comes on top.
    style_factor = (1.0 if texture else out_hw[0] / layout[0]) * config.style_scale
    style_hws = [(max(1, round(shape[0] * style_factor)), max(1, round(shape[1] * style_factor)))
                 for shape in style_shapes]
    scaled = "" if config.style_scale == 1 else f" at --style-scale {config.style_scale:g}"
    styles_named = [name + scaled for name in style_names]
    painting_name = layout_name if size is None else f"--size {size[0]}x{size[1]}"
    sides = [(name, min(hw)) for name, hw in zip(styles_named, style_hws)] + [(painting_name, min(out_hw))]
    return WorkingSizes(out_hw, style_hws, sides, styles_named + [painting_name], 1.0 if texture else out_hw[0] / layout[0])


def declared_shape(value: ImageLike, what: str) -> Shape:
    """(height, width) of an array, or of an image file as its header declares it (nothing decoded)."""
    if isinstance(value, np.ndarray):
        return value.shape[0], value.shape[1]
    width, height = declared_size(value, what)
    return height, width


def planned_sizes(style: ImagesLike, content: ImageLike | None, content_map: ImageLike | None,
                  target_map: ImageLike | None, size: tuple[int, int] | None, config: PaintConfig) -> WorkingSizes:
    """`working_sizes` from the files' declared sizes, before anything is decoded, so that the memory a
    run needs can be refused before a huge picture is read, resized or labelled. (Orientation tags
    are ignored here: the estimate depends on areas, which turning does not change.)"""
    styles = as_list(style)
    kept = [(given, name_of(given, f"style {i + 1}"))
            for i, (given, weight) in enumerate(zip(styles, blend_weights(len(styles), config))) if weight > 0]
    side_map = content_map if content is not None else target_map
    return working_sizes([declared_shape(given, "image") for given, _ in kept], [name for _, name in kept],
                         None if content is None else declared_shape(content, "image"), name_of(content, "content"),
                         None if side_map is None else declared_shape(side_map, "map"), name_of(side_map, "map"),
                         size, config)


def prepare_inputs(style: ImagesLike, style_map: ImagesLike | None, content: ImageLike | None,
                   content_map: ImageLike | None, target_map: ImageLike | None, size: tuple[int, int] | None,
                   config: PaintConfig, note: Notes) -> PaintInputs:
    """Read and check the inputs of `doodle.paint` (see there for what each is)."""
    styles_given, maps_given = as_list(style), as_list(style_map)
    if not styles_given:
        raise DoodleError("give at least one style image")
    if maps_given and len(maps_given) != len(styles_given):
        raise DoodleError(f"{len(maps_given)} style map(s) for {len(styles_given)} style image(s); give one map per "
                          "style, or none")
    maps_given = maps_given or [None] * len(styles_given)
    if any(m is None for m in maps_given) and any(m is not None for m in maps_given):
        raise DoodleError("some style images have maps and some not; give every style a map, or use no maps")
    blend = blend_weights(len(styles_given), config)
    style_names = [name_of(given, f"style {i + 1}") for i, given in enumerate(styles_given)]
    dropped = [name for name, weight in zip(style_names, blend) if weight == 0]
    if dropped:
        note([f"{', '.join(dropped)}: blend weight 0, left out"])
    kept = [i for i, weight in enumerate(blend) if weight > 0]
    style_names = [style_names[i] for i in kept]
    total_weight = sum(blend[i] for i in kept)
    weights = [blend[i] / total_weight for i in kept]
    style_images = [load_image(styles_given[i], style_names[k]) for k, i in enumerate(kept)]
    style_label_images = [None if maps_given[i] is None else load_map(maps_given[i], f"map of {style_names[k]}")
                          for k, i in enumerate(kept)]
    with_style_maps = style_label_images[0] is not None
    content_name = name_of(content, "content")
    content_image = None if content is None else load_image(content, "content")
    side_map = content_map if content is not None else target_map
    target_side_map = None if side_map is None else load_map(
        side_map, "content_map" if content is not None else "target_map")
    target_map_name = name_of(side_map, "map")
    if config.init == "content" and content is None:
        raise DoodleError("--init content needs a --content image; use --init noise or a path")
    if config.colors == "original" and content is None:
        raise DoodleError("--colors original keeps the content's colours and needs --content; use --colors match")
    if content is not None and target_map is not None:
        raise DoodleError("give the content's map as content_map (--content-map), not as target_map (--map)")
    if with_style_maps != (target_side_map is not None):
        missing = "the style" if not with_style_maps else ("the content" if content is not None else "the target")
        raise DoodleError(f"a semantic map was given for one side only; give {missing} a map too, or use no maps")
    for image, labels, name, given in zip(style_images, style_label_images, style_names, [maps_given[i] for i in kept]):
        if labels is not None:
            check_map_matches(image.shape, labels.shape, name, name_of(given, "style map"))
    if content_image is not None and target_side_map is not None:
        check_map_matches(content_image.shape, target_side_map.shape, content_name, target_map_name)

    mode = mode_of(content_image, target_side_map)
    sizes = working_sizes([image.shape[:2] for image in style_images], style_names,
                          None if content_image is None else content_image.shape[:2], content_name,
                          None if target_side_map is None else target_side_map.shape[:2], target_map_name, size, config)
    init_image = None
    if config.init not in INIT_KINDS:
        init_image = (model_start(config.init, content_image, target_side_map, sizes.out_hw, config.seed, note)
                      if config.init.endswith(MODEL_SUFFIX) else read_image(config.init))

    # The labelling's notes (borrowed labels) are the plan's to give, after the phases it fits.
    labelling = label_maps(style_label_images, target_side_map) if with_style_maps else None
    return PaintInputs(mode, style_images, style_names, weights, content_image, init_image, labelling, sizes)
