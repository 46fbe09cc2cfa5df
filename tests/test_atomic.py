"""doodle/atomic.py: staging files, landing without replacing, leftovers of killed runs."""

import errno
import os
import signal
import subprocess
import sys
import time

import pytest

from doodle import atomic
from doodle.atomic import beside_name, clean_stale, stage, staging_path, write_files
from doodle.images import sidecar_map_path
from doodle.interrupts import Stopped, stop_signals_raise


def writer(data: bytes):
    return lambda stream: stream.write(data)


def hidden(folder):
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


def dead_pid() -> int:
    """The id of a process that has just ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def leftover(folder, pid: int, name: str = "r", age: float = 3600) -> "os.PathLike":
    """A staging file as a run `pid` killed in the middle of a write leaves it, `age` seconds old."""
    path = folder / f".{name}-staged-{pid}-0123abcd.png"
    path.write_bytes(b"")
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def test_staging_names_are_hidden_unique_and_carry_the_pid(tmp_path):
    first, second = staging_path(tmp_path / "r.png"), staging_path(tmp_path / "r.png")
    assert first != second and first.parent == tmp_path and first.suffix == ".png"
    assert first.name.startswith(".r-staged-") and f"-{os.getpid()}-" in first.name
    assert atomic.STAGED_NAME.match(first.name)["pid"] == str(os.getpid())


def test_without_replace_a_file_that_appeared_is_left_untouched(tmp_path):
    target = tmp_path / "r.png"
    target.write_bytes(b"the user's photo")
    with pytest.raises(FileExistsError) as caught:
        write_files([(target, writer(b"painting"))], replace=False)
    assert caught.value.filename == str(target)
    assert target.read_bytes() == b"the user's photo" and hidden(tmp_path) == []
    assert write_files([(target, writer(b"painting"))], replace=True) == [target]  # --force: replaced
    assert target.read_bytes() == b"painting" and hidden(tmp_path) == []


def test_beside_goes_to_the_first_free_number_and_keeps_a_pair_together(tmp_path):
    painting, its_map = tmp_path / "r.png", sidecar_map_path(tmp_path / "r.png")
    its_map.write_bytes(b"appeared")  # only the map appeared: the pair moves together
    (tmp_path / "r-1.png").write_bytes(b"taken")
    written = write_files([(painting, writer(b"p")), (its_map, writer(b"m"))], replace=False, beside=True)
    assert written == [tmp_path / "r-2.png", tmp_path / "r-2_sem.png"]
    assert written[1] == sidecar_map_path(written[0])
    assert not painting.exists() and its_map.read_bytes() == b"appeared"
    assert (tmp_path / "r-1.png").read_bytes() == b"taken"
    assert hidden(tmp_path) == []


def test_beside_names():
    from pathlib import Path

    assert beside_name(Path("out/r.png"), 3) == Path("out/r-3.png")
    assert beside_name(Path("m.doodle"), 1) == Path("m-1.doodle")
    assert beside_name(Path("a_sem.png"), 1) == Path("a-1_sem.png")
    assert beside_name(Path("_sem.png"), 1) == Path("_sem-1.png")


def test_an_output_name_that_fits_leaves_room_for_staging_and_numbering(tmp_path):
    """A 251-byte name is a valid output; what is added for staging or numbering must not make the
    write fail after all the painting's work."""
    target = tmp_path / ("é" * 123 + "x.png")  # 251 bytes in UTF-8
    target.write_bytes(b"appeared")
    for name in (staging_path(target).name, beside_name(target, 12).name):
        assert len(os.fsencode(name)) <= 255
    assert staging_path(target).name.endswith(".png") and atomic.STAGED_NAME.match(staging_path(target).name)
    [written] = write_files([(target, writer(b"painting"))], replace=False, beside=True)
    assert written.name.endswith("-1.png") and written.read_bytes() == b"painting" and hidden(tmp_path) == []


def test_landing_is_all_or_nothing(tmp_path):
    """The second target appeared: the first, landed a moment before, is taken back."""
    first, second = tmp_path / "a_sem.png", tmp_path / "b_sem.png"
    second.write_bytes(b"appeared")
    with pytest.raises(FileExistsError):
        write_files([(first, writer(b"1")), (second, writer(b"2"))], replace=False)
    assert not first.exists() and second.read_bytes() == b"appeared" and hidden(tmp_path) == []


def test_a_failed_or_stopped_write_leaves_no_staging_file(tmp_path):
    def full_disk(stream):
        stream.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        write_files([(tmp_path / "r.png", full_disk)], replace=False)

    def terminated(stream):  # SIGTERM in the middle of encoding, as a second signal strikes
        stream.write(b"half")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)

    with stop_signals_raise(), pytest.raises(Stopped):
        write_files([(tmp_path / "r.png", terminated)], replace=False)
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        write_files([(tmp_path / "r.png", writer(b"x"))], replace=False)
    finally:
        os.umask(umask)
    assert (tmp_path / "r.png").stat().st_mode & 0o777 == 0o644


def test_without_hard_links_it_claims_the_name_exclusively(tmp_path, monkeypatch):
    """FAT and some network shares have no hard links: still never over an existing file."""
    def no_links(source, target):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(atomic.os, "link", no_links)
    target = tmp_path / "r.png"
    assert write_files([(target, writer(b"painting"))], replace=False) == [target]
    assert target.read_bytes() == b"painting" and hidden(tmp_path) == []
    written = write_files([(target, writer(b"second"))], replace=False, beside=True)
    assert written == [tmp_path / "r-1.png"] and target.read_bytes() == b"painting" and hidden(tmp_path) == []


def test_leftovers_of_killed_runs_are_cleaned_but_never_a_live_runs(tmp_path):
    stale = leftover(tmp_path, dead_pid())
    young = leftover(tmp_path, dead_pid(), "young", age=0)  # perhaps a live run on another machine
    mine = leftover(tmp_path, os.getpid(), "mine")
    parents = leftover(tmp_path, os.getppid(), "parents")
    other_file = tmp_path / ".r-staged-notes.txt"
    other_file.write_text("not a staging file")
    assert clean_stale(tmp_path) == [stale]
    assert all(path.exists() for path in (young, mine, parents, other_file))


def test_a_write_cleans_its_folder_of_leftovers_once(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_cleaned_folders", set())
    stale = leftover(tmp_path, dead_pid())
    write_files([(tmp_path / "r.png", writer(b"x"))], replace=False)
    assert not stale.exists()
    later = leftover(tmp_path, dead_pid(), "later")
    stage(tmp_path / "s.png", writer(b"x")).unlink()  # the folder was cleaned already in this process
    assert later.exists()


def test_a_run_killed_while_writing_leaves_a_leftover_the_next_run_removes(tmp_path, monkeypatch):
    """SIGKILL cannot be caught: what it leaves is recognised by its dead process id."""
    script = ("import os, signal, sys\n"
              "from pathlib import Path\n"
              "from doodle.atomic import write_files\n"
              "def killed(stream):\n"
              "    stream.write(b'half')\n"
              "    stream.flush()\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n"
              "write_files([(Path(sys.argv[1]), killed)], replace=False)\n")
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "r.png")])
    assert child.wait() == -signal.SIGKILL
    [left] = tmp_path.iterdir()
    assert atomic.STAGED_NAME.match(left.name)["pid"] == str(child.pid) and left.read_bytes() == b"half"
    os.utime(left, (time.time() - 3600, time.time() - 3600))
    monkeypatch.setattr(atomic, "_cleaned_folders", set())
    write_files([(tmp_path / "r.png", writer(b"painting"))], replace=False)
    assert [path.name for path in tmp_path.iterdir()] == ["r.png"]
