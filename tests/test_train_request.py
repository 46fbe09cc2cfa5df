"""The request layer of `doodle train`, without the CLI runner."""

import numpy as np
import pytest
from PIL import Image

from doodle.errors import DoodleError
from doodle.train_request import TRAIN_PRESET, train, train_request

from .helpers import textured_style, two_region_map


@pytest.fixture
def files(tmp_path):
    Image.fromarray((textured_style(64, 64) * 255).astype(np.uint8)).save(tmp_path / "style.png")
    Image.fromarray(two_region_map(64, 64)).save(tmp_path / "style_sem.png")
    Image.fromarray((textured_style(64, 64, seed=4) * 255).astype(np.uint8)).save(tmp_path / "other.png")
    return tmp_path


def test_a_doodle_request_finds_the_map_and_takes_the_presets_losses(files):
    request = train_request(str(files / "style.png"), str(files / "m.doodle"), settings={"style_weight": 2.0})
    assert request.style_map == files / "style_sem.png" and request.kind == "doodle"
    assert request.config.style_loss_weights == {"gram": 1.0} and TRAIN_PRESET == "painterly"
    assert request.config.style_weight == 2.0 and request.preview_path == files / "m_preview.png"


def test_a_content_request_leaves_the_map_out_and_says_so(files):
    request = train_request(files / "style.png", files / "m.doodle", kind="content", content_dir=files)
    assert request.style_map is None and "not used" in request.notes[0]
    with pytest.raises(DoodleError, match="no such folder"):
        train_request(files / "style.png", files / "m.doodle", kind="content", content_dir=files / "nope")


@pytest.mark.parametrize("changes, message", [
    ({"steps": 0}, "--steps must be at least 1"), ({"batch": 0}, "--batch"), ({"width": 2}, "--width"),
    ({"learning_rate": float("nan")}, "--learning-rate"), ({"preview_every": -1}, "--preview-every"),
    ({"preset": "cubist"}, "doodle presets"), ({"settings": {"style_weight": -1}}, "--style-weight"),
    ({"stability": -1.0}, "--stability must be a finite number"), ({"stability": float("inf")}, "--stability"),
])
def test_bad_settings_are_one_line_errors(files, changes, message):
    with pytest.raises(DoodleError, match=message):
        train_request(files / "style.png", files / "m.doodle", **changes)


def test_resuming_another_styles_model_is_refused(files, encoder):
    settings = {"style_layers": "relu1_1,relu2_1", "content_weight": 0}
    first = train_request(files / "style.png", files / "m.doodle", size=64, steps=1, width=4, preview_every=0,
                          settings=settings)
    stylizer, record = train(first)
    assert stylizer.step == 1 and not record.interrupted and (files / "m.doodle").exists()
    Image.fromarray(two_region_map(64, 64)).save(files / "other_sem.png")
    again = train_request(files / "other.png", files / "m.doodle", size=64, steps=2, width=4, resume=True,
                          preview_every=0, settings=settings)
    with pytest.raises(DoodleError, match="style.png, not of"):
        train(again)


def test_resuming_with_another_map_is_refused(files, encoder):
    settings = {"style_layers": "relu1_1,relu2_1", "content_weight": 0}
    train(train_request(files / "style.png", files / "m.doodle", size=64, steps=1, width=4, preview_every=0,
                        settings=settings))
    Image.fromarray(two_region_map(64, 64, (0, 255, 0), (255, 255, 0))).save(files / "green_sem.png")
    again = train_request(files / "style.png", files / "m.doodle", style_map=files / "green_sem.png", size=64,
                          steps=2, width=4, resume=True, preview_every=0, settings=settings)
    with pytest.raises(DoodleError, match="other map colours"):
        train(again)


def test_a_content_request_lists_its_photos(files):
    request = train_request(files / "style.png", files / "m.doodle", kind="content", content_dir=files)
    assert set(request.photos) == {files / "style.png", files / "other.png", files / "style_sem.png"}
    (files / "empty").mkdir()
    with pytest.raises(DoodleError, match="no photos"):
        train_request(files / "style.png", files / "m.doodle", kind="content", content_dir=files / "empty")


def test_a_model_file_that_appears_while_training_is_left_untouched(files, encoder):
    """Without --force or --resume, a model in OUTPUT that appeared after the checks (another run,
    a copy) is never replaced: the run's model goes beside it, every checkpoint of it, and the run
    says so; --resume and --force write into OUTPUT."""
    from doodle.feedforward.models import Stylizer

    settings = {"style_layers": "relu1_1,relu2_1", "content_weight": 0}
    output = files / "m.doodle"
    request = train_request(files / "style.png", output, size=64, steps=2, width=4, preview_every=0,
                            checkpoint_every=1, settings=settings)
    output.write_bytes(b"another run's model")
    notes = []
    with pytest.raises(DoodleError, match=r"m.doodle: appeared while training .* to .*m-1.doodle$"):
        train(request, on_note=notes.append)
    assert output.read_bytes() == b"another run's model"
    assert Stylizer.load(files / "m-1.doodle").step == 2 and not (files / "m-2.doodle").exists()
    assert len(notes) == 1 and "m-1.doodle" in notes[0]
    assert sorted(path.name for path in files.glob("*.doodle")) == ["m-1.doodle", "m.doodle"]
    assert not list(files.glob(".*"))
    again = train_request(files / "style.png", files / "m-1.doodle", size=64, steps=3, width=4, preview_every=0,
                          resume=True, settings=settings)
    stylizer, _ = train(again)
    assert Stylizer.load(files / "m-1.doodle").step == 3 and not (files / "m-1-1.doodle").exists()
    forced = train_request(files / "style.png", output, size=64, steps=1, width=4, preview_every=0, force=True,
                           settings=settings)
    train(forced)
    assert Stylizer.load(output).step == 1


def test_the_stability_weight_reaches_the_training_and_the_model_file(files, encoder):
    from doodle.feedforward.models import Stylizer

    losses = []
    request = train_request(files / "style.png", files / "m.doodle", size=64, steps=1, width=4, preview_every=0,
                            stability=7.5, settings={"style_layers": "relu1_1", "content_weight": 0})
    train(request, callback=lambda progress: losses.append(progress.losses))
    assert "stability" in losses[0] and Stylizer.load(files / "m.doodle").info.training["stability"] == 7.5
