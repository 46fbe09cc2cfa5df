"""Encoding one video file with PyAV: H.264 (or VP9 for .webm) that browsers play, and the sound
of the input copied in beside it. clips.ClipWriter is the way in: it names the staging file this
writes and moves it into place when `finish` returns.

av is imported inside functions, like everywhere in doodle/video (see clips.py).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..decoding import os_reason

# The mp4 family: the index (moov atom) goes first, so that a browser plays while it downloads.
MOOV_FIRST = {"movflags": "+faststart"}
MOOV_FIRST_SUFFIXES = {".mp4", ".m4v", ".mov"}
# x264 `veryfast` at CRF 18 costs about 4 ms of one core per 512x384 frame, decoding about 1 ms;
# one thread, because the painting holds the cores (frame threads add latency and memory only).
X264_OPTIONS = {"crf": "18", "preset": "veryfast"}
VP9_OPTIONS = {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
ENCODER_THREADS = 1
BT709 = 1  # primaries, transfer and matrix: tagged, so that browsers and FFmpeg agree on the colours
LIMITED_RANGE = 1
# Sound that browsers play from the mp4 family; other codecs are re-encoded to AAC, not copied.
BROWSER_AUDIO = {"aac", "mp3", "opus", "flac"}
AAC_RATES = {96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000}

Note = Callable[[str], None]


def even_size(width: int, height: int) -> tuple[int, int]:
    """H.264 in yuv420p needs even sides: an odd side gains one row or column, a copy of the last,
    so that no painted pixel is lost (the video is then one pixel wider or taller than its frames)."""
    return width + width % 2, height + height % 2


def pad_to(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = frame.shape[:2]
    if (width, height) == size:
        return frame
    return np.pad(frame, ((0, size[1] - height), (0, size[0] - width), (0, 0)), mode="edge")


def has_audio(path: Path) -> bool:
    """Whether a file holds sound that can be decoded; False for anything that cannot be read."""
    import av

    try:
        with av.open(str(path)) as container:
            return any(stream.codec_context is not None for stream in container.streams.audio)
    except (av.error.FFmpegError, OSError):
        return False


def _seconds(packet) -> float:
    stamp = packet.pts if packet.pts is not None else packet.dts
    return float(stamp * packet.time_base)


def _accepted(format_name: str, add_stream: Callable) -> bool:
    """Whether a `format_name` file takes the stream that `add_stream(container)` adds: FFmpeg is
    asked by writing a header to memory, which is where a muxer or an encoder refuses what it
    cannot do. (Asking the real file would leave it a stream that could not be taken back.)"""
    import av

    try:
        with av.open(io.BytesIO(), "w", format=format_name) as probe:
            add_stream(probe)
            probe.start_encoding()
    except (av.error.FFmpegError, ValueError, TypeError):
        return False
    return True


def _audio_stream(container, source_audio) -> tuple[Callable, bool]:
    """How the sound goes into `container`: a function that adds its stream, and whether packets
    are copied (browsers play them from the mp4 family, and the muxer takes them) or re-encoded."""
    format_name = container.format.name

    def copy(output):
        return output.add_stream_from_template(source_audio)

    if (format_name not in ("mp4", "mov", "ipod") or source_audio.codec_context.codec.canonical_name in BROWSER_AUDIO) \
            and _accepted(format_name, copy):
        return copy, True
    opus = format_name == "webm"
    rate = 48000 if opus or source_audio.rate not in AAC_RATES else source_audio.rate

    def encode(output):
        stream = output.add_stream("libopus" if opus else "aac", rate=rate)
        stream.layout = "mono" if source_audio.channels == 1 else "stereo"  # encode() resamples to it
        return stream

    if not _accepted(format_name, encode):
        raise ValueError(f"no {'Opus' if opus else 'AAC'} encoder takes it")
    return encode, False


class AudioTrack:
    """The first audio stream of `path`, as packets of an output stream of `container`: copied
    where the container can hold the codec, else re-encoded (Opus into webm, AAC elsewhere). Its
    times are shifted with the source's video, so sound and pictures stay in sync."""

    def __init__(self, path: Path, container) -> None:
        import av

        self.source = av.open(str(path))
        try:
            source_audio = self.source.streams.audio[0]
            video = self.source.streams.video
            start = video[0].start_time if video and video[0].start_time is not None else 0
            offset = Fraction(start) * (video[0].time_base if video else 1)
            add_stream, copied = _audio_stream(container, source_audio)
            stream = add_stream(container)
            self.packets = (self._copied if copied else self._encoded)(source_audio, stream, offset)
        except BaseException:
            self.source.close()
            raise
        self.pending = None

    def _copied(self, source_audio, stream, offset: Fraction) -> Iterator:
        shift = round(offset / source_audio.time_base)
        for packet in self.source.demux(source_audio):
            if packet.size == 0 or (packet.pts is None and packet.dts is None):  # the demuxer's end markers
                continue
            packet.pts = packet.pts - shift if packet.pts is not None else None
            packet.dts = packet.dts - shift if packet.dts is not None else None
            packet.stream = stream
            yield packet

    def _encoded(self, source_audio, stream, offset: Fraction) -> Iterator:
        for frame in self.source.decode(source_audio):
            if frame.pts is not None:
                frame.pts -= round(offset / frame.time_base)
            yield from stream.encode(frame)
        yield from stream.encode(None)

    def packets_before(self, seconds: float) -> Iterator:
        """The packets that start before `seconds`, in order; the rest wait for a later call."""
        while True:
            if self.pending is None:
                self.pending = next(self.packets, None)
                if self.pending is None:
                    return
            if _seconds(self.pending) >= seconds:
                return
            packet, self.pending = self.pending, None
            yield packet

    def close(self) -> None:
        self.source.close()


class VideoEncoder:
    """Encodes frames of one size into the video file `staged` (its suffix picks the container).
    `finish` completes the file and flushes it to disk; `abort` removes it."""

    def __init__(self, staged: Path, size: tuple[int, int], rate: Fraction, audio_from: Path | None,
                 note: Note) -> None:
        import av

        self.staged, self.rate, self.note, self.count, self.audio = staged, rate, note, 0, None
        self.container = av.open(str(staged), "w", options=MOOV_FIRST if staged.suffix.lower() in MOOV_FIRST_SUFFIXES
                                 else {})
        try:
            vp9 = self.container.format.name == "webm"
            self.size = size if vp9 else even_size(*size)  # VP9 takes odd sides as they are
            self.stream = self.container.add_stream("libvpx-vp9" if vp9 else "libx264", rate=rate)
            self.stream.width, self.stream.height = self.size
            self.stream.pix_fmt = "yuv420p"
            self.stream.options = dict(VP9_OPTIONS if vp9 else X264_OPTIONS)
            self.stream.codec_context.thread_count = ENCODER_THREADS
            context = self.stream.codec_context
            context.color_primaries = context.color_trc = context.colorspace = BT709
            context.color_range = LIMITED_RANGE
        except BaseException:
            self.abort()
            raise
        self.audio = self._audio(audio_from) if audio_from is not None else None

    def _audio(self, path: Path) -> AudioTrack | None:
        """The sound of `path`, or None (and a note) when it cannot go in: the video matters more."""
        import av

        if not has_audio(path):
            return None
        try:
            return AudioTrack(path, self.container)
        except (av.error.FFmpegError, OSError, ValueError, TypeError, AttributeError) as error:
            self.note(f"{path}: the video is written without its sound, which could not be copied ({os_reason(error)})")
            return None

    def write(self, frame: np.ndarray) -> None:
        """One uint8 HxWx3 RGB frame of the size given at the start."""
        import av
        from av.video.reformatter import Colorspace

        picture = av.VideoFrame.from_ndarray(pad_to(frame, self.size), format="rgb24")
        picture = picture.reformat(format="yuv420p", dst_colorspace=Colorspace.ITU709, dst_color_range=LIMITED_RANGE)
        picture.colorspace, picture.color_range = BT709, LIMITED_RANGE
        picture.pts, picture.time_base = self.count, 1 / self.rate
        self.container.mux(self.stream.encode(picture))
        self.count += 1
        self._mux_audio(self.count / self.rate)

    def _mux_audio(self, until: Fraction) -> None:
        """Sound up to the end of the frames written, interleaved with them as they come; a
        failure here ends the sound, not the video."""
        import av

        if self.audio is None:
            return
        try:
            for packet in self.audio.packets_before(float(until)):
                self.container.mux(packet)
        except (av.error.FFmpegError, ValueError) as error:
            self.note(f"{self.audio.source.name}: the sound stops early, it could not be copied ({os_reason(error)})")
            self._close_audio()

    def _close_audio(self) -> None:
        if self.audio is not None:
            self.audio.close()
            self.audio = None

    def finish(self) -> Path:
        """Complete the file (sound cut where the pictures end) and flush it to disk."""
        self._mux_audio(self.count / self.rate)
        self._close_audio()
        self.container.mux(self.stream.encode(None))
        self.container.close()
        handle = os.open(self.staged, os.O_RDWR | getattr(os, "O_BINARY", 0))
        try:
            os.fsync(handle)  # the data is on disk before the name points at it
        finally:
            os.close(handle)
        return self.staged

    def abort(self) -> None:
        """Give up: nothing is left on disk. Safe to call twice, or after a failed `finish`."""
        try:
            self._close_audio()
            self.container.close()
        except Exception:  # the container may be what failed; the file goes anyway
            pass
        finally:
            self.staged.unlink(missing_ok=True)
