"""Real signals to real `doodle` runs: SIGTERM and SIGHUP keep the work as Ctrl-C does, a second
signal stops at once, no staging file is ever left, and no file that appeared meanwhile is replaced."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from doodle.interrupts import exit_code

STARTED_WITHIN = 120  # seconds; the run itself is a 24x24 painting, the rest is starting python and torch


def as_in_a_terminal() -> None:
    """In the child: the stop signals act as in a terminal, even where the tests run as a background
    job or under nohup (which start with SIGINT or SIGHUP ignored, and a child inherits that)."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def start_painting(files, output, *extra: str) -> subprocess.Popen:
    """`doodle paint` that never ends on its own, writing a frame at every evaluation."""
    command = [sys.executable, "-m", "doodle", "paint", "--style", str(files / "style.png"), "--map",
               str(files / "doodle.png"), "--output", str(output), "--phases", "1", "--iterations", "100000",
               "--tolerance", "0", "--save-every", "1", "--model", "vgg16", "--quiet", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=as_in_a_terminal)


def wait_for(found, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTED_WITHIN
    while not found():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the run ended or never got going: {process.communicate()[0]}")
        time.sleep(0.1)


def first_frame(output):
    frames = output.with_name(output.stem + "_frames")
    return lambda: frames.is_dir() and any(path.suffix == ".png" for path in frames.iterdir())


def staging_files(folder) -> list[str]:
    return sorted(path.name for path in folder.rglob(".*"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_save_the_painting_so_far(files, signum):
    output = files / "r.png"
    process = start_painting(files, output)
    wait_for(first_frame(output), process)
    process.send_signal(signum)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == exit_code(signum) == 128 + signum, out
    assert "interrupted; saved the image so far to" in out and "Traceback" not in out
    assert Image.open(output).size == (24, 24)
    assert staging_files(files) == []


def test_closing_the_terminal_saves_the_painting_so_far(files):
    """The real SIGHUP: the terminal goes away, and with it every write to it (EIO), the progress
    bar's included; the painting so far must still be written."""
    import fcntl
    import os
    import select
    import termios

    terminal, its_other_end = os.openpty()

    def in_its_own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(its_other_end, termios.TIOCSCTTY, 0)
        as_in_a_terminal()

    output = files / "r.png"
    command = [sys.executable, "-m", "doodle", "paint", "--style", str(files / "style.png"), "--map",
               str(files / "doodle.png"), "--output", str(output), "--phases", "1", "--iterations", "100000",
               "--tolerance", "0", "--save-every", "1", "--model", "vgg16"]  # with its progress bar
    process = subprocess.Popen(command, stdin=its_other_end, stdout=its_other_end, stderr=its_other_end,
                               preexec_fn=in_its_own_terminal)
    os.close(its_other_end)
    frame = first_frame(output)
    deadline = time.monotonic() + STARTED_WITHIN
    while not frame() and process.poll() is None and time.monotonic() < deadline:
        if select.select([terminal], [], [], 0.1)[0]:
            os.read(terminal, 1 << 16)  # what the terminal shows: read, so that the run never waits on it
    os.close(terminal)  # the terminal closes: the kernel sends SIGHUP
    assert process.wait(timeout=60) == 129
    assert Image.open(output).size == (24, 24)
    assert staging_files(files) == []


def test_a_second_signal_stops_at_once_and_leaves_no_staging_file(files):
    output = files / "r.png"
    process = start_painting(files, output)
    wait_for(first_frame(output), process)
    process.send_signal(signal.SIGTERM)
    time.sleep(0.02)  # the first is on its way to writing the image so far
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    # Exit 143, or killed by it outright (which the shell also reports as 143) when it came after
    # the command had finished writing and let go of the signals.
    assert process.returncode in (143, -signal.SIGTERM), out
    assert "interrupted" in out and "Traceback" not in out
    assert staging_files(files) == []
    if output.exists():  # the second came after the image was written: whole
        assert Image.open(output).size == (24, 24)


def test_a_file_that_appears_during_a_run_is_left_untouched(files):
    """Without --force, an output that appears while painting (a photo copied there, another run)
    is kept byte for byte: the painting goes beside it, and the run says so and exits 2."""
    output = files / "r.png"
    process = start_painting(files, output)
    wait_for(first_frame(output), process)
    photo = (files / "style.png").read_bytes()
    output.write_bytes(photo)
    process.send_signal(signal.SIGTERM)  # ends the run: the image so far is written
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 2, out
    assert f"error: {output}: appeared while painting" in out and "r-1.png" in out
    assert output.read_bytes() == photo
    assert Image.open(files / "r-1.png").size == (24, 24)
    assert staging_files(files) == []


def test_sigterm_during_training_leaves_a_usable_model(files):
    model = files / "stopped.doodle"
    command = [sys.executable, "-m", "doodle", "train", "--style", str(files / "style.png"), "--output", str(model),
               "--size", "64", "--steps", "100000", "--width", "4", "--style-layers", "relu1_1,relu2_1",
               "--content-weight", "0", "--preview-every", "1", "--checkpoint-every", "0", "--model", "vgg16", "-q"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=as_in_a_terminal)
    wait_for((files / "stopped_preview.png").exists, process)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 143, out
    assert "interrupted; saved the model so far" in out

    from doodle.feedforward.models import Stylizer

    assert Stylizer.load(model).step >= 1
    assert staging_files(files) == []
