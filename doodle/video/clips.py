"""Clips in and out: video files through PyAV (FFmpeg ships in its wheel), folders of numbered
frames through Pillow. Frames are uint8 HxWx3 RGB arrays, upright (a phone's rotation applied).

Reading is guarded like every input of doodle: a file must be a regular file, its frame size (from
the stream's header) must be within `pixel_limit()` before anything is decoded, and whatever FFmpeg
raises for a damaged or hostile file becomes one DoodleError naming it. Opening decodes the first
frame, so a file with no frames is refused before a run starts.

Writing goes to a staging file beside the output, which takes the output's name only when complete
(doodle/atomic.py): never half a video, and without `force` never over a file that appeared
meanwhile. Videos are H.264 (yuv420p, BT.709, moov atom first) so that they play in browsers.
av is imported inside functions: importing it costs about 80 ms, and the CLI imports this module to
check an output's name before it pays for anything.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from .. import atomic
from ..decoding import limit_hint, megapixels, os_reason, pixel_limit
from ..errors import DoodleError
from ..images import declared_size, make_parent, read_image, require_file, to_uint8, write_image
from .encoding import VideoEncoder, has_audio

DEFAULT_FPS = Fraction(24)  # of a folder of frames, which does not say
FRAME_SUFFIXES = {".png", ".jpg", ".jpeg"}
FRAME_NAME = "frame_{:05d}.png"  # written frames; frame 100000 and on simply have more digits
VIDEO_OUTPUTS = {".mp4", ".m4v", ".mov", ".mkv", ".webm"}
GIVE_A_VIDEO = "give an mp4, webm, mov or gif, or a folder of numbered frames"
# Demuxers that read one still picture (a PNG or JPEG renamed .mp4 opens as a one-frame "video").
STILL_IMAGE_FORMATS = re.compile(r"^(image2|.*_pipe)$")
NUMBER = re.compile(r"(\d+)")

Note = Callable[[str], None]


def frame_rate(fps: float | Fraction) -> Fraction:
    """A frame rate as an exact fraction: 29.97002997 -> 30000/1001, 24.0 -> 24."""
    if not (isinstance(fps, Fraction) or math.isfinite(fps)) or fps <= 0:
        raise DoodleError(f"frame rate {fps}: give a number of frames per second above 0, e.g. 24")
    return fps if isinstance(fps, Fraction) else Fraction(float(fps)).limit_denominator(1001)


# --- reading -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Clip:
    """A clip to read: its frames come from `frames()`, as often as needed."""

    path: Path
    rate: Fraction  # frames per second, exact
    size: tuple[int, int]  # (width, height) of the frames given, after any rotation
    frame_count: int | None  # exact for frame folders and most mp4s, else estimated, None if unknown
    has_audio: bool

    @property
    def fps(self) -> float:
        return float(self.rate)

    def frames(self, start: int = 0) -> Iterator[np.ndarray]:
        """uint8 HxWx3 RGB frames, from frame index `start` (0 is the first)."""
        raise NotImplementedError


@dataclass(frozen=True)
class FrameFolder(Clip):
    files: tuple[Path, ...] = ()

    def frames(self, start: int = 0) -> Iterator[np.ndarray]:
        for file in self.files[start:]:
            frame = to_uint8(read_image(file))
            if frame.shape[1::-1] != self.size:  # replaced since the folder was opened
                raise DoodleError(f"{file}: the frame is {frame.shape[1]}x{frame.shape[0]} but the frames before are "
                                  f"{self.size[0]}x{self.size[1]}; give frames of one size")
            yield frame


@dataclass(frozen=True)
class VideoFile(Clip):
    stored_size: tuple[int, int] = (0, 0)  # as the stream declares it, before rotation
    quarter_turns: int = 0  # counterclockwise, to show the frames upright

    def frames(self, start: int = 0) -> Iterator[np.ndarray]:
        with _reading(self.path), _open_input(self.path) as (container, stream):
            for index, frame in enumerate(container.decode(stream)):
                if index >= start:
                    yield self._array(frame)

    def _array(self, frame) -> np.ndarray:
        width, height = self.stored_size
        # Full-range ("JPEG") frames must say so, or their blacks and whites come out grey; frames
        # that grow mid-stream are scaled back to the declared size (the decoder refused any over
        # the pixel limit).
        extra = {"src_color_range": frame.color_range} if frame.color_range == 2 else {}
        array = frame.to_ndarray(format="rgb24", width=width, height=height, **extra)
        return np.ascontiguousarray(np.rot90(array, self.quarter_turns) if self.quarter_turns else array)


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Whatever FFmpeg raises for `path` as one DoodleError naming it."""
    import av

    try:
        yield
    except av.error.FFmpegError as error:
        raise DoodleError(f"{path}: not a video that can be read ({os_reason(error)}); {GIVE_A_VIDEO}") from None
    except OSError as error:
        raise DoodleError(f"{path}: cannot read the video ({os_reason(error)}); check the file") from None


@contextlib.contextmanager
def _open_input(path: Path, limit: int | None = None):
    """The container and its first video stream, the decoder refusing frames over the pixel limit
    (a stream may declare a small size and then grow)."""
    import av

    guard = {"max_pixels": str(limit or pixel_limit())}
    with av.open(str(path), options=guard) as container:
        if STILL_IMAGE_FORMATS.match(container.format.name):
            raise DoodleError(f"{path}: is a still image, not a video; {GIVE_A_VIDEO}")
        if not container.streams.video or container.streams.video[0].codec_context is None:
            raise DoodleError(f"{path}: holds no video that can be decoded; {GIVE_A_VIDEO}")
        stream = container.streams.video[0]
        stream.codec_context.options = guard
        yield container, stream


def _truncated(path: Path, container) -> bool:
    """Whether the container's index (an mp4's is complete) points past the end of the file."""
    size = path.stat().st_size
    for stream in container.streams:
        entries = stream.index_entries
        if len(entries) and entries[len(entries) - 1].pos + entries[len(entries) - 1].size > size:
            return True
    return False


def _frame_count(container, stream, rate: Fraction) -> int | None:
    if stream.frames:
        return stream.frames
    if stream.duration and stream.time_base:
        return round(stream.duration * stream.time_base * rate)
    if container.duration:  # in microseconds
        return round(Fraction(container.duration, 1_000_000) * rate)
    return None


def _open_video(path: Path, rate: Fraction | None) -> VideoFile:
    limit = pixel_limit()
    with _reading(path), _open_input(path, limit) as (container, stream):
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > limit:
            raise DoodleError(f"{path}: the video's frames are {width}x{height} ({megapixels(width * height)} "
                              f"megapixels); {limit_hint(limit)}")
        if width < 1 or height < 1:
            raise DoodleError(f"{path}: the video declares no frame size; {GIVE_A_VIDEO}")
        if _truncated(path, container):
            raise DoodleError(f"{path}: the video is cut short (its index points past the end of the file); "
                              "give the complete file")
        first = next(container.decode(stream), None)
        if first is None:
            raise DoodleError(f"{path}: the video has no frames; {GIVE_A_VIDEO}")
        turns = round(first.rotation / 90) % 4
        rate = rate or stream.average_rate or stream.guessed_rate or stream.base_rate or DEFAULT_FPS
        return VideoFile(path, Fraction(rate), (height, width) if turns % 2 else (width, height),
                         _frame_count(container, stream, Fraction(rate)),
                         any(audio.codec_context is not None for audio in container.streams.audio),
                         stored_size=(width, height), quarter_turns=turns)


def _natural(path: Path) -> tuple:
    """frame_2 before frame_10: runs of digits compare as numbers."""
    parts = NUMBER.split(path.name.lower())
    return [int(part) if index % 2 else part for index, part in enumerate(parts)], path.name


def frame_files(folder: str | Path) -> list[Path]:
    """The numbered png/jpg frames of a folder, in order: hidden files (a run's staging files
    among them), files without a number and other files are left out."""
    folder = Path(folder)
    try:
        entries = list(os.scandir(folder))
    except OSError as error:
        raise DoodleError(f"{folder}: cannot list the folder ({os_reason(error)}); check its permissions") from None
    files = [Path(entry.path) for entry in entries if not entry.name.startswith(".")
             and Path(entry.name).suffix.lower() in FRAME_SUFFIXES and NUMBER.search(Path(entry.name).stem)
             and entry.is_file()]
    return sorted(files, key=_natural)


def _open_folder(folder: Path, rate: Fraction) -> FrameFolder:
    files = frame_files(folder)
    if not files:
        raise DoodleError(f"{folder}: holds no numbered frames (frame_001.png, ...); {GIVE_A_VIDEO}")
    size = declared_size(files[0], "frame")
    for file in files[1:]:  # headers only: a thousand frames take a fraction of a second
        other = declared_size(file, "frame")
        if other != size:
            raise DoodleError(f"{file}: the frame is {other[0]}x{other[1]} but {files[0].name} is "
                              f"{size[0]}x{size[1]}; give frames of one size")
    return FrameFolder(folder, rate, size, len(files), False, files=tuple(files))


def open_clip(path: str | Path, fps: float | Fraction | None = None) -> Clip:
    """A video file (mp4, webm, mov, mkv, gif, ...) or a folder of numbered frames, checked and
    ready to read. `fps`: the frame rate of a frame folder (default 24); a video has its own, which
    a given one replaces (the frames stay the same, the output plays faster or slower)."""
    rate = frame_rate(fps) if fps is not None else None
    if os.path.isdir(path):
        return _open_folder(Path(path), rate or DEFAULT_FPS)
    return _open_video(require_file(path, "video"), rate)


# --- writing -------------------------------------------------------------------------------------

def output_kind(path: str | Path) -> str:
    """What a clip written to `path` becomes: "video", "gif" or "frames" (a folder: no suffix, or
    an existing folder). A DoodleError for names that are neither, e.g. out.avi or out.png."""
    suffix = Path(path).suffix.lower()
    if suffix in VIDEO_OUTPUTS:
        return "video"
    if suffix == ".gif":
        return "gif"
    if not suffix or os.path.isdir(path):
        return "frames"
    raise DoodleError(f"{path}: cannot write {suffix} clips; end the name with .mp4, .webm or .gif, or give a "
                      "folder name for the frames")


def as_frame(frame: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 from uint8, or from floats in [0, 1]."""
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frames must be HxWx3 (RGB), not {frame.shape}")
    return frame if frame.dtype == np.uint8 else to_uint8(frame)


class ClipWriter:
    """Writes frames (uint8, or floats in [0, 1], HxWx3) to a video or a folder of frames.

        with ClipWriter("out.mp4", clip.rate, audio_from=clip, on_note=print) as writer:
            for frame in frames:
                writer.write(frame)
        writer.written  # where it landed

    A video (.mp4, .m4v, .mov, .mkv: H.264; .webm: VP9; .gif) takes its name only once complete;
    leaving the block with an exception leaves nothing behind. Without `force` it never lands on a
    file that is there by then: with `beside` it goes to the first free numbered name beside it
    (out-1.mp4), else a DoodleError says so. A folder gets frame_00001.png, ... each written
    atomically as it comes; `start` frames are taken as written already (resuming). The audio of
    `audio_from` is copied into a video (re-encoded to AAC or Opus where its codec cannot go in);
    where that fails the video is written without it and `on_note` is told why."""

    def __init__(self, path: str | Path, fps: float | Fraction = DEFAULT_FPS, *,
                 audio_from: Clip | str | Path | None = None, force: bool = False, beside: bool = False,
                 start: int = 0, on_note: Note | None = None) -> None:
        self.path = Path(path)
        self.kind = output_kind(self.path)
        self.rate = frame_rate(fps)
        self.force, self.beside, self.start = force, beside, start
        self.note: Note = on_note or (lambda message: None)
        self.written: Path | None = None  # where the clip landed (a numbered name, with `beside`)
        self.count = 0
        self.size: tuple[int, int] | None = None
        self._video: VideoEncoder | None = None
        self._gif: list = []
        if isinstance(audio_from, Clip):
            audio_from = audio_from.path if audio_from.has_audio else None
        self.audio_from = Path(audio_from) if audio_from is not None else None
        if self.kind == "frames":
            self._prepare_folder()
        elif self.path.exists() and not (force or beside):
            raise DoodleError(f"{self.path}: already exists; pass --force to overwrite it or choose another output")
        if self.kind != "video" and self.audio_from is not None and has_audio(self.audio_from):
            what = "a GIF" if self.kind == "gif" else "a folder of frames"
            self.note(f"{self.audio_from}: its sound is left out, {what} has none")
            self.audio_from = None

    def _prepare_folder(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise DoodleError(f"{self.path}: is a file; give a folder name for the frames, or a video name such as "
                              f"{self.path.with_suffix('.mp4').name}")
        first = self.path / FRAME_NAME.format(self.start + 1)
        if first.exists() and not self.force:
            raise DoodleError(f"{first}: already exists; pass --force to overwrite the frames or choose another output")

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def write(self, frame: np.ndarray) -> None:
        frame = as_frame(frame)
        size = (frame.shape[1], frame.shape[0])
        if self.size is not None and size != self.size:
            raise ValueError(f"frame {self.count + 1} is {size[0]}x{size[1]}, "
                             f"the first was {self.size[0]}x{self.size[1]}")
        self.size = size
        if self.kind == "frames":
            self._write_frame(frame)
        elif self.kind == "gif":
            # A palette of its own for every frame, kept until the end at 1 byte a pixel. Fast octree:
            # 1.5 ms a 512x384 frame, where the default median cut takes 200 ms for little gain.
            self._gif.append(Image.fromarray(frame).quantize(256, method=Image.Quantize.FASTOCTREE))
        else:
            with self._encoding():
                if self._video is None:
                    make_parent(self.path)
                    self._video = VideoEncoder(atomic.staging_path(self.path), size, self.rate, self.audio_from,
                                               self.note)
                self._video.write(frame)
        self.count += 1

    def _write_frame(self, frame: np.ndarray) -> None:
        target = self.path / FRAME_NAME.format(self.start + self.count + 1)
        with self._landing(target, "the frame"):
            write_image(target, frame, replace=self.force)

    @contextlib.contextmanager
    def _landing(self, target: Path, what: str) -> Iterator[None]:
        """A file taking its name at `target` (a frame, or the clip: with `beside`, perhaps a free
        name beside it), each failure one line."""
        try:
            yield
        except FileExistsError:
            raise DoodleError(f"{target}: appeared while the clip was painted and is left untouched; pass --force to "
                              "overwrite it or choose another output") from None
        except OSError as error:
            raise DoodleError(f"{target}: cannot write {what} ({os_reason(error)}); check the free space and the "
                              "folder's permissions") from None

    @contextlib.contextmanager
    def _encoding(self) -> Iterator[None]:
        """FFmpeg's and the disk's errors as one DoodleError; the staging file goes."""
        import av

        try:
            yield
        except (av.error.FFmpegError, OSError) as error:
            self.abort()
            raise DoodleError(f"{self.path}: cannot write the video ({os_reason(error)}); check the free space and "
                              "the folder's permissions") from None
        except BaseException:
            self.abort()
            raise

    def close(self) -> Path | None:
        """Complete the clip and move it into place; returns where it landed (None: no frames)."""
        if self.kind == "frames":
            self.written = self.path if self.count else None
        elif self.kind == "gif" and self._gif:
            with self._landing(self.path, "the clip"):
                self.written = atomic.write_files([(self.path, self._gif_writer())], replace=self.force,
                                                  beside=self.beside)[0]
            self._gif = []
        elif self._video is not None:
            with self._encoding():
                staged = self._video.finish()
            self._video = None
            try:
                with self._landing(self.path, "the clip"):
                    self.written = atomic.land_free([staged], [self.path], replace=self.force, beside=self.beside)[0]
            finally:
                staged.unlink(missing_ok=True)  # a link of the landed file, or what failed to land
        return self.written

    def abort(self) -> None:
        """Leave nothing behind but the frames of a folder written so far (kept for --resume)."""
        if self._video is not None:
            self._video.abort()
            self._video = None
        self._gif = []

    def _gif_writer(self) -> Callable:
        # GIF counts in hundredths of a second: the delays are rounded so that their sum keeps the
        # rate, and browsers slow delays under 2 to 10, so 50 frames a second is the most.
        ends = [round((index + 1) * 100 / self.rate) for index in range(len(self._gif))]
        delays = [max(2, end - begin) * 10 for begin, end in zip([0, *ends], ends)]
        first, rest = self._gif[0], self._gif[1:]
        return lambda stream: first.save(stream, format="GIF", save_all=True, append_images=rest, duration=delays,
                                         loop=0)
