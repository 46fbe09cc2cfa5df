"""doodle/video/clips.py and encoding.py: reading and writing video files and frame folders, on tiny
clips made here (12 frames of 64x48 with a moving square)."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from doodle.errors import DoodleError
from doodle.video import encoding
from doodle.video.clips import ClipWriter, frame_files, open_clip, output_kind


def moving_square(width: int = 64, height: int = 48, count: int = 12) -> list[np.ndarray]:
    """A blue background with an orange square moving right 3 pixels a frame."""
    frames = []
    for index in range(count):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[..., 2] = 120
        frame[10:26, 3 * index:3 * index + 16] = (250, 160, 20)
        frames.append(frame)
    return frames


def make_video(path, frames, rate=Fraction(24), sound: bool = False, rotation: int = 0) -> None:
    """A clip encoded by PyAV directly (H.264, or VP9 for .webm), with a 440 Hz tone if `sound`."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        video = container.add_stream("libvpx-vp9" if str(path).endswith(".webm") else "libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        audio = container.add_stream("aac", rate=48000) if sound else None
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(video.encode(None))
        if audio is not None:
            samples = round(48000 * len(frames) / rate)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
            for begin in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(tone[None, begin:begin + 1024], format="flt", layout="mono")
                chunk.sample_rate, chunk.pts = 48000, begin
                container.mux(audio.encode(chunk))
            container.mux(audio.encode(None))


def write_clip(path, frames, **options):
    with ClipWriter(path, **options) as writer:
        for frame in frames:
            writer.write(frame)
    return writer


def streams_of(path) -> dict[str, str]:
    with av.open(str(path)) as container:
        return {stream.type: stream.codec_context.name for stream in container.streams}


def hidden(folder) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


def refused(path, match: str, **options) -> str:
    with pytest.raises(DoodleError, match=match) as caught:
        open_clip(path, **options)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


# --- round trips ---------------------------------------------------------------------------------

def test_mp4_round_trip_keeps_count_size_rate_and_pixels(tmp_path):
    frames = moving_square()
    writer = write_clip(tmp_path / "out.mp4", frames, fps=24)
    assert writer.written == tmp_path / "out.mp4" and hidden(tmp_path) == []
    clip = open_clip(tmp_path / "out.mp4")
    assert (clip.size, clip.frame_count, clip.rate, clip.fps, clip.has_audio) == ((64, 48), 12, 24, 24.0, False)
    back = list(clip.frames())
    assert len(back) == 12 and back[0].dtype == np.uint8 and back[0].shape == (48, 64, 3)
    error = np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(frames, back)])
    assert error < 4, error
    assert streams_of(tmp_path / "out.mp4") == {"video": "h264"}


def test_float_frames_and_an_ntsc_rate_are_written_exactly(tmp_path):
    frames = [frame.astype(np.float32) / 255 for frame in moving_square(count=3)]
    write_clip(tmp_path / "ntsc.mp4", frames, fps=30000 / 1001)
    assert open_clip(tmp_path / "ntsc.mp4").rate == Fraction(30000, 1001)


def test_the_mp4_plays_in_browsers(tmp_path):
    """H.264 in yuv420p, tagged BT.709, with its index (moov) before the pictures (mdat)."""
    write_clip(tmp_path / "out.mp4", moving_square(count=3))
    data = (tmp_path / "out.mp4").read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")
    with av.open(str(tmp_path / "out.mp4")) as container:
        context = container.streams.video[0].codec_context
        assert (context.name, context.pix_fmt, context.colorspace) == ("h264", "yuv420p", 1)


def test_frame_folder_round_trip_is_lossless(tmp_path):
    frames = moving_square()
    writer = write_clip(tmp_path / "frames", frames, fps=12)
    assert writer.written == tmp_path / "frames"
    assert [path.name for path in frame_files(tmp_path / "frames")][:2] == ["frame_00001.png", "frame_00002.png"]
    clip = open_clip(tmp_path / "frames", fps=12)
    assert (clip.size, clip.frame_count, clip.fps, clip.has_audio) == ((64, 48), 12, 12.0, False)
    assert all(np.array_equal(a, b) for a, b in zip(frames, clip.frames()))
    assert open_clip(tmp_path / "frames").fps == 24  # a folder does not say; 24 unless given


def test_frame_folders_are_read_in_natural_order_and_other_files_are_ignored(tmp_path):
    for number in (10, 2, 1):
        Image.new("RGB", (8, 6), (number, 0, 0)).save(tmp_path / f"frame_{number}.png")
    Image.new("RGB", (30, 30)).save(tmp_path / "cover.png")  # no number
    Image.new("RGB", (30, 30)).save(tmp_path / ".frame_5-staged-1-0123abcd.png")  # a run's staging file
    (tmp_path / "notes.txt").write_text("3")
    (tmp_path / "frame_7.png").mkdir()
    clip = open_clip(tmp_path)
    assert [frame[0, 0, 0] for frame in clip.frames()] == [1, 2, 10]
    assert clip.frame_count == 3 and clip.size == (8, 6)


def test_frames_from_a_start_index(tmp_path):
    write_clip(tmp_path / "out.mp4", moving_square())
    write_clip(tmp_path / "frames", moving_square())
    for path in (tmp_path / "out.mp4", tmp_path / "frames"):
        clip = open_clip(path)
        every = list(clip.frames())
        later = list(clip.frames(start=5))
        assert len(later) == 7 and all(np.array_equal(a, b) for a, b in zip(every[5:], later))
        assert list(clip.frames(start=12)) == []


def test_odd_sizes_are_read_and_padded_for_h264(tmp_path):
    frames = moving_square(63, 47, 4)
    make_video(tmp_path / "odd.webm", frames)  # VP9 holds odd sides
    clip = open_clip(tmp_path / "odd.webm")
    assert clip.size == (63, 47) and next(clip.frames()).shape == (47, 63, 3)
    write_clip(tmp_path / "odd.mp4", clip.frames(), fps=clip.rate)
    padded = next(open_clip(tmp_path / "odd.mp4").frames())
    assert padded.shape == (48, 64, 3)  # one row and one column more, copies of the last
    assert np.abs(padded[:, -1].astype(int) - padded[:, -2]).mean() < 4
    write_clip(tmp_path / "odd_out.webm", frames)
    assert open_clip(tmp_path / "odd_out.webm").size == (63, 47)


def test_a_phone_video_turned_a_quarter_is_read_upright(tmp_path):
    frames = moving_square(count=2)
    make_video(tmp_path / "phone.mp4", frames, rotation=-90)  # shown turned clockwise
    clip = open_clip(tmp_path / "phone.mp4")
    upright = next(clip.frames())
    assert clip.size == (48, 64) and upright.shape == (64, 48, 3)
    assert np.abs(upright.astype(int) - np.rot90(frames[0], -1)).mean() < 4


def test_gif_round_trip(tmp_path):
    write_clip(tmp_path / "out.gif", moving_square(), fps=25)
    clip = open_clip(tmp_path / "out.gif")
    assert (clip.size, clip.frame_count) == ((64, 48), 12)
    assert len(list(clip.frames())) == 12 and round(clip.fps) == 25


# --- sound ---------------------------------------------------------------------------------------

def test_the_sound_of_the_input_is_copied_and_lasts_as_long_as_the_pictures(tmp_path):
    make_video(tmp_path / "in.mp4", moving_square(), sound=True)
    clip = open_clip(tmp_path / "in.mp4")
    assert clip.has_audio
    notes = []
    write_clip(tmp_path / "out.mp4", clip.frames(), fps=clip.rate, audio_from=clip, on_note=notes.append)
    assert notes == [] and streams_of(tmp_path / "out.mp4") == {"video": "h264", "audio": "aac"}
    with av.open(str(tmp_path / "out.mp4")) as container:
        audio = container.streams.audio[0]
        assert abs(float(audio.duration * audio.time_base) - 0.5) < 0.05
    write_clip(tmp_path / "out.webm", clip.frames(), audio_from=clip)  # webm holds no AAC: re-encoded
    assert streams_of(tmp_path / "out.webm") == {"video": "vp9", "audio": "opus"}
    write_clip(tmp_path / "half.mp4", list(clip.frames())[:6], fps=clip.rate, audio_from=clip)
    with av.open(str(tmp_path / "half.mp4")) as container:  # the sound ends with the pictures
        audio = container.streams.audio[0]
        assert abs(float(audio.duration * audio.time_base) - 0.25) < 0.05


def test_without_sound_in_the_input_none_is_written_and_nothing_is_said(tmp_path):
    make_video(tmp_path / "in.mp4", moving_square())
    notes = []
    write_clip(tmp_path / "out.mp4", moving_square(), audio_from=open_clip(tmp_path / "in.mp4"), on_note=notes.append)
    assert notes == [] and streams_of(tmp_path / "out.mp4") == {"video": "h264"}


def test_sound_that_cannot_be_copied_leaves_a_note_and_a_silent_video(tmp_path, monkeypatch):
    make_video(tmp_path / "in.mp4", moving_square(), sound=True)

    def broken(path, container):
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")

    monkeypatch.setattr(encoding, "AudioTrack", broken)
    notes = []
    write_clip(tmp_path / "out.mp4", moving_square(), audio_from=tmp_path / "in.mp4", on_note=notes.append)
    assert streams_of(tmp_path / "out.mp4") == {"video": "h264"}
    assert len(notes) == 1 and "without its sound" in notes[0] and "in.mp4" in notes[0]
    write_clip(tmp_path / "frames", moving_square(count=1), audio_from=tmp_path / "in.mp4", on_note=notes.append)
    assert "a folder of frames has none" in notes[1]


# --- refusals ------------------------------------------------------------------------------------

def test_files_that_are_not_videos_are_refused_in_one_line(tmp_path):
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    refused(tmp_path / "noise.mp4", "not a video that can be read")
    Image.new("RGB", (20, 10)).save(tmp_path / "photo.png")
    os.replace(tmp_path / "photo.png", tmp_path / "photo.mp4")
    refused(tmp_path / "photo.mp4", "still image, not a video")
    (tmp_path / "empty.mp4").write_bytes(b"")
    refused(tmp_path / "empty.mp4", "not a video")
    with av.open(str(tmp_path / "tone.m4a"), "w") as container:  # sound alone
        audio = container.add_stream("aac", rate=48000)
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
        chunk.sample_rate, chunk.pts = 48000, 0
        container.mux(audio.encode(chunk))
        container.mux(audio.encode(None))
    refused(tmp_path / "tone.m4a", "no video")
    refused(tmp_path / "missing.mp4", "no such video file")


def test_a_named_pipe_is_refused_without_waiting(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    os.mkfifo(tmp_path / "pipe.mp4")
    refused(tmp_path / "pipe.mp4", "named pipe")


def test_a_video_without_frames_is_refused(tmp_path):
    with av.open(str(tmp_path / "zero.mkv"), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    refused(tmp_path / "zero.mkv", "not a video|no frames")


def test_a_truncated_mp4_is_refused(tmp_path):
    make_video(tmp_path / "in.mp4", moving_square(), sound=True)
    write_clip(tmp_path / "whole.mp4", moving_square(), audio_from=tmp_path / "in.mp4")  # index first
    data = (tmp_path / "whole.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[:len(data) // 2])
    refused(tmp_path / "cut.mp4", "cut short")
    (tmp_path / "stub.mp4").write_bytes(data[:300])  # the index itself cut
    refused(tmp_path / "stub.mp4", "not a video|no video")
    data = (tmp_path / "in.mp4").read_bytes()  # index last: cut off with the end
    (tmp_path / "cut_in.mp4").write_bytes(data[:len(data) // 2])
    refused(tmp_path / "cut_in.mp4", "not a video that can be read")


def test_frame_folders_without_frames_or_with_frames_of_different_sizes_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no frames")
    refused(tmp_path / "empty", "no numbered frames")
    (tmp_path / "mixed").mkdir()
    Image.new("RGB", (8, 6)).save(tmp_path / "mixed" / "f1.png")
    Image.new("RGB", (6, 8)).save(tmp_path / "mixed" / "f2.png")
    with pytest.raises(DoodleError, match="f2.png: the frame is 6x8 but f1.png is 8x6") as caught:
        open_clip(tmp_path / "mixed")
    assert "\n" not in str(caught.value)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "f1.png").write_bytes(b"not a png")
    with pytest.raises(DoodleError, match="f1.png"):
        open_clip(tmp_path / "broken")


def test_frames_over_the_pixel_limit_are_refused_before_decoding(tmp_path, monkeypatch):
    make_video(tmp_path / "in.mp4", moving_square(count=2))
    write_clip(tmp_path / "frames", moving_square(count=2))
    monkeypatch.setenv("DOODLE_MAX_MEGAPIXELS", "0.003")  # 3000 pixels; the frames have 3072
    refused(tmp_path / "in.mp4", "64x48 .* the limit is 0.003 megapixels")
    refused(tmp_path / "frames", "64x48 .* the limit is 0.003 megapixels")


def test_frame_rates_must_be_positive(tmp_path):
    write_clip(tmp_path / "frames", moving_square(count=1))
    for fps in (0, -5, float("nan"), float("inf")):
        with pytest.raises(DoodleError, match="frames per second above 0"):
            open_clip(tmp_path / "frames", fps=fps)


def test_importing_clips_costs_neither_av_nor_torch():
    """The CLI checks an output's name with this module before it pays for FFmpeg or torch."""
    code = "import sys, doodle.video.clips; print(sorted({'av', 'torch'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_output_names(tmp_path):
    assert [output_kind(name) for name in ("a.mp4", "a.MOV", "a.webm", "a.gif", "frames")] == \
        ["video", "video", "video", "gif", "frames"]
    (tmp_path / "run.v2").mkdir()
    assert output_kind(tmp_path / "run.v2") == "frames"
    for name in ("a.avi", "a.png"):
        with pytest.raises(DoodleError, match="end the name with .mp4, .webm or .gif"):
            output_kind(name)


# --- writing atomically --------------------------------------------------------------------------

def test_a_failure_mid_write_leaves_nothing_behind(tmp_path):
    with pytest.raises(RuntimeError), ClipWriter(tmp_path / "out.mp4") as writer:
        for frame in moving_square(count=3) * 10:  # enough for x264 to have written some
            writer.write(frame)
        assert len(hidden(tmp_path)) == 1  # the staging file, while it works
        raise RuntimeError("stopped")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_is_left_untouched_without_force(tmp_path):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"the user's video")
    with pytest.raises(DoodleError, match="already exists; pass --force"):
        ClipWriter(target)
    write_clip(target, moving_square(count=2), force=True)
    assert open_clip(target).frame_count == 2


def test_an_output_that_appears_meanwhile_is_left_untouched(tmp_path):
    target = tmp_path / "out.mp4"
    with pytest.raises(DoodleError, match="appeared while the clip was painted"), ClipWriter(target) as writer:
        writer.write(moving_square(count=1)[0])
        target.write_bytes(b"a second run's video")
    assert target.read_bytes() == b"a second run's video" and hidden(tmp_path) == []
    with ClipWriter(target, beside=True) as writer:
        writer.write(moving_square(count=1)[0])
        target.write_bytes(b"a third run's video")
    assert writer.written == tmp_path / "out-1.mp4" and open_clip(writer.written).frame_count == 1
    assert target.read_bytes() == b"a third run's video" and hidden(tmp_path) == []


def test_frame_folders_keep_their_frames_and_resume_numbering(tmp_path):
    folder = tmp_path / "frames"
    with pytest.raises(KeyboardInterrupt), ClipWriter(folder) as writer:
        for frame in moving_square(count=3):
            writer.write(frame)
        raise KeyboardInterrupt
    assert [path.name for path in frame_files(folder)] == ["frame_00001.png", "frame_00002.png", "frame_00003.png"]
    with pytest.raises(DoodleError, match="frame_00001.png: already exists; pass --force"):
        ClipWriter(folder)
    write_clip(folder, moving_square()[3:5], start=3)
    assert open_clip(folder).frame_count == 5 and hidden(folder) == []
    (tmp_path / "file").write_text("")
    with pytest.raises(DoodleError, match="is a file"):
        ClipWriter(tmp_path / "file")
