"""One request layer for every front door: paths and options in, a checked, resolved request out.

A door (the `doodle` command today; training, video, a studio and batch jobs next) only translates
its input into a call here and displays what comes back. The rules live here, once: which map
belongs to which picture (sidecar maps `X_sem.png`), one map per style, maps on both sides or none,
which settings a preset gives, and the output checks (results are written by `doodle/results.py`,
never half a file). Nothing here imports torch; the engine is imported when a request runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .config import INIT_KINDS, PaintConfig, preset_config
from .decoding import limit_hint, megapixels, pixel_limit
from .errors import DoodleError
from .feedforward import MODEL_SUFFIX
from .images import (
    check_writable,
    parse_size,
    path_exists,
    read_map,
    require_file,
    resize_map,
    sidecar_map_path,
)
from .inputs import mode_of

Exists = Callable[[Path], bool]
PathLike = str | Path
TEXTURE_PRESET = "painterly"


def as_path(value: PathLike | None) -> Path | None:
    """Doors pass strings (a job line, a web form) or Paths (the CLI); the rules work on Paths."""
    return None if value is None else Path(value)


def config_for(preset: str | None, settings: Mapping[str, Any]) -> PaintConfig:
    """The preset's settings (or the defaults), then `settings` over them.

    `settings` holds only what the user gave (flags typed, keys of a job), so that a preset's values
    apply wherever the user said nothing. --iterations given alone counts for every phase: the
    finest phase's own limit (--final-iterations) is then lifted."""
    if "iterations" in settings and "final_iterations" not in settings:
        settings = {**settings, "final_iterations": 0}
    try:
        return preset_config(preset, **settings) if preset is not None else PaintConfig(**settings)
    except ValueError as error:
        # A preset's value may be what clashes with a setting the user gave: say where it came from.
        raise DoodleError(str(error) + (f" (values from --preset {preset} apply unless you type the flag)"
                                        if preset is not None and "--preset" not in str(error) else "")) from None


def output_size(text: str | None) -> tuple[int, int] | None:
    """--size WIDTHxHEIGHT, refused when the painting would have more pixels than doodle reads (so
    that no door resizes a map, or paints, past what the machine holds before memory is checked)."""
    if text is None:
        return None
    width, height = parse_size(text)
    limit = pixel_limit()
    if width * height > limit:
        raise DoodleError(f"--size {text}: {megapixels(width * height)} megapixels is more than doodle paints here; "
                          f"{limit_hint(limit)}")
    return width, height


@dataclass(frozen=True)
class MapPaths:
    """The maps a paint request uses: one per style (all None without maps) and the target side's."""

    styles: tuple[Path | None, ...]
    target: Path | None  # the doodle, or the content's map
    notes: tuple[str, ...] = ()

    @property
    def style(self) -> Path | None:
        """The first style's map, which stands for all (every style has one, or none has)."""
        return self.styles[0] if self.styles else None


def present_sidecar(image: Path, exists: Exists = path_exists) -> Path | None:
    """The sidecar map `X_sem.png` of `image` if it exists, else None (also when its name cannot
    exist, e.g. is too long: the output's own checks then say so)."""
    path = sidecar_map_path(image)
    return path if exists(path) else None


def resolve_map_paths(styles: Sequence[Path], output: Path, *, content: Path | None = None,
                      doodle: Path | None = None, style_maps: Sequence[Path] | None = None,
                      content_map: Path | None = None, no_maps: bool = False, auto_maps: bool = False,
                      size_given: bool = False, target_maps_made: bool = False,
                      exists: Exists = path_exists) -> MapPaths:
    """Which map goes with which picture: given maps first, else the sidecar `X_sem.png` beside each
    picture (for a doodle, beside the output). `exists` is asked about sidecars only, so this is
    pure given a stand-in. `target_maps_made`: the content's maps will be made to fit the styles'
    (a clip's frames, labelled like the style map, or co-segmented with the style when it has none).
    Raises DoodleError for every combination that cannot be painted."""
    if no_maps and auto_maps:
        raise DoodleError("--no-maps and --auto-maps contradict each other; choose one")
    if style_maps and len(style_maps) != len(styles):
        raise DoodleError(f"{len(style_maps)} --style-map for {len(styles)} --style; give one map per style, in the "
                          "same order")
    if no_maps:
        return MapPaths((None,) * len(styles), None)
    style_paths = tuple(given or present_sidecar(path, exists)
                        for path, given in zip(styles, style_maps or [None] * len(styles)))
    if content is not None:
        if doodle is not None:
            raise DoodleError("--map is the doodle to paint; with --content give its map as --content-map")
        target = content_map or present_sidecar(content, exists)
    else:
        target = doodle or present_sidecar(output, exists)
    mapped = [path for path in style_paths if path is not None]
    if mapped and len(mapped) < len(styles):
        bare = next(path for path, found in zip(styles, style_paths) if found is None)
        raise DoodleError(f"{bare}: has no map but {mapped[0]} does; give every --style a map (--style-map), or "
                          "--no-maps")
    style_path = mapped[0] if mapped else None
    notes: tuple[str, ...] = ()
    if auto_maps:
        notes = _check_auto_maps(styles, content, style_path, target)
    if style_path is not None and target is None and content is None and not size_given:
        raise DoodleError(f"{style_path}: the style has a map but there is no doodle to paint; give --map, or "
                          "--no-maps --size WxH for a texture")
    if (style_path is None) != (target is None) and not (auto_maps or target_maps_made):
        side = "--style-map" if style_path is None else ("--content-map" if content is not None else "--map")
        have = target if style_path is None else style_path
        raise DoodleError(f"{have}: a map was found for one side only; give {side} too, or --no-maps to ignore maps")
    return MapPaths(style_paths, target, notes)


def _check_auto_maps(styles: Sequence[Path], content: Path | None, style_map: Path | None,
                     target_map: Path | None) -> tuple[str, ...]:
    """--auto-maps makes all maps together or none: maps made apart would not share colours."""
    if content is None:
        raise DoodleError("--auto-maps needs --content: a doodle's colours cannot be matched automatically; run "
                          f"'doodle segment {' '.join(map(str, styles))}' and draw the doodle in the colours of the "
                          "map it makes")
    if (style_map is None) != (target_map is None):
        have, lacking = (target_map, styles[0]) if style_map is None else (style_map, content)
        raise DoodleError(f"--auto-maps: {have} is a map but {lacking} has none, and maps made apart would not share "
                          "colours; give both maps, or move this one away to have both made")
    if style_map is not None:
        return (f"{style_map} and {target_map} are used as they are; --auto-maps makes maps only when there are "
                "none",)
    return ()


@dataclass(frozen=True)
class Companion:
    """A file written together with the painting, all or nothing (a texture's map)."""

    path: Path
    image: np.ndarray


@dataclass(frozen=True)
class PaintRequest:
    """A resolved painting job: what the engine is given, and where the result goes."""

    styles: tuple[Path, ...]
    style_maps: tuple[Path | None, ...]  # one per style, all None without maps
    content: Path | None
    target_map: Path | np.ndarray | None  # the doodle or the content's map (a texture's layout as an array)
    output: Path
    size: tuple[int, int] | None  # (width, height)
    config: PaintConfig
    make_maps: bool = False  # --auto-maps with no maps on either side: segmentation makes both
    save_every: int = 0
    notes: tuple[str, ...] = ()
    companions: tuple[Companion, ...] = ()
    what: str = "painting"  # how messages name the result
    model: Path | None = None  # a trained model file: paint in one pass instead of optimising
    force: bool = False  # replace OUTPUT (and companions) if there; without it, no file is ever replaced

    @property
    def mode(self) -> str:
        if self.model is not None:  # a doodle model paints maps; a content model, photos
            return "doodle" if self.content is None else "style"
        return mode_of(self.content, True if self.make_maps else self.target_map)

    @property
    def frames_dir(self) -> Path:
        return self.output.with_name(self.output.stem + "_frames")

    def engine_arguments(self, made_maps: Sequence[np.ndarray] | None = None) -> dict[str, Any]:
        """Keyword arguments for `doodle.paint`; `made_maps` are the style maps then the content's,
        when `make_maps` asked for them."""
        style_maps: Sequence[Any] = self.style_maps
        target = self.target_map
        if made_maps is not None:
            *style_maps, target = made_maps
        return dict(style=list(self.styles),
                    style_map=list(style_maps) if any(m is not None for m in style_maps) else None,
                    content=self.content,
                    content_map=target if self.content is not None else None,
                    target_map=target if self.content is None else None,
                    size=self.size, config=self.config)


def paint_request(styles: Sequence[PathLike], output: PathLike, *, content: PathLike | None = None,
                  doodle: PathLike | None = None, style_maps: Sequence[PathLike] | None = None,
                  content_map: PathLike | None = None, no_maps: bool = False, auto_maps: bool = False,
                  size: str | None = None, force: bool = False, save_every: int = 0, preset: str | None = None,
                  settings: Mapping[str, Any] | None = None) -> PaintRequest:
    """Check and resolve a painting job (the options of `doodle paint`); raises DoodleError.

    `settings` holds the PaintConfig fields the user gave; the preset (or the defaults) fills the rest."""
    output, content, doodle, content_map = as_path(output), as_path(content), as_path(doodle), as_path(content_map)
    style_maps = [Path(path) for path in style_maps] if style_maps else None
    settings = dict(settings or {})
    model = _model_file(settings)
    if model is not None:
        request = model_paint_request(model, styles, output, content=content, doodle=doodle, size=size, force=force,
                                      config=model_config(settings))
        return replace(request, notes=model_ignores(settings, preset))
    if not styles:
        raise DoodleError("give --style (the painting whose style to copy), or --model NAME.doodle")
    config = config_for(preset, settings)
    notes: list[str] = []
    if content is None and config.init == "content" and "init" not in settings:
        # The preset repaints photos from themselves; with no photo, start as a doodle does.
        config = config.with_overrides(init="noise", init_noise=0.0)
        notes.append(f"--preset {preset} starts from the content image; with no --content it starts from noise")
    if save_every < 0:
        raise DoodleError("--save-every must not be negative")
    styles = tuple(Path(path) for path in styles)
    for given, what in ([(path, "image") for path in styles] + [(content, "image"), (doodle, "map")]
                        + [(path, "map") for path in style_maps or []] + [(content_map, "map")]):
        if given is not None:
            require_file(given, what)
    maps = resolve_map_paths(styles, output, content=content, doodle=doodle, style_maps=style_maps,
                             content_map=content_map, no_maps=no_maps, auto_maps=auto_maps,
                             size_given=size is not None)
    inputs = [path for path in (*styles, content, *maps.styles, maps.target) if path is not None]
    if config.init not in INIT_KINDS:
        inputs.append(Path(config.init))
    output = check_writable(output, inputs, force)
    size_wh = output_size(size)
    request = PaintRequest(styles, maps.styles, content, maps.target, output, size_wh, config,
                           make_maps=auto_maps and maps.style is None, save_every=save_every,
                           notes=tuple(notes) + maps.notes, force=force)
    if save_every and path_exists(request.frames_dir) and not request.frames_dir.is_dir():
        raise DoodleError(f"{request.frames_dir}: is a file, so frames cannot go there; move it or drop --save-every")
    return request


MODEL_SETTINGS = ("seed", "precision")  # the settings a trained model's painting follows


def model_config(settings: Mapping[str, Any]) -> PaintConfig:
    """The settings of a painting by a trained model: its seed and precision, checked as any config."""
    return PaintConfig(**{name: settings[name] for name in MODEL_SETTINGS if name in settings})


def model_ignores(settings: Mapping[str, Any], preset: str | None) -> tuple[str, ...]:
    """The note for settings given with a trained model, which paints with what it learnt (the seed
    still picks its noise, --precision its arithmetic)."""
    ignored = sorted(name for name in settings if name not in MODEL_SETTINGS)
    if not ignored and preset is None:
        return ()
    flags = ", ".join(["--preset"] * (preset is not None) + ["--" + name.replace("_", "-") for name in ignored])
    return (f"{flags}: for optimisation; a model paints with what it learnt",)


def refuse_styles_with_model(model: Path, styles: Sequence[PathLike]) -> None:
    if styles:
        raise DoodleError(f"{model}: a model paints in the style it learnt; drop --style, or drop --model to "
                          "paint by optimisation")


def _model_file(settings: dict[str, Any]) -> Path | None:
    """--model takes VGG weights (auto, vgg19, vgg16) or a trained model file: take the file out."""
    value = settings.get("model")
    if isinstance(value, (str, Path)) and str(value).endswith(MODEL_SUFFIX):
        settings.pop("model")
        return require_file(value, "model")
    return None


def model_paint_request(model: Path, styles: Sequence[Path], output: Path, *, content: Path | None = None,
                        doodle: Path | None = None, size: str | None = None, force: bool = False,
                        config: PaintConfig = PaintConfig()) -> PaintRequest:
    """Check a painting by a trained model: a doodle model paints `doodle` (default: the output's
    sidecar map), a content model repaints `content`."""
    refuse_styles_with_model(model, styles)
    if content is not None:
        require_file(content, "image")
        target = None
    else:
        target = doodle or present_sidecar(output)
        if target is None:
            raise DoodleError(f"{model}: give the doodle to paint as --map (or --content PHOTO for a content model)")
        require_file(target, "map")
    output = check_writable(output, [path for path in (model, content, target) if path is not None], force)
    return PaintRequest((), (), content, target, output, output_size(size),
                        config, model=model, force=force)


def texture_request(references: Sequence[PathLike], output: PathLike, *, weights: str | None = None,
                    size: str | None = None, layout: PathLike | None = None, no_maps: bool = False,
                    force: bool = False, preset: str = TEXTURE_PRESET,
                    settings: Mapping[str, Any] | None = None) -> PaintRequest:
    """Check and resolve a style exemplar made from several references (the options of `doodle texture`).

    With maps (every reference has its sidecar), the exemplar follows `layout` (default: the first
    reference's map) and its map is written beside it, so it can be used as a style as it is."""
    config = config_for(preset, settings or {})
    # Textures grow from noise: the preset's start from a content image has no content here.
    try:
        config = config.with_overrides(init="noise", init_noise=0.0, colors="none", content_weight=0.0,
                                       style_blend=weights)
    except ValueError as error:
        raise DoodleError(str(error).replace("--style-blend weights", "--weights")
                          .replace("--style-blend", "--weights")) from None
    if config.style_blend and len(config.style_blend) != len(references):
        raise DoodleError(f"--weights has {len(config.style_blend)} weight(s) for {len(references)} reference(s); "
                          "give one each")
    references, output, layout = tuple(Path(path) for path in references), as_path(output), as_path(layout)
    for reference in references:
        require_file(reference, "image")
    if layout is not None:
        require_file(layout, "map")
    if no_maps and layout is not None:
        raise DoodleError("--map gives the exemplar's layout in map colours; it cannot go with --no-maps")
    maps = [] if no_maps else [present_sidecar(reference) for reference in references]
    notes = []
    if any(found is None for found in maps):
        bare = next(ref for ref, found in zip(references, maps) if found is None)
        if layout is not None:
            raise DoodleError(f"{bare}: has no map X_sem.png, so --map cannot be used; map it with doodle segment")
        if any(found is not None for found in maps):
            notes.append(f"{bare} has no map X_sem.png, so the references' maps are not used: one texture for the "
                         "whole exemplar")
        maps = []
    inputs = [*references, *maps, *([layout] if layout else [])]
    output = check_writable(output, inputs, force)
    companion_path = check_writable(sidecar_map_path(output), inputs, force) if maps else None
    size_wh = output_size(size)
    layout_map = None
    if maps:
        layout_map = read_map(layout or maps[0])
        if size_wh is not None:
            layout_map = resize_map(layout_map, size_wh)
        size_wh = None  # the layout sets the size now
    return PaintRequest(references, tuple(maps) or (None,) * len(references), None, layout_map, output, size_wh,
                        config, notes=tuple(notes), what="exemplar",
                        companions=(Companion(companion_path, layout_map),) if maps else (), force=force)


def make_maps(request: PaintRequest, on_note: Callable[[str], None]) -> tuple[list[np.ndarray], str]:
    """The maps of the styles and the content, labelled together by `segmentation`, and a note that
    says how they were made. (Imported here, not at the top: segmentation depends on doodle.)"""
    from segmentation import segment

    images = [*request.styles, request.content]
    made = segment(images, on_note=on_note)
    labels = ", ".join(made.names[label] for label in made.present)
    return made.maps, (f"made the maps automatically ({made.method} method: {labels}); "
                       f"'doodle segment {' '.join(map(str, images))}' saves them for editing")


def run(request: PaintRequest, *, made_maps: Sequence[np.ndarray] | None = None, callback=None,
        on_note: Callable[[str], None] | None = None, encoder=None, style_features=None):
    """Paint what `request` asks for: with a trained model in one pass, else with the optimisation
    engine (given a loaded `encoder` and shared `style_features`, as `doodle batch` does, when
    there are some). Returns the engine's PaintResult (a model's has no phases)."""
    if request.model is not None:
        from .feedforward.painting import paint_with_model

        return paint_with_model(request.model, request.target_map, request.content, request.size, request.config,
                                on_note)
    from . import synthesis  # looked up at call time: torch is imported only when a request runs

    return synthesis.paint(**request.engine_arguments(made_maps), callback=callback, on_note=on_note, encoder=encoder,
                           style_features=style_features)


@dataclass(frozen=True)
class SegmentRequest:
    """Maps to make for images labelled together, and where each map (and the preview) goes."""

    images: tuple[Path, ...]
    map_paths: tuple[Path, ...]
    preview_path: Path | None
    force: bool = False  # replace existing maps and preview; without it, no file is ever replaced

    @property
    def outputs(self) -> list[Path]:
        return list(self.map_paths) + ([self.preview_path] if self.preview_path is not None else [])


# File systems take names of up to 255 bytes (NAME_MAX); the preview is first written under a longer
# staging name beside it (see doodle.atomic), so its own name stays well below that.
PREVIEW_NAME_MAX_BYTES = 200
PREVIEW_SUFFIX = "_preview.png"


def preview_name(images: Sequence[Path]) -> str:
    """`a+b_preview.png` for a.jpg and b.jpg: the stems joined, shortened to 120 characters and then
    to what fits in PREVIEW_NAME_MAX_BYTES with the suffix, counted in the bytes the file system
    stores (non-ASCII letters take several)."""
    stems = "+".join(image.stem for image in images)[:120]
    budget = PREVIEW_NAME_MAX_BYTES - len(os.fsencode(PREVIEW_SUFFIX))
    while len(os.fsencode(stems)) > budget:
        stems = stems[:-1]
    return stems + PREVIEW_SUFFIX


def segment_request(images: Sequence[PathLike], methods: Sequence[str], *, method: str = "auto",
                    output_dir: PathLike | None = None, preview: bool = True, force: bool = False) -> SegmentRequest:
    """Check and resolve `doodle segment`: maps go beside each image (where `doodle paint` finds
    them) or into `output_dir`, and never over an existing file unless `force`."""
    images, output_dir = tuple(Path(image) for image in images), as_path(output_dir)
    for image in images:
        require_file(image, "image")
    if method not in methods:
        raise DoodleError(f"--method {method!r}: choose one of {', '.join(methods)}")
    if output_dir is not None and path_exists(output_dir) and not output_dir.is_dir():
        raise DoodleError(f"{output_dir}: is a file; give a folder as --output-dir")
    targets = [(output_dir / image.name if output_dir is not None else image) for image in images]
    map_paths = tuple(sidecar_map_path(target) for target in targets)
    preview_path = (output_dir or images[0].parent) / preview_name(images) if preview else None
    request = SegmentRequest(images, map_paths, preview_path, force)
    seen: set[Path] = set()
    for path in request.outputs:
        check_writable(path, list(images), force, flag="--output-dir")  # first: it refuses names too long, loops
        if path.resolve() in seen:
            raise DoodleError(f"{path}: two images would write the same map; give them different names")
        seen.add(path.resolve())
    return request


def style_map_for(style: PathLike, style_map: PathLike | None = None) -> Path:
    """The map of a style image: the one given, else its sidecar `X_sem.png`."""
    return as_path(style_map) or sidecar_map_path(style)
