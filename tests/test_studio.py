"""The studio's rules without a browser: styles and their models, canvas snapshots snapped to the
palette, uploads checked before decoding, runs that stop cleanly, and sessions that clean up."""

from __future__ import annotations

import base64
import io
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from doodle.config import PaintConfig
from doodle.errors import DoodleError
from doodle.records import Progress
from doodle.studio import drawing
from doodle.studio.drawing import canvas_labels, canvas_setup, checked_upload, uploaded_doodle
from doodle.studio.runs import BackgroundRun, StopAsked, fraction_done, progress_line
from doodle.studio.session import Studio, StudioSettings
from doodle.studio.styles import StudioStyle, colour_words, gallery, load_style, matching_model

from .helpers import BLUE, RED, WHITE, png_declaring, textured_style, two_region_map

PALETTE = np.array([WHITE, RED, BLUE], dtype=np.uint8)


def style_files(folder: Path, width: int = 64, height: int = 48) -> Path:
    """A painting with its sidecar map: white above, red lower left, blue lower right."""
    painting = folder / "painting.png"
    Image.fromarray((textured_style(height, width) * 255).astype(np.uint8)).save(painting)
    drawn = two_region_map(height, width)
    drawn[: height // 2] = WHITE
    Image.fromarray(drawn).save(folder / "painting_sem.png")
    return painting


def png_url(image: np.ndarray) -> str:
    stream = io.BytesIO()
    Image.fromarray(image).save(stream, format="PNG")
    return "data:image/png;base64," + base64.b64encode(stream.getvalue()).decode()


@pytest.fixture
def style(tmp_path) -> StudioStyle:
    return load_style(style_files(tmp_path))


def test_a_style_reads_its_map_and_names_its_brushes(style):
    assert [tuple(c) for c in style.palette] and len(style.palette) == 3
    assert style.canvas_size == (512, 384)  # the painting's 4:3, 512 on the long side
    assert style.names[style.background] == "white"  # the largest region: the blank canvas and the eraser
    assert set(style.names) == {"white", "red", "blue"} and style.map_origin == "drawn"
    assert style.canvas_labels().shape == (384, 512)


def test_colour_words_number_names_that_two_labels_share():
    assert colour_words(np.array([(250, 0, 0), (255, 10, 10), (0, 0, 250)], np.uint8)) == ("red 1", "red 2", "blue")


def test_the_gallery_lists_paintings_with_maps_only(tmp_path):
    style_files(tmp_path)
    Image.new("RGB", (8, 8)).save(tmp_path / "no-map.jpg")
    assert gallery(tmp_path) == [tmp_path / "painting.png"] and gallery(None) == []


def test_canvas_snapshots_snap_to_the_palette(style):
    width, height = style.canvas_size
    canvas = style.palette[np.full((height, width), style.background)].astype(np.uint8)
    canvas[100:200, 50:300] = style.palette[list(style.names).index("blue")]
    canvas[100, 50:300] = (40, 40, 230)  # an anti-aliased brush edge: near blue, but not blue
    labels = canvas_labels(png_url(canvas), style)
    assert labels.shape == (height, width)
    assert set(np.unique(labels)) == {style.background, list(style.names).index("blue")}
    assert labels[100, 60] == list(style.names).index("blue")


@pytest.mark.parametrize("url, message", [
    ("data:image/jpeg;base64,AAAA", "not a PNG"),
    ("data:image/png;base64,!!!notbase64", "damaged PNG"),
    (png_url(np.zeros((10, 10, 3), np.uint8)), "10x10"),
])
def test_canvas_snapshots_that_do_not_fit_are_refused(style, url, message):
    with pytest.raises(DoodleError, match=message):
        canvas_labels(url, style)


def test_an_oversized_canvas_payload_is_refused_unread(style):
    with pytest.raises(DoodleError, match="more data"):
        canvas_labels("data:image/png;base64," + "A" * 2_000_000, style)


def test_uploads_are_checked_before_decoding(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_declaring(20000, 20000))
    with pytest.raises(DoodleError, match=r"^my-map.png: .*megapixels"):
        checked_upload(bomb, "my-map.png", "map")
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(DoodleError, match=r"^notes.png: not an image"):
        checked_upload(text, "notes.png", "map")
    monkeypatch.setattr(drawing, "MAX_UPLOAD_BYTES", 10)
    with pytest.raises(DoodleError, match="too large to upload"):
        checked_upload(text, "notes.png", "map")


def test_an_uploaded_doodle_must_have_the_styles_aspect(style, tmp_path):
    square = tmp_path / "square.png"
    Image.new("RGB", (100, 100), BLUE).save(square)
    with pytest.raises(DoodleError, match="aspect ratio"):
        uploaded_doodle(square, "square.png", style)
    wide = tmp_path / "wide.png"
    Image.new("RGB", (128, 96), (10, 10, 240)).save(wide)
    labels = uploaded_doodle(wide, "wide.png", style)
    assert labels.shape == (384, 512) and (labels == list(style.names).index("blue")).all()


def test_the_canvas_setup_carries_brushes_and_layouts(style):
    setup = canvas_setup(style, np.zeros((384, 512), np.int64), editing_style_map=True)
    assert setup["width"] == 512 and setup["names"] == list(style.names)
    assert setup["colours"] == ["#ffffff", "#ff0000", "#0000ff"] or len(setup["colours"]) == 3
    assert setup["start"].startswith("data:image/png") and setup["underlay"].startswith("data:image/jpeg")


def test_an_edited_map_is_scaled_back_to_the_painting(style):
    edited = style.edited(np.ones((384, 512), np.int64))
    assert edited.labels.shape == style.labels.shape and (edited.labels == 1).all()
    assert edited.map_origin == "edited"


def test_models_match_the_painting_and_its_palette(style, tmp_path):
    from doodle.feedforward.training import TrainSettings, new_stylizer

    def save(name: str, sha256: str, palette: np.ndarray) -> Path:
        model = new_stylizer("doodle", "painting.png", sha256, np.zeros((48, 64, 3)), palette, PaintConfig(),
                             TrainSettings(width=4))
        return model.save(tmp_path / name)

    right = save("right.doodle", style.sha256, style.palette)
    save("other-painting.doodle", "0" * 64, style.palette)
    save("other-labels.doodle", style.sha256, style.palette[:2])
    (tmp_path / "junk.doodle").write_text("not a model")
    assert matching_model(sorted(tmp_path.glob("*.doodle")), style) == right


def progress(phase: int, evaluation: int) -> Progress:
    import torch

    return Progress(phase, 3, (64, 48), evaluation, 10, {"style": 1.0}, 4.0, torch.zeros(1, 3, 48, 64))


def test_progress_weighs_the_phases_by_their_pixels():
    assert fraction_done(progress(1, 10)) == pytest.approx(1 / 21)
    assert fraction_done(progress(3, 10)) == pytest.approx(1.0)
    assert "phase 2/3 (64x48), evaluation 5/10, 4 s, about" in progress_line(progress(2, 5))


def test_a_background_run_stops_at_its_next_report():
    started = threading.Event()

    def work(report):
        for step in range(1000):
            report(step)
            started.set()
            threading.Event().wait(0.01)
        return "finished"

    run = BackgroundRun(work, "test")
    started.wait(5)
    run.stop()
    assert run.wait(5)
    assert isinstance(run.error, StopAsked) and run.result is None
    assert list(run.updates())[-1] < 999  # the queued updates drain, then the end


def test_a_sessions_older_snapshot_never_overwrites_a_newer_one(style, tmp_path):
    studio = Studio(StudioSettings(None, tmp_path / "models"))
    try:
        session = studio.session("tab")
        session.choose(style)
        width, height = style.canvas_size
        blue, red = (np.full((height, width), label) for label in (2, 1))
        generation = session.generation
        assert session.draw(png_url(style.palette[blue].astype(np.uint8)), 2, generation)
        assert not session.draw(png_url(style.palette[red].astype(np.uint8)), 1, generation)
        assert (session.doodle == 2).all()
        session.choose(style)  # a new setup of the canvas: snapshots drawn on the old one are dropped unread
        assert not session.draw("data:image/png;base64,not even a PNG", 3, generation)
        assert (session.doodle == style.background).all()
        folder = session.folder
        studio.end_session("tab")
        assert not folder.exists() and "tab" not in studio.sessions
    finally:
        studio.close()
    assert not studio.root.exists()


def test_a_session_refuses_work_before_a_style_is_chosen(tmp_path):
    studio = Studio(StudioSettings(None, tmp_path))
    try:
        with pytest.raises(DoodleError, match="choose a painting first"):
            studio.session("tab").draw("data:image/png;base64,", 1, 0)
    finally:
        studio.close()


def test_painting_stops_when_asked_and_keeps_the_image_so_far(style, tmp_path, encoder):
    studio = Studio(StudioSettings(None, tmp_path / "models"))
    try:
        session = studio.session("tab")
        session.choose(style)
        updates = session.paint(256, None)
        assert next(updates)[1].startswith("painting 256x192")
        image, line, path = next(updates)
        assert image.dtype == np.uint8 and line.startswith("phase 1/")  # the first phase, as it forms
        assert session.stop() == "stopping after this evaluation"
        *_, (image, line, path) = updates
        assert line.startswith("stopped early") and image.shape == (192, 256, 3) and path.is_file()
    finally:
        studio.close()


def test_a_model_trained_from_the_studio_makes_the_next_previews_live(style, tmp_path, encoder, monkeypatch):
    import doodle.train_request as trainings

    studio = Studio(StudioSettings(None, tmp_path / "models"))
    original = trainings.train_request
    monkeypatch.setattr(trainings, "train_request",  # a tiny network and crops: seconds, not minutes
                        lambda *args, **kwargs: original(*args, **{**kwargs, "size": 64, "width": 4, "batch": 1}))
    try:
        session = studio.session("tab")
        session.choose(style)
        assert session.model_preview() is None
        assert session.train(2).startswith("training painting-")
        with pytest.raises(DoodleError, match="one at a time"):
            session.train(2)
        assert studio.training.wait(120)
        assert "trained 2 steps" in studio.training_line()
        assert studio.model_for(style).name == f"painting-{style.sha256[:8]}.doodle"
        preview = session.model_preview()
        assert preview.shape == (384, 512, 3) and preview.dtype == np.uint8
    finally:
        studio.close()


def test_an_uploaded_painting_gets_a_made_map_to_correct(tmp_path, encoder):
    painting = tmp_path / "upload.png"
    image = np.zeros((96, 128, 3), np.uint8)
    image[:48] = (90, 140, 230)  # sky over a green field
    image[48:] = (40, 150, 40)
    noise = np.random.default_rng(0).integers(0, 20, image.shape)
    Image.fromarray((image + noise).astype(np.uint8)).save(painting)
    studio = Studio(StudioSettings(None, tmp_path / "models"))
    try:
        session = studio.session("tab")
        setup = session.upload_painting(painting, "field.png")
        assert setup["editing_style_map"] and setup["underlay"].startswith("data:image/jpeg")
        assert session.style.map_origin == "made" and len(session.style.palette) >= 2
        assert session.style.painting.parent == session.folder and session.style.name == "field"  # kept in the tab
        session.draw(png_url(session.style.palette[np.zeros((384, 512), int)].astype(np.uint8)), 5, setup["generation"])
        assert session.style.map_origin == "edited" and (session.style.labels == 0).all()
        own_map = tmp_path / "field_sem.png"
        Image.fromarray(two_region_map(48, 64)).save(own_map)
        setup = session.upload_style_map(own_map, "field_sem.png")  # a map drawn elsewhere replaces the made one
        assert session.style.map_origin == "uploaded" and set(session.style.names) == {"red", "blue"}
        assert setup["names"] == list(session.style.names)
        with pytest.raises(DoodleError, match="Edit the style's map"):
            next(session.paint(256, None))
        assert not session.edit_style_map(False)["editing_style_map"]
    finally:
        studio.close()


def test_page_handlers_turn_errors_into_one_line_messages():
    gradio = pytest.importorskip("gradio")
    from doodle.studio.app import shown_in_page

    @shown_in_page
    def refuses():
        raise DoodleError("x.png: not an image file that can be read; give a PNG or JPEG map")

    @shown_in_page
    def breaks():
        yield 1
        raise ValueError("unexpected\nsecond line")

    with pytest.raises(gradio.Error) as caught:
        refuses()
    assert caught.value.message.startswith("x.png: not an image")
    with pytest.raises(gradio.Error) as caught:
        list(breaks())
    assert caught.value.message == "ValueError: unexpected"


def test_studio_flags_are_checked_before_anything_starts(tmp_path):
    from typer.testing import CliRunner

    from doodle.cli import app

    for flags, message in ((["--styles", str(tmp_path / "missing")], "no such folder"),
                           (["--port", "70000"], "give a port from 1 to 65535")):
        result = CliRunner().invoke(app, ["studio", *flags])
        assert result.exit_code == 2 and message in result.output


def test_studio_paintings_follow_the_request_layers_rules(style, tmp_path):
    studio = Studio(StudioSettings(None, tmp_path / "models"))
    try:
        session = studio.session("tab")
        session.choose(style)
        request = session.paint_request(384, "painterly", {}, "painting")
        # painterly starts from the content image; a doodle has none, so it starts from noise, as in doodle paint
        assert request.config.init == "noise" and any("starts from noise" in note for note in request.notes)
        assert request.size == (384, 288) and request.mode == "doodle"
        assert request.output.parent == session.folder and request.target_map.is_file()
    finally:
        studio.close()
