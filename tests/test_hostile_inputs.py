"""Hostile and unreachable inputs through the commands: a decompression bomb, a named pipe, a damaged
model file, names too long, symlink loops, mismatched maps in `doodle score`. Each is refused before
anything is decoded or written, in one `error:` line that names the file, with exit code 2.

Bombs are PNG headers that declare a huge picture with no pixels behind them (see `png_declaring`):
nothing here decodes or allocates a large image.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from doodle.cli import app
from doodle.errors import DoodleError

from .helpers import BLUE, RED, png_declaring, textured_style, two_region_map

FAST = ["--phases", "1", "--iterations", "2", "--quiet"]


@pytest.fixture
def files(files, monkeypatch):
    """conftest's style, map and doodle, with a photo and its map, and a bomb."""
    # The limit follows the free memory unless set; a test sets it only through monkeypatch.
    monkeypatch.delenv("DOODLE_MAX_MEGAPIXELS", raising=False)
    Image.fromarray((textured_style(48, 48, seed=1) * 255).astype(np.uint8)).save(files / "photo.png")
    Image.fromarray(two_region_map(48, 48)).save(files / "photo_sem.png")
    (files / "bomb.png").write_bytes(png_declaring(100_000, 100_000))  # 10 gigapixels declared
    return files


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_refused(result, named, *words) -> str:
    """Exit 2 and one `error:` line that names `named`; no traceback."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    message = result.output.strip()
    assert message.startswith("error:") and "\n" not in message, message
    for word in (str(named), *words):
        assert word in message, message
    return message


def bomb_commands(f):
    """Every command line that reads an image, with the bomb in each role."""
    bomb, out = f / "bomb.png", f / "out.png"
    paint = ["paint", "--output", out, *FAST]
    return [
        [*paint, "--style", bomb, "--no-maps", "--size", "24x24"],
        [*paint, "--style", f / "style.png", "--map", bomb],
        [*paint, "--style", f / "style.png", "--style-map", bomb, "--map", f / "doodle.png"],
        [*paint, "--style", f / "style.png", "--content", bomb, "--no-maps"],
        [*paint, "--style", f / "style.png", "--content", f / "photo.png", "--content-map", bomb],
        [*paint, "--style", f / "style.png", "--no-maps", "--size", "24x24", "--init", bomb],
        ["segment", bomb, "--output-dir", f / "maps", "--method", "cluster", "--quiet"],
        ["texture", bomb, f / "style.png", "--no-maps", "--output", out, *FAST],
        ["score", bomb, "--map", f / "doodle.png", "--style", f / "style.png"],
        ["score", f / "style.png", "--map", bomb, "--style", f / "style.png"],
        ["score", f / "style.png", "--map", f / "style_sem.png", "--style", bomb, "--style-map", f / "style_sem.png"],
        ["score", f / "style.png", "--map", f / "style_sem.png", "--style", f / "style.png", "--style-map", bomb],
        ["train", "--style", bomb, "--kind", "content", "--output", f / "m.doodle", "--steps", "1", "--quiet"],
    ]


def test_a_decompression_bomb_is_refused_in_every_role(files):
    for args in bomb_commands(files):
        message = assert_refused(run(*args), files / "bomb.png", "100000x100000", "--max-megapixels")
        assert "DOODLE_MAX_MEGAPIXELS" in message
        assert not (files / "out.png").exists() and not (files / "maps").exists()
        assert not (files / "m.doodle").exists()


def test_max_megapixels_sets_the_limit_for_the_run(files, monkeypatch):
    monkeypatch.setenv("DOODLE_MAX_MEGAPIXELS", "1000")  # the flag sets it; monkeypatch puts it back
    style = files / "style.png"  # 48x48 = 2304 pixels
    args = ["paint", "--style", style, "--no-maps", "--size", "24x24", "--output", files / "out.png", *FAST]
    assert_refused(run("--max-megapixels", "0.002", *args), style, "48x48", "0.002 megapixels", "--max-megapixels")
    for bad in ("0", "-1", "lots", "nan"):
        message = assert_refused(run("--max-megapixels", bad, *args), "--max-megapixels", "megapixels")
        assert repr(bad) in message
    result = run("--max-megapixels", "0.01", *args)
    assert result.exit_code == 0, result.output


def test_damaged_images_are_refused_in_one_line(files):
    data = (files / "style.png").read_bytes()
    (files / "cut.png").write_bytes(data[: len(data) // 2])
    (files / "noise.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    for name in ("cut.png", "noise.jpg"):
        result = run("paint", "--style", files / name, "--no-maps", "--size", "24x24", "--output", files / "out.png",
                     *FAST)
        assert_refused(result, files / name)


def test_a_named_pipe_is_refused_instead_of_waiting_forever(files):
    """In a subprocess with a timeout: a reader that opened the pipe would hang the test run."""
    pipe = files / "pipe.png"
    os.mkfifo(pipe)
    os.mkfifo(files / "pipe.doodle")
    for args in (["paint", "--style", pipe, "--no-maps", "--size", "24x24", "--output", files / "out.png"],
                 ["paint", "--model", files / "pipe.doodle", "--map", files / "doodle.png", "--output",
                  files / "out.png"],
                 ["model", files / "pipe.doodle"]):
        done = subprocess.run([sys.executable, "-m", "doodle.cli", *map(str, args)], capture_output=True,
                              text=True, timeout=120)
        message = done.stderr.strip()
        assert done.returncode == 2 and message.startswith("error:") and "\n" not in message, done.stderr
        assert "named pipe" in message and "Traceback" not in message


@pytest.fixture
def model_file(files):
    from doodle.feedforward.models import ModelInfo, Stylizer

    path = files / "tiny.doodle"
    Stylizer(ModelInfo("doodle", {"labels": 2, "width": 8}, [tuple(RED), tuple(BLUE)], {})).save(path)
    return path


def test_damaged_model_files_are_refused_in_one_line(files, model_file):
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from doodle.feedforward.models import Stylizer

    data = model_file.read_bytes()
    header = struct.unpack("<Q", data[:8])[0]
    damaged = {"cut.doodle": (data[: len(data) // 2], "damaged"), "cut-header.doodle": (data[: header // 2], "damaged"),
               "padded.doodle": (data + b"\0" * 16, "damaged"), "random.doodle": (os.urandom(5000), "not a doodle"),
               "empty.doodle": (b"", "not a doodle"),
               "huge-header.doodle": (struct.pack("<Q", 2**40) + b"{}", "not a doodle")}
    for name, (content, words) in damaged.items():
        (files / name).write_bytes(content)
        with pytest.raises(DoodleError, match=words):
            Stylizer.load(files / name)
        for args in (["model", files / name],
                     ["paint", "--model", files / name, "--map", files / "doodle.png", "--output", files / "out.png"],
                     ["paint", "--style", files / "style.png", "--no-maps", "--size", "24x24", "--init", files / name,
                      "--output", files / "out.png", *FAST]):
            assert_refused(run(*args), files / name)
        assert not (files / "out.png").exists()
    # More data than the network's weights and Adam's moments: refused before any tensor is read.
    with safe_open(str(model_file), framework="pt") as opened:
        metadata = opened.metadata()
    tensors = load_file(model_file)
    tensors["padding"] = torch.zeros(10**6)
    save_file(tensors, files / "stuffed.doodle", metadata=metadata)
    with pytest.raises(DoodleError, match="more data than a model"):
        Stylizer.load(files / "stuffed.doodle")


def test_names_too_long_and_symlink_loops_are_refused_in_one_line(files):
    long_name = files / ("x" * 300 + ".png")
    (files / "loop.png").symlink_to(files / "loop.png")
    style, out, bare = files / "style.png", files / "out.png", files / "bare.png"
    bare.write_bytes(style.read_bytes())  # a style without a map
    for args, named, words in (
            (["paint", "--style", long_name, "--no-maps", "--size", "24x24", "--output", out], long_name, "too long"),
            (["paint", "--style", style, "--no-maps", "--size", "24x24", "--output", long_name], long_name, "too long"),
            # maps are looked for: the output's sidecar cannot exist with that name, so there is none
            (["paint", "--style", bare, "--size", "24x24", "--output", long_name], long_name, "too long"),
            (["paint", "--style", style, "--no-maps", "--output", files / ("d" * 300) / "out.png"], "d" * 300,
             "too long"),
            (["paint", "--style", files / "loop.png", "--no-maps", "--size", "24x24", "--output", out],
             files / "loop.png", "symbolic links"),
            (["paint", "--style", style, "--no-maps", "--size", "24x24", "--output", files / "loop.png"],
             files / "loop.png", "symlink loop"),
            (["segment", long_name], long_name, "too long"),
            (["score", long_name, "--map", files / "doodle.png", "--style", style], long_name, "too long"),
            (["model", files / ("x" * 300 + ".doodle")], "x" * 300, "too long")):
        assert_refused(run(*args), named, words)
    assert not out.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root enters folders whatever their permissions")
def test_an_input_in_a_folder_that_cannot_be_entered_is_refused(files):
    locked = files / "locked"
    locked.mkdir()
    (files / "style.png").rename(locked / "style.png")
    locked.chmod(0)
    try:
        result = run("paint", "--style", locked / "style.png", "--no-maps", "--size", "24x24", "--output",
                     files / "out.png")
        assert_refused(result, locked / "style.png", "Permission denied")
    finally:
        locked.chmod(0o755)


def test_segment_shortens_a_preview_name_too_long_in_bytes(files):
    from doodle.request import preview_name, segment_request
    from segmentation import METHODS

    # 50 four-byte letters: a 204-byte file name each, a 413-byte preview name once joined
    names = ["\U0001F600" * 50 + ".png", "\U0001F3A8" * 50 + ".png"]
    for name in names:
        Image.fromarray((textured_style(32, 32) * 255).astype(np.uint8)).save(files / name)
    request = segment_request([files / name for name in names], METHODS, method="cluster")
    preview = request.preview_path.name
    assert len(os.fsencode(preview)) <= 200 and preview.endswith("_preview.png")
    assert preview.startswith("\U0001F600" * 10) and "\ufffd" not in preview
    assert preview_name([files / "a.png", files / "b.png"]) == "a+b_preview.png"
    result = run("segment", *(files / name for name in names), "--method", "cluster", "--labels", "2", "--quiet")
    assert result.exit_code == 0, result.output
    assert (files / preview).is_file()


def test_score_refuses_maps_of_another_aspect_ratio(files):
    Image.fromarray(two_region_map(24, 48)).save(files / "wide_sem.png")
    style = files / "style.png"
    assert_refused(run("score", style, "--map", files / "wide_sem.png", "--style", style), files / "wide_sem.png",
                   "aspect ratios differ")
    assert_refused(run("score", style, "--map", files / "doodle.png", "--style", style, "--style-map",
                       files / "wide_sem.png"), files / "wide_sem.png", "aspect ratios differ")
    result = run("score", style, "--map", files / "doodle.png", "--style", style)  # half size is fine
    assert result.exit_code == 0, result.output
