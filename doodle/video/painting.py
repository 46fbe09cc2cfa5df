"""Painting a clip frame by frame, for `doodle video` (see doodle/video_request.py for the rules).

Each painted frame goes, in a writer thread while the next one is painted, into the output as it
comes (a video or GIF encoded on the fly, taking its name only when complete; or the output
folder's numbered PNGs) and, for a video or GIF, into the work folder as a resume point. A stop
(Ctrl-C, a signal, a crash) drops the half-encoded video but keeps every finished frame, and
`--resume` encodes the kept frames again before it paints on from the next one.

By optimisation, the first frame is painted as `doodle paint` paints a picture; every later frame
starts from the previous painting warped by the optical flow between the two input frames, and a
temporal loss holds it there wherever that flow can be trusted (Ruder, Dosovitskiy and Brox, 2016).
A model paints every frame in one pass, with the same noise for all of them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .. import atomic
from ..errors import DoodleError
from ..images import check_map_matches, declared_size, make_parent, read_image, to_uint8
from ..video_request import VideoRequest
from .clips import FRAME_NAME, Clip, ClipWriter, as_frame, frame_files, open_clip

Note = Callable[[str], None]
PENDING_WRITES = 2  # frames being written while the next is painted
# A video's resume points. JPEG at quality 95 writes a 512x384 frame in under 1 ms where even
# uncompressed PNG takes 8 (a model paints about 5 frames a second, so this is the budget), and its
# loss is below the video's own. A folder output's frames are the output: PNG, lossless.
RESUME_NAME = "frame_{:05d}.jpg"


@dataclass(frozen=True)
class FrameDone:
    """One frame painted: its number (from 1), of how many (None when the clip does not say)."""

    number: int
    total: int | None
    seconds: float
    evaluations: int = 0


@dataclass
class ClipRecord:
    painted: int = 0  # frames painted by this run
    resumed_from: int = 0  # frames already painted when it began
    seconds: float = 0.0
    written: Path | None = None  # the video (or folder) written, when the run finished
    interrupted: bool = False
    frame_seconds: list[float] = field(default_factory=list)


def write_resume_point(path: Path, frame: np.ndarray) -> None:
    """A painted frame into the work folder, atomically, as JPEG (see RESUME_NAME)."""
    picture = Image.fromarray(frame)
    make_parent(path)
    atomic.write_files([(path, lambda stream: picture.save(stream, format="JPEG", quality=95))], replace=True)


def kept_frame_name(request: VideoRequest) -> str:
    """How the frames kept for --resume are named: the output's own PNGs, or a video's resume points."""
    return FRAME_NAME if request.kind == "frames" else RESUME_NAME


def painted_frames(folder: Path, name: str = FRAME_NAME) -> list[Path]:
    """The frames a run left in `folder` (named like `name`, from 1) without a gap."""
    if not folder.is_dir():
        return []
    found = {path.name: path for path in frame_files(folder)}
    frames = []
    while name.format(len(frames) + 1) in found:
        frames.append(found[name.format(len(frames) + 1)])
    return frames


class FrameSink:
    """Where painted frames go: the output, and a video's resume points. Used from one thread at a
    time (the writer thread while painting); `abort` leaves the resume points and nothing else."""

    def __init__(self, request: VideoRequest, clip: Clip, kept: int, on_note: Note) -> None:
        """`kept`: frames an earlier run kept (a folder output's numbering goes on after them)."""
        self.request = request
        self.name = kept_frame_name(request)
        self.writer = ClipWriter(request.output, clip.rate, audio_from=clip, force=request.force,
                                 start=kept if request.kind == "frames" else 0, on_note=on_note)

    def encode_kept(self, frames: list[Path]) -> None:
        """A resumed video starts with the frames painted before the stop."""
        if self.request.kind != "frames":
            for path in frames:
                self.writer.write(to_uint8(read_image(path)))

    def keep(self, number: int, frame: np.ndarray) -> None:
        """Frame `number` (from 1), uint8: its resume point first, so a stop never loses an encoded frame."""
        if self.request.kind != "frames":
            write_resume_point(self.request.work_dir / self.name.format(number), frame)
        self.writer.write(frame)

    def close(self) -> Path:
        """The output complete and in place; a video's resume points go (only what this run named)."""
        written = self.writer.close() or self.request.output
        if self.request.kind != "frames":
            for path in painted_frames(self.request.work_dir, self.name):
                path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # not empty: something of the user's is in it
                self.request.work_dir.rmdir()
        return written


def at_size(frame: np.ndarray, out_hw: tuple[int, int], is_map: bool) -> np.ndarray:
    """A uint8 frame at (height, width): maps with nearest neighbours (no new colours), photos antialiased."""
    if frame.shape[:2] == tuple(out_hw):
        return frame
    method = Image.Resampling.NEAREST if is_map else Image.Resampling.LANCZOS
    return np.asarray(Image.fromarray(frame).resize((out_hw[1], out_hw[0]), method))


class ModelPainter:
    """Every frame in one forward pass of a trained model."""

    def __init__(self, request: VideoRequest, out_hw: tuple[int, int], on_note: Note) -> None:
        from ..feedforward.models import Stylizer

        self.model = Stylizer.load(request.model)
        kind = self.model.info.kind
        if request.doodles and kind != "doodle":
            raise DoodleError(f"{request.model}: a content model repaints photos; drop --doodles, or give a doodle "
                              "model for a clip of doodles")
        self.is_map = kind == "doodle"
        self.needs_previous = False  # each frame on its own: no flow, no warm start
        self.seed, self.precision = request.config.seed, request.config.precision
        self.out_hw, self.on_note = out_hw, on_note

    def paint(self, index: int, frame: np.ndarray, map_frame: np.ndarray | None, previous) -> tuple[np.ndarray, int]:
        from ..feedforward.painting import model_painting

        notes = self.on_note if index == 0 else None  # a borrowed label is said once, not every frame
        return model_painting(self.model, frame, self.out_hw, self.seed, notes, precision=self.precision,
                              as_uint8=True), 0


class OptimisationPainter:
    """Every frame by the optimisation engine, later frames warm-started and held by a temporal loss."""

    def __init__(self, request: VideoRequest, clip: Clip, out_hw: tuple[int, int], on_note: Note,
                 on_evaluation) -> None:
        from ..encoder import load_encoder
        from ..plan import pick_device

        self.request, self.on_note, self.on_evaluation = request, on_note, on_evaluation
        self.is_map = request.doodles
        self.needs_previous = True
        self.encoder = load_encoder(request.config.model, request.config.pooling, pick_device(request.config.device))
        self.style_maps: list | None = list(request.style_maps) if any(request.style_maps) else None
        self.labeller = None
        self.clip, self.out_hw = clip, out_hw
        self.style_features: dict = {}  # the style's features, encoded on the first frames and reused

    def make_labeller(self, first: np.ndarray) -> None:
        """--auto-maps: a labeller fitted once, then applied to every frame (the first included), so
        that a region keeps its colour: on the style's own map when it has one (frames take that
        map's colours), else on the style and the first frame segmented together. Frames are
        described relative to the first one (the anchor), so a change of light moves no border."""
        from segmentation import segment
        from segmentation.frames import fit_labeller

        from ..images import load_image, load_map

        styles = [load_image(path) for path in self.request.styles]
        first = first.astype(np.float32) / 255
        names = [str(path) for path in self.request.styles]
        if self.style_maps is not None:
            maps = [load_map(path) for path in self.style_maps]
            self.labeller = fit_labeller(styles, maps, encoder=self.encoder, anchor=first, names=names)
            return
        made = segment([*styles, first], method="cluster", names=[*names, "the first frame"], encoder=self.encoder)
        self.style_maps = made.maps[: len(styles)]
        self.labeller = fit_labeller([*styles, first], made, encoder=self.encoder, anchor=len(styles),
                                     names=[*names, "the first frame"])
        self.on_note(f"made the maps automatically (cluster method: {', '.join(made.names[k] for k in made.present)})"
                     "; every frame is labelled the same way")

    def paint(self, index: int, frame: np.ndarray, map_frame: np.ndarray | None, previous) -> tuple[np.ndarray, int]:
        from ..synthesis import paint
        from ..temporal import TemporalGuide
        from .flow import flow_and_mask, warp

        request = self.request
        if request.make_maps:
            if self.labeller is None:  # on the clip's first frame, also when a resumed run starts later
                self.make_labeller(next(self.clip.frames(0)))
            map_frame = self.labeller.label(frame)
        guide = None
        if previous is not None:
            previous_input, previous_painting = previous
            current = at_size(frame, self.out_hw, self.is_map)
            flow, mask = flow_and_mask(previous_input, current)
            guide = TemporalGuide(warp(previous_painting, flow), mask, request.temporal_weight)
        picture = frame.astype(np.float32) / 255
        result = paint(list(request.styles), style_map=self.style_maps,
                       content=None if self.is_map else picture,
                       content_map=map_frame if not self.is_map else None,
                       target_map=frame if self.is_map else None,
                       size=request.size, config=request.frame_config(index), callback=self.on_evaluation,
                       on_note=self.on_note if index == 0 else None, encoder=self.encoder, guide=guide,
                       style_features=self.style_features)
        if result.record.interrupted:  # half a frame is no frame: stop before it is kept
            raise KeyboardInterrupt
        return result.image, sum(phase.evaluations for phase in result.record.phases)


def kept_frames(request: VideoRequest, out_hw: tuple[int, int]) -> list[Path]:
    """The frames an earlier run kept, to continue from (--resume), or none (--force deletes them);
    kept frames without either flag, or of another size than this run paints, are refused."""
    done = painted_frames(request.work_dir, kept_frame_name(request))
    if done and not (request.resume or request.force):
        raise DoodleError(f"{request.work_dir}: holds {len(done)} painted frames of an earlier run; pass --resume to "
                          "continue it, or --force to start over")
    if request.force:
        for path in done:
            path.unlink(missing_ok=True)
        return []
    if done:
        width, height = declared_size(done[-1], "image")
        if (height, width) != tuple(out_hw):
            raise DoodleError(f"{done[-1]}: the kept frames are {width}x{height}, not {out_hw[1]}x{out_hw[0]}; resume "
                              "with the --size they were painted at, or --force")
    return done


def check_map_clip(clip: Clip, maps: Clip) -> None:
    """A clip of maps goes frame for frame with its photos: the same number, the same proportions."""
    if clip.frame_count is not None and maps.frame_count is not None and clip.frame_count != maps.frame_count:
        raise DoodleError(f"{maps.path}: has {maps.frame_count} frames but {clip.path} has {clip.frame_count}; give "
                          "the map clip made for this clip")
    check_map_matches(clip.size[::-1], maps.size[::-1], str(clip.path), str(maps.path))


def paint_clip(request: VideoRequest, *, on_frame: Callable[[FrameDone], None], on_note: Note,
               on_evaluation=None, stop_asked: Callable[[], None] = lambda: None) -> ClipRecord:
    """Paint `request.clip` into `request.output`. `stop_asked` is called between frames and raises
    KeyboardInterrupt to stop (the CLI's deferred Ctrl-C); the finished frames are kept either way."""
    started = time.perf_counter()
    clip = open_clip(request.clip, request.fps)
    maps = open_clip(request.map_clip) if request.map_clip is not None else None
    if maps is not None:
        check_map_clip(clip, maps)
    out_hw = (request.size[1], request.size[0]) if request.size is not None else (clip.size[1], clip.size[0])
    done = kept_frames(request, out_hw)
    record = ClipRecord(resumed_from=len(done))
    painter = (ModelPainter(request, out_hw, on_note) if request.model is not None
               else OptimisationPainter(request, clip, out_hw, on_note, on_evaluation))
    start = len(done)
    previous = None
    frames: Iterator[np.ndarray] = clip.frames(max(0, start - 1))
    map_frames: Iterator[np.ndarray] | None = maps.frames(max(0, start - 1)) if maps is not None else None
    if start > 0:  # the frame before the first to paint, and its painting: the warm start
        before, kept = next(frames, None), read_image(done[-1])
        if before is None:
            raise DoodleError(f"{request.work_dir}: holds {start} painted frames but {request.clip} has fewer; "
                              "pass --force to start over")
        previous = (at_size(before, out_hw, painter.is_map), kept) if painter.needs_previous else None
        if map_frames is not None:
            next(map_frames, None)
    if start and clip.frame_count is not None and start >= clip.frame_count:
        on_note(f"all {start} frames were painted already")
    sink = FrameSink(request, clip, start, on_note)
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending: list[Future] = []
        try:
            sink.encode_kept(done)
            for index, frame in enumerate(frames, start):
                stop_asked()
                map_frame = None
                if map_frames is not None:
                    map_frame = next(map_frames, None)
                    if map_frame is None:
                        raise DoodleError(f"{maps.path}: has fewer frames than {request.clip}; give the map clip made "
                                          "for this clip")
                began = time.perf_counter()
                painted, evaluations = painter.paint(index, frame, map_frame, previous)
                pending.append(writer.submit(sink.keep, index + 1, as_frame(painted)))
                while len(pending) > PENDING_WRITES:
                    pending.pop(0).result()
                if painter.needs_previous:
                    previous = (at_size(frame, out_hw, painter.is_map), painted)
                record.painted += 1
                record.frame_seconds.append(time.perf_counter() - began)
                on_frame(FrameDone(index + 1, clip.frame_count, record.frame_seconds[-1], evaluations))
            for future in pending:
                future.result()
            stop_asked()
        except BaseException as error:
            for future in pending:  # frames already handed to the writer are finished, and kept
                with contextlib.suppress(Exception):  # one that failed is simply not kept
                    future.result()
            sink.writer.abort()
            if isinstance(error, KeyboardInterrupt):
                record.interrupted = True
                record.seconds = time.perf_counter() - started
                return record
            if isinstance(error, OSError):
                raise DoodleError(f"{request.work_dir}: cannot write a painted frame ({error.strerror or error}); "
                                  "free some space or choose another --output, then --resume") from None
            raise
    if record.painted + start == 0:
        raise DoodleError(f"{request.clip}: no frame was painted, so no video was written")
    record.written = sink.close()
    record.seconds = time.perf_counter() - started
    return record
