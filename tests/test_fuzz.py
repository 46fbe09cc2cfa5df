"""Hostile input through every command: each run ends in a result or in one `error:` line with exit
code 2, never a traceback, never a temporary file left behind, never more memory than planned.

Hypothesis draws the file (bombs, truncations at many offsets, random bytes behind real headers,
maps with thousands of colours, one-colour maps, 1x1 and 1xN pictures), the role it plays in which
command, and its name (brackets, control characters, 300 characters). Runs are in-process through
typer's runner with tiny settings; `derandomize` keeps CI's examples the same from run to run.
"""

from __future__ import annotations

import io
import resource
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from doodle.cli import app

from .helpers import textured_style, two_region_map

FAST = ["--phases", "1", "--iterations", "2", "--quiet"]
# Small enough that a bomb is refused at a few megapixels and no run can grow large.
PIXEL_LIMIT_MEGAPIXELS = "4"
PEAK_RSS_LIMIT = 4 * 2**30


def png_bytes(array: np.ndarray) -> bytes:
    stream = io.BytesIO()
    Image.fromarray(array).save(stream, format="PNG")
    return stream.getvalue()


def jpeg_bytes(array: np.ndarray) -> bytes:
    stream = io.BytesIO()
    Image.fromarray(array).save(stream, format="JPEG", quality=90)
    return stream.getvalue()


def declared_png(width: int, height: int) -> bytes:
    """A PNG whose header declares `width`x`height` with almost no pixel data: a decompression bomb
    as a reader meets it (the header is all that must be believed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def picture(seed: int) -> np.ndarray:
    return (textured_style(64, 64, seed=seed) * 255).astype(np.uint8)


def hostile_bytes(kind: str, cut: float, seed: int) -> bytes:
    """The contents of one hostile (or, for a few kinds, ordinary) file."""
    rng = np.random.default_rng(seed)
    if kind == "picture":
        return png_bytes(picture(seed))
    if kind == "jpeg":
        return jpeg_bytes(picture(seed))
    if kind == "truncated png":
        data = png_bytes(picture(seed))
        return data[: max(1, int(len(data) * cut))]
    if kind == "truncated jpeg":
        data = jpeg_bytes(picture(seed))
        return data[: max(1, int(len(data) * cut))]
    if kind == "garbage behind a png header":
        data = png_bytes(picture(seed))
        keep = 33 + int(cut * 40)  # the signature and IHDR, then noise
        return data[:keep] + rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    if kind == "garbage behind a jpeg header":
        return jpeg_bytes(picture(seed))[:20 + int(cut * 200)] + rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    if kind == "random bytes":
        return rng.integers(0, 256, 1 + int(cut * 4000), dtype=np.uint8).tobytes()
    if kind == "empty":
        return b""
    if kind == "bomb":
        return declared_png(32000, 24000)
    if kind == "thousands of colours":
        return png_bytes(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    if kind == "one colour":
        return png_bytes(np.full((64, 64, 3), (200, 30, 30), np.uint8))
    if kind == "1x1":
        return png_bytes(np.full((1, 1, 3), 128, np.uint8))
    if kind == "1xN":
        return png_bytes(rng.integers(0, 256, (1, 300, 3), dtype=np.uint8))
    raise AssertionError(kind)


KINDS = ["picture", "jpeg", "truncated png", "truncated jpeg", "garbage behind a png header",
         "garbage behind a jpeg header", "random bytes", "empty", "bomb", "thousands of colours", "one colour",
         "1x1", "1xN"]
NAMES = ["plain", "brackets", "control characters", "long"]


def hostile_name(kind: str, suffix: str) -> str:
    stem = {"plain": "input", "brackets": "in[bold]put[red", "control characters": "in\x1b[31mput\nred\r",
            "long": "x" * 300}[kind]
    return stem + suffix


def command_for(role: str, hostile: Path, folder: Path) -> list[str]:
    """The command line in which `hostile` plays `role`; the other files are good ones in `folder`."""
    style, style_map, doodle, out = folder / "style.png", folder / "style_sem.png", folder / "doodle.png", \
        str(folder / "out" / "result.png")
    return {
        "paint --style": ["paint", "--style", hostile, "--no-maps", "--size", "48x48", "-o", out, *FAST],
        "paint --content": ["paint", "--style", style, "--no-maps", "--content", hostile, "-o", out, *FAST],
        "paint --map": ["paint", "--style", style, "--style-map", style_map, "--map", hostile, "-o", out, *FAST],
        "paint --style-map": ["paint", "--style", style, "--style-map", hostile, "--map", doodle, "-o", out, *FAST],
        "paint --init": ["paint", "--style", style, "--no-maps", "--size", "48x48", "--init", hostile, "-o", out,
                         *FAST],
        "texture": ["texture", hostile, "--no-maps", "--size", "48x48", "-o", out, *FAST],
        "segment": ["segment", hostile, "--output-dir", str(folder / "out"), "-q"],
        "score painting": ["score", hostile, "--map", doodle, "--style", style, "--style-map", style_map],
        "score --map": ["score", style, "--map", hostile, "--style", style, "--style-map", style_map],
        "train --style": ["train", "--style", hostile, "--style-map", style_map, "--size", "64", "--steps", "1",
                          "--batch", "1", "--width", "4", "--preview-every", "0", "-o",
                          str(folder / "out" / "m.doodle"), "-q"],
        "video": ["video", hostile, "--model", folder / "m.doodle", "-o", str(folder / "out" / "clip.mp4"), "-q"],
        "video --style": ["video", hostile, "--doodles", "--style", style, "--style-map", style_map, "-o",
                          str(folder / "out" / "frames"), *FAST],
    }[role]


ROLES = ["paint --style", "paint --content", "paint --map", "paint --style-map", "paint --init", "texture",
         "segment", "score painting", "score --map", "train --style", "video", "video --style"]


@pytest.fixture(scope="module")
def good_files():
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        Image.fromarray(picture(0)).save(folder / "style.png")
        Image.fromarray(two_region_map(64, 64)).save(folder / "style_sem.png")
        Image.fromarray(two_region_map(64, 64)).save(folder / "doodle.png")
        from .test_feedforward import tiny_model

        tiny_model()[0].save(folder / "m.doodle")
        yield folder


def check_outcome(result, folder: Path) -> None:
    """A result, or exactly one `error:` line and exit 2; no traceback, no staging file left."""
    output = result.output
    assert "Traceback" not in output, output
    assert result.exit_code in (0, 2), (result.exit_code, output, result.exception)
    if result.exit_code == 2:
        errors = [line for line in output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, output
        assert not any(ord(char) < 32 for char in errors[0]), repr(errors[0])  # names cannot inject escapes
    leftovers = [path.name for path in folder.rglob(".*") if path.is_file()]
    assert leftovers == [], leftovers


def run_in(folder: Path, args: list) -> object:
    return CliRunner().invoke(app, [str(arg) for arg in args])


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(role=st.sampled_from(ROLES), kind=st.sampled_from(KINDS), name=st.sampled_from(NAMES),
       cut=st.floats(0.0, 1.0), seed=st.integers(0, 2**16))
def test_every_command_survives_hostile_files(good_files, monkeypatch, role, kind, name, cut, seed):
    monkeypatch.setenv("DOODLE_MAX_MEGAPIXELS", PIXEL_LIMIT_MEGAPIXELS)
    with tempfile.TemporaryDirectory(dir=good_files) as scratch:
        folder = Path(scratch)
        hostile = folder / hostile_name(name, ".png")
        try:
            hostile.write_bytes(hostile_bytes(kind, cut, seed))
        except OSError:  # a name this file system refuses: the file is given anyway, and must be reported missing
            pass
        for good in ("style.png", "style_sem.png", "doodle.png", "m.doodle"):
            (folder / good).symlink_to(good_files / good)
        check_outcome(run_in(folder, command_for(role, hostile, folder)), folder)


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(width=st.integers(-5, 10**7), height=st.integers(-5, 10**7), form=st.sampled_from(["{w}x{h}", "{w}", "{w}x{h}x2",
                                                                                          "{w}X{h}", " {w}x{h} "]))
def test_any_size_is_painted_or_refused_in_one_line(good_files, monkeypatch, width, height, form):
    monkeypatch.setenv("DOODLE_MAX_MEGAPIXELS", PIXEL_LIMIT_MEGAPIXELS)
    with tempfile.TemporaryDirectory(dir=good_files) as scratch:
        folder = Path(scratch)
        size = form.format(w=width, h=height)
        for command in (["paint", "--style", good_files / "style.png", "--no-maps"], ["texture", good_files / "style.png",
                                                                                     "--no-maps"]):
            check_outcome(run_in(folder, [*command, "--size", size, "-o", folder / "r.png", *FAST]), folder)


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(["random bytes", "truncated", "empty", "huge header", "bytes flipped"]),
       cut=st.floats(0.0, 1.0), seed=st.integers(0, 2**16), use=st.sampled_from(["model", "paint --model", "init"]))
def test_damaged_model_files_are_refused_in_one_line(good_files, model_bytes, monkeypatch, kind, cut, seed, use):
    rng = np.random.default_rng(seed)
    data = {"random bytes": rng.integers(0, 256, 1 + int(cut * 5000), dtype=np.uint8).tobytes(),
            "truncated": model_bytes[: int(len(model_bytes) * cut)],
            "empty": b"",
            "huge header": struct.pack("<Q", 2**40) + b"{}",
            "bytes flipped": flipped(model_bytes, rng)}[kind]
    with tempfile.TemporaryDirectory(dir=good_files) as scratch:
        folder = Path(scratch)
        model = folder / "m.doodle"
        model.write_bytes(data)
        args = {"model": ["model", model],
                "paint --model": ["paint", "--model", model, "--map", good_files / "doodle.png", "-o", folder / "r.png"],
                "init": ["paint", "--style", good_files / "style.png", "--style-map", good_files / "style_sem.png",
                         "--map", good_files / "doodle.png", "--init", model, "-o", folder / "r.png", *FAST]}[use]
        result = run_in(folder, args)
        check_outcome(result, folder)
        if kind != "truncated" or cut < 1:
            assert result.exit_code == 2, result.output


def flipped(data: bytes, rng: np.random.Generator) -> bytes:
    """A few bytes changed past the header: damage the checksum must catch."""
    array = np.frombuffer(data, np.uint8).copy()
    places = rng.integers(len(array) // 2, len(array), 4)
    array[places] ^= 0xFF
    return array.tobytes()


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    from .test_feedforward import tiny_model

    stylizer, *_ = tiny_model()
    path = tmp_path_factory.mktemp("model") / "m.doodle"
    stylizer.save(path)
    return path.read_bytes()


def test_the_fuzzing_stayed_within_its_memory():
    """Runs after the fuzz tests in this module (pytest keeps file order): the process's peak RSS,
    bombs and huge sizes included, stayed small."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert peak < PEAK_RSS_LIMIT, f"peak RSS {peak / 2**30:.1f} GiB"
