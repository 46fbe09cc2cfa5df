"""The request layer for `doodle video`: a clip, a way to paint each frame, and where it all goes.

A clip is painted by a trained model (one pass a frame) or by optimisation (every `doodle paint`
setting, each frame warm-started from the previous painted frame warped by optical flow, and held
there by a temporal loss). The rules for styles, maps and presets are `doodle.request`'s, used as
they are; this module adds only what a clip needs: which side the clip is (photos or doodles), a
clip of maps to go with it, the work folder that keeps painted frames for --resume, and the
output's kind. Nothing here imports torch or av.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from .config import PaintConfig
from .errors import DoodleError
from .images import check_output_folder, path_exists, require_file, sidecar_map_path
from .request import (
    PathLike,
    _model_file,
    as_path,
    config_for,
    model_config,
    model_ignores,
    output_size,
    refuse_styles_with_model,
    resolve_map_paths,
)
from .video.clips import frame_rate, output_kind

# How strongly a frame holds the previous painting where the flow carries it. The style terms total
# about 0.4; at 10 the warping error of a small test clip fell 4x, at 50-100 12-15x, and on the
# benchmark's pan 30 gives a fifth of painting each frame alone (benchmarks/README.md, Video).
DEFAULT_TEMPORAL_WEIGHT = 30.0
MAX_TEMPORAL_WEIGHT = 1e6
MAX_FPS = 1000  # frames a second: more than any camera films, far less than a timestamp counts


@dataclass(frozen=True)
class VideoRequest:
    """A resolved clip-painting job."""

    clip: Path  # a video file or a folder of numbered frames
    output: Path  # a video file (.mp4, .webm, .mov, .mkv, .gif) or a folder of frames
    kind: str  # what the output is: video, gif or frames
    doodles: bool  # the clip is of doodles (maps in the style map's colours), not of photos
    model: Path | None = None  # paint each frame with this trained model
    styles: tuple[Path, ...] = ()
    style_maps: tuple[Path | None, ...] = ()
    map_clip: Path | None = None  # a clip of the photo clip's maps, frame by frame
    make_maps: bool = False  # --auto-maps: maps made for every frame, with the same labels throughout
    config: PaintConfig = PaintConfig()  # the first frame's settings
    frame_iterations: int = 0  # evaluations of each later frame (warm-started)
    temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT
    size: tuple[int, int] | None = None  # (width, height) of the painted frames; default the clip's
    resume: bool = False
    force: bool = False
    notes: tuple[str, ...] = ()
    fps: Fraction | None = None  # the rate of a folder of frames (default 24); a video has its own

    @property
    def work_dir(self) -> Path:
        """Where the painted frames are kept while the clip is painted (what --resume continues):
        the output folder itself for a frames output, else OUT_frames/ beside the video."""
        return self.output if self.kind == "frames" else self.output.with_name(self.output.stem + "_frames")

    def frame_config(self, index: int) -> PaintConfig:
        """The first frame is painted as `doodle paint` would; later frames start from the previous
        painting, warped, so one phase at full size with `frame_iterations` evaluations does."""
        if index == 0:
            return self.config
        return self.config.with_overrides(phases=1, iterations=self.frame_iterations, final_iterations=0)


def _require_clip(path: Path, what: str = "clip") -> Path:
    """A clip is a video file or a folder of frames; what is inside is checked when it is opened."""
    if path_exists(path) and Path(path).is_dir():
        return path
    return require_file(path, what)


def video_request(clip: PathLike, output: PathLike, *, styles: Sequence[PathLike] = (), doodles: bool = False,
                  style_maps: Sequence[PathLike] | None = None, map_clip: PathLike | None = None,
                  no_maps: bool = False, auto_maps: bool = False, size: str | None = None,
                  frame_iterations: int | None = None, temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT,
                  resume: bool = False, force: bool = False, preset: str | None = None,
                  settings: Mapping[str, Any] | None = None, fps: float | None = None) -> VideoRequest:
    """Check and resolve a clip-painting job (the options of `doodle video`); raises DoodleError."""
    clip, output, map_clip = Path(clip), Path(output), as_path(map_clip)
    _require_clip(clip)
    if fps is not None:
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (0 < fps <= MAX_FPS):
            raise DoodleError(f"--fps {fps!r}: give the frames per second of the folder's frames, above 0 and at "
                              f"most {MAX_FPS}, e.g. 24")
        if not clip.is_dir():
            raise DoodleError(f"--fps {fps:g}: {clip} is a video, which plays at its own rate; --fps is the rate of a "
                              "folder of frames")
        fps = frame_rate(fps)
    kind = output_kind(output)
    if resume and force:
        raise DoodleError("--resume continues the frames already painted and --force starts over; choose one")
    if path_exists(output) and kind != "frames" and not force:
        raise DoodleError(f"{output}: already exists; pass --force to overwrite it or choose another --output")
    if clip.resolve() == output.resolve():
        raise DoodleError(f"{output}: the output would overwrite the clip; choose another --output")
    check_output_folder(output)
    work_dir = VideoRequest(clip, output, kind, doodles).work_dir
    for given, flag in ((clip, "the clip"), (map_clip, "--maps")):
        if given is not None and path_exists(given) and given.resolve() == work_dir.resolve():
            raise DoodleError(f"{output}: its frames would be kept in {work_dir}, which is {flag}; choose another "
                              "--output")
    if not (0 <= temporal_weight <= MAX_TEMPORAL_WEIGHT):
        raise DoodleError(f"--temporal-weight {temporal_weight:g}: give a weight from 0 to {MAX_TEMPORAL_WEIGHT:g}")
    settings = dict(settings or {})
    model = _model_file(settings)
    base = VideoRequest(clip, output, kind, doodles, size=output_size(size), resume=resume, force=force,
                        temporal_weight=temporal_weight, fps=fps)
    if model is not None:
        refuse_styles_with_model(model, styles)
        if map_clip is not None or auto_maps:
            raise DoodleError(f"{model}: a model needs no maps of the clip; drop --maps and --auto-maps")
        return replace(base, model=model, config=model_config(settings),
                       notes=model_ignores(settings, preset))
    if not styles:
        raise DoodleError("give --style (the painting whose style to copy), or --model NAME.doodle")
    if doodles and (map_clip is not None or auto_maps):
        raise DoodleError("--doodles says the clip is its own map; --maps and --auto-maps are for clips of photos")
    if map_clip is not None:
        _require_clip(map_clip, "map clip")
    config = config_for(preset, settings)
    styles = tuple(Path(path) for path in styles)
    for path in [*styles, *(Path(given) for given in style_maps or [])]:
        require_file(path, "image")
    # A clip has no sidecar map: only the styles' (and, for a doodle clip, the clip itself) count.
    clip_sidecar = sidecar_map_path(clip)
    maps = resolve_map_paths(styles, output, content=None if doodles else clip, doodle=clip if doodles else None,
                             style_maps=[Path(given) for given in style_maps] if style_maps else None,
                             content_map=map_clip, no_maps=no_maps, size_given=True, target_maps_made=auto_maps,
                             exists=lambda path: path != clip_sidecar and path_exists(path))
    if doodles and maps.style is None:
        raise DoodleError(f"{styles[0]}: has no map, so a clip of doodles cannot say where its regions go; give "
                          "--style-map (see doodle segment)")
    first = config.iterations
    later = frame_iterations if frame_iterations is not None else max(1, first // 2)
    if later < 1:
        raise DoodleError(f"--frame-iterations {later}: give at least 1")
    if config.init == "content" and doodles:
        config = config.with_overrides(init="noise", init_noise=0.0)
    return replace(base, styles=styles, style_maps=maps.styles, map_clip=map_clip, make_maps=auto_maps,
                   config=config, frame_iterations=later, notes=maps.notes)
