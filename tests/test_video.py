"""`doodle video` end to end on tiny clips made here: by a model and by optimisation, resuming after
a stop, and the one-line errors for clips that cannot be painted."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from doodle.cli import app
from doodle.errors import DoodleError
from doodle.video.clips import ClipWriter, open_clip
from doodle.video.motion import animated_doodle
from doodle.video.painting import RESUME_NAME, FrameDone, kept_frame_name, paint_clip, painted_frames
from doodle.video_request import video_request

from .helpers import BLUE, RED, textured_style, two_region_map

FAST = ["--phases", "1", "--iterations", "2", "--frame-iterations", "2", "--quiet"]


def run(*args):
    return CliRunner().invoke(app, [str(arg) for arg in args])


@pytest.fixture
def files(tmp_path):
    """A style with its map, an animated doodle of that map's colours (6 frames, 48x48) as a video and
    as a folder of frames, and a tiny doodle model of the style."""
    Image.fromarray((textured_style(48, 48) * 255).astype(np.uint8)).save(tmp_path / "style.png")
    Image.fromarray(two_region_map(48, 48)).save(tmp_path / "style_sem.png")
    clip = animated_doodle(two_region_map(48, 48, BLUE, RED), frames=6, shapes=2, seed=1)
    for target in (tmp_path / "doodle.mp4", tmp_path / "doodle_in"):
        with ClipWriter(target, 12) as writer:
            for frame in clip.frames:
                writer.write(frame)
    from .test_feedforward import tiny_model

    stylizer, *_ = tiny_model()
    stylizer.save(tmp_path / "m.doodle")
    return tmp_path


def test_a_model_paints_every_frame_into_a_video(files):
    result = run("video", files / "doodle.mp4", "--model", files / "m.doodle", "-o", files / "out.mp4", "-q")
    assert result.exit_code == 0, result.output
    painted = open_clip(files / "out.mp4")
    assert painted.frame_count == 6 and painted.size == (48, 48) and painted.fps == 12
    assert not (files / "out_frames").exists()  # the work folder goes once the video is written
    assert "6 frames painted" in result.output


def test_optimisation_paints_a_doodle_clip_into_frames(files):
    result = run("video", files / "doodle_in", "--doodles", "--style", files / "style.png", "-o", files / "frames",
                 *FAST)
    assert result.exit_code == 0, result.output
    frames = painted_frames(files / "frames")
    assert len(frames) == 6 and Image.open(frames[0]).size == (48, 48)


def test_a_stopped_run_keeps_its_frames_and_resumes(files):
    request = video_request(files / "doodle_in", files / "out.mp4", doodles=True, styles=[files / "style.png"],
                            settings={"phases": 1, "iterations": 2})
    calls = []

    def stop_after_two() -> None:
        calls.append(1)
        if len(calls) > 2:
            raise KeyboardInterrupt

    done: list[FrameDone] = []
    record = paint_clip(request, on_frame=done.append, on_note=lambda text: None, stop_asked=stop_after_two)
    assert record.interrupted and record.painted == 2 and [d.number for d in done] == [1, 2]
    assert kept_frame_name(request) == RESUME_NAME  # a video's resume points are JPEGs
    assert len(painted_frames(request.work_dir, RESUME_NAME)) == 2 and not (files / "out.mp4").exists()
    assert sorted(path.name for path in files.iterdir() if path.name.startswith(".")) == []  # no staged video left
    with pytest.raises(DoodleError, match="--resume to continue"):
        paint_clip(request, on_frame=done.append, on_note=lambda text: None)
    resumed = video_request(files / "doodle_in", files / "out.mp4", doodles=True, styles=[files / "style.png"],
                            resume=True, settings={"phases": 1, "iterations": 2})
    record = paint_clip(resumed, on_frame=done.append, on_note=lambda text: None)
    assert record.resumed_from == 2 and record.painted == 4 and [d.number for d in done[2:]] == [3, 4, 5, 6]
    assert open_clip(files / "out.mp4").frame_count == 6 and not request.work_dir.exists()


def test_a_model_streams_its_frames_into_the_video_and_a_stop_keeps_resume_points(files):
    """The video is encoded as frames come; stopped, it is dropped and the resume points stay;
    resumed, the kept frames are encoded first, and the finished video holds every frame in order."""
    request = video_request(files / "doodle.mp4", files / "out.mp4", settings={"model": files / "m.doodle"})
    calls = []

    def stop_after_three() -> None:
        calls.append(1)
        if len(calls) > 3:
            raise KeyboardInterrupt

    record = paint_clip(request, on_frame=lambda done: None, on_note=lambda text: None, stop_asked=stop_after_three)
    kept = painted_frames(request.work_dir, RESUME_NAME)
    assert record.interrupted and len(kept) == 3 and not (files / "out.mp4").exists()
    kept_pixels = [np.asarray(Image.open(path), dtype=np.float32) for path in kept]
    resumed = video_request(files / "doodle.mp4", files / "out.mp4", resume=True,
                            settings={"model": files / "m.doodle"})
    record = paint_clip(resumed, on_frame=lambda done: None, on_note=lambda text: None)
    assert record.resumed_from == 3 and record.painted == 3 and record.written == files / "out.mp4"
    encoded = [frame.astype(np.float32) for frame in open_clip(files / "out.mp4").frames()]
    assert len(encoded) == 6 and not request.work_dir.exists()
    for before, after in zip(kept_pixels, encoded):  # the kept frames, in order, through H.264
        assert np.abs(before - after).mean() < 12


def test_a_model_paints_in_bfloat16_close_to_float32():
    from doodle.feedforward.models import Stylizer
    from doodle.feedforward.networks import MIN_CONTENT_SIDE

    from .test_feedforward import tiny_model

    stylizer: Stylizer = tiny_model("content")[0]
    photo = np.random.default_rng(0).random((1, 3, 4 * MIN_CONTENT_SIDE, 4 * MIN_CONTENT_SIDE), dtype=np.float32)
    import torch

    exact = stylizer.paint_tensor(torch.from_numpy(photo), precision="fp32")
    fast = stylizer.paint_tensor(torch.from_numpy(photo), precision="bf16")
    assert fast.dtype == torch.float32 and 0 < (fast - exact).abs().mean() < 0.02


@pytest.mark.parametrize("case", ["not a video", "no frames", "mismatched maps", "resume and force", "model and style",
                                  "doodles without a style map", "existing output", "frames kept in the clip"])
def test_clips_that_cannot_be_painted_get_one_line(files, case):
    clip, extra = files / "doodle.mp4", []
    if case == "not a video":
        clip = files / "noise.mp4"
        clip.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
        extra = ["--model", files / "m.doodle"]
    elif case == "no frames":
        clip = files / "empty"
        clip.mkdir()
        extra = ["--model", files / "m.doodle"]
    elif case == "mismatched maps":
        maps = files / "maps"
        with ClipWriter(maps, 12) as writer:
            for _ in range(3):
                writer.write(two_region_map(48, 48))
        extra = ["--style", files / "style.png", "--maps", maps]
    elif case == "resume and force":
        extra = ["--model", files / "m.doodle", "--resume", "--force"]
    elif case == "model and style":
        extra = ["--model", files / "m.doodle", "--style", files / "style.png"]
    elif case == "doodles without a style map":
        (files / "style_sem.png").unlink()
        extra = ["--style", files / "style.png", "--doodles"]
    elif case == "existing output":
        (files / "out.mp4").write_bytes(b"precious")
        extra = ["--model", files / "m.doodle"]
    output = files / "out.mp4"
    if case == "frames kept in the clip":  # out.mp4 keeps its frames in out_frames/: never the clip's own folder
        clip = (files / "doodle_in").rename(files / "out_frames")
        extra = ["--model", files / "m.doodle", "--force"]
    result = run("video", clip, "-o", output, *extra, *FAST)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    if case == "existing output":
        assert (files / "out.mp4").read_bytes() == b"precious"
    if case == "frames kept in the clip":
        assert len(painted_frames(clip)) == 6  # untouched


def test_auto_maps_label_every_frame_of_a_photo_clip_like_the_style_map(files):
    from doodle.video.motion import photo_pan

    pan = photo_pan(size=(64, 48), frames=3)
    with ClipWriter(files / "pan", 12) as writer:
        for frame in pan.frames:
            writer.write(frame)
    result = run("video", files / "pan", "--style", files / "style.png", "--auto-maps", "-o", files / "painted", *FAST)
    assert result.exit_code == 0, result.output
    assert len(painted_frames(files / "painted")) == 3


def test_settings_given_with_a_model_are_named_in_one_note(files):
    request = video_request(files / "doodle.mp4", files / "out.mp4", preset="painterly",
                            settings={"model": str(files / "m.doodle"), "seed": 3, "style_weight": 2.0,
                                      "precision": "bf16"})
    assert request.model == files / "m.doodle" and request.config.seed == 3 and request.config.precision == "bf16"
    assert request.notes == ("--preset, --style-weight: for optimisation; a model paints with what it learnt",)


def test_a_folder_of_frames_plays_at_the_fps_given(files):
    result = run("video", files / "doodle_in", "--model", files / "m.doodle", "--fps", "6", "-o", files / "out.mp4", "-q")
    assert result.exit_code == 0, result.output
    assert open_clip(files / "out.mp4").fps == 6
    for clip, fps in ((files / "doodle.mp4", "6"), (files / "doodle_in", "0"), (files / "doodle_in", "nan")):
        refused = run("video", clip, "--model", files / "m.doodle", "--fps", fps, "-o", files / "again.mp4", "-q")
        assert refused.exit_code == 2 and refused.output.startswith("error: --fps"), refused.output
