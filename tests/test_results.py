"""doodle/results.py: the painting written where asked, never over a file that appeared meanwhile
(unless --force), and frames that cannot be written do not cost the painting."""

import errno

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from doodle.cli import app
from doodle.config import PaintConfig
from doodle.errors import DoodleError
from doodle.images import read_image, sidecar_map_path
from doodle.request import Companion, PaintRequest
from doodle.results import FrameWriter, write_result

from .helpers import BLUE, RED, textured_style, two_region_map

PAINTING = np.full((6, 8, 3), 0.25, np.float32)


def request_for(output, force=False, companions=()):
    return PaintRequest((), (), None, None, output, None, PaintConfig(), companions=tuple(companions), force=force,
                        what="exemplar" if companions else "painting")


def test_the_painting_goes_where_asked(tmp_path):
    assert write_result(request_for(tmp_path / "out" / "r.png"), PAINTING) == tmp_path / "out" / "r.png"
    assert np.abs(read_image(tmp_path / "out" / "r.png") - PAINTING).max() <= 1 / 255


def test_a_file_that_appeared_while_painting_is_kept_and_the_painting_goes_beside_it(tmp_path):
    output = tmp_path / "r.png"
    output.write_bytes(b"a photo copied here while the painting ran")
    with pytest.raises(DoodleError) as caught:
        write_result(request_for(output), PAINTING)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{output}: appeared while painting") and "r-1.png" in message
    assert output.read_bytes() == b"a photo copied here while the painting ran"
    assert np.abs(read_image(tmp_path / "r-1.png") - PAINTING).max() <= 1 / 255
    assert write_result(request_for(output, force=True), PAINTING) == output  # --force replaces it
    assert sorted(path.name for path in tmp_path.iterdir()) == ["r-1.png", "r.png"]


def test_an_exemplar_and_its_map_stay_a_pair(tmp_path):
    output = tmp_path / "x.png"
    its_map = sidecar_map_path(output)
    its_map.write_bytes(b"someone else's map")
    layout = two_region_map(6, 8)
    with pytest.raises(DoodleError, match=r"x_sem.png: appeared while painting.*x-1.png with its map .*x-1_sem.png"):
        write_result(request_for(output, companions=[Companion(its_map, layout)]), PAINTING)
    assert its_map.read_bytes() == b"someone else's map" and not output.exists()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "x-1_sem.png")), layout)


def test_a_result_that_cannot_be_written_is_one_line(tmp_path):
    (tmp_path / "file").write_text("a file where a folder should be")
    with pytest.raises(DoodleError, match="cannot"):
        write_result(request_for(tmp_path / "file" / "r.png"), PAINTING)


def test_frames_that_cannot_be_written_are_noted_once_and_stop(tmp_path, monkeypatch):
    notes = []
    frames = FrameWriter(tmp_path / "r_frames", 2, notes.append)
    frames.offer(1, 1, lambda: PAINTING)  # not due
    frames.offer(1, 2, lambda: PAINTING)
    assert [path.name for path in (tmp_path / "r_frames").iterdir()] == ["phase1_0002.png"]

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("doodle.results.write_image", full_disk)
    for evaluation in (4, 6, 8):
        frames.offer(1, evaluation, lambda: PAINTING)
    assert len(notes) == 1 and "No space left on device" in notes[0] and "painting goes on" in notes[0]


def test_a_full_disk_under_save_every_costs_the_frames_not_the_painting(tmp_path, monkeypatch):
    """The whole run used to be lost with a traceback at the first frame that could not be written."""
    Image.fromarray((textured_style(48, 48) * 255).astype(np.uint8)).save(tmp_path / "style.png")
    Image.fromarray(two_region_map(48, 48)).save(tmp_path / "style_sem.png")
    Image.fromarray(two_region_map(24, 24, BLUE, RED)).save(tmp_path / "doodle.png")

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("doodle.results.write_image", full_disk)
    output = tmp_path / "r.png"
    result = CliRunner().invoke(app, ["paint", "--style", str(tmp_path / "style.png"), "--map",
                                      str(tmp_path / "doodle.png"), "--output", str(output), "--phases", "1",
                                      "--iterations", "4", "--save-every", "1", "--quiet", "--model", "vgg16"])
    assert result.exit_code == 0, result.output
    assert result.output.count("cannot write frames") == 1 and "Traceback" not in result.output
    assert Image.open(output).size == (24, 24)
