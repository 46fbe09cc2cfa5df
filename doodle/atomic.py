"""Files written atomically, never over a file that was not meant to be replaced.

Every output (a painting, its map, a frame, a model) is first written to a hidden staging file
beside its target, on the same filesystem, and only then moved into place, so a crash, a full
disk or a stop signal never leaves half a file under the target's name.

Moving into place has two modes. With `replace` (--force, or a run's own earlier checkpoint) it
is `os.replace`, atomic. Without it, "already exists" is decided by the filesystem at the moment
the file lands, not by a check made when the run started: the staged file is hard-linked to the
target's name, which fails when anything is there. (Checking first and renaming after would
replace a file that appeared while the run worked: a photo copied there, or a second run writing
the same output.) A file that appeared meanwhile is left untouched; with `beside`, the result
lands under the first free numbered name beside it (`r.png` -> `r-1.png`) rather than being
thrown away after an hour of work, and the caller says so.

Staging names carry the process id (`.r-staged-1234-89abcdef.png`), so that two runs never share
one, and so that the leftover of a run killed outright (SIGKILL, a power cut) can be recognised:
a write removes the staging files of its folder whose process is gone, never a live run's.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from .interrupts import held_signals

Writer = Callable[[BinaryIO], None]
STAGED_NAME = re.compile(r"^\..+-staged-(?P<pid>\d+)-[0-9a-f]{8}(\.[^.]*)?$")
# A staging file is only ever a leftover once its process is gone; the age is a second guard for
# folders shared between machines, where a process id from another machine means nothing here
# (a live write keeps touching its file, so it never looks this old).
STALE_AFTER_SECONDS = 60
# Numbered names tried beside a target that appeared meanwhile (r-1.png ... r-999.png).
MAX_BESIDE = 999
# os.link fails with these where the filesystem has no hard links (FAT, exFAT, some network shares).
NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}
SIDECAR_ENDING = "_sem"  # images.MAP_SUFFIX without its extension: a map keeps it when numbered
NAME_MAX_BYTES = 255  # the longest file name most filesystems take

_cleaned_folders: set[Path] = set()


def _fitting(target: Path, head: str, stem: str, tail: str) -> Path:
    """`head + stem + tail` beside `target`, the stem shortened until the name fits the filesystem:
    an output name that fits must not fail for want of room for what is added to it."""
    while len(os.fsencode(head + stem + tail)) > NAME_MAX_BYTES and stem:
        stem = stem[:-1]
    return target.with_name(head + stem + tail)


def staging_path(target: Path) -> Path:
    """A hidden name beside `target`, unique to this process and this write."""
    return _fitting(target, ".", target.stem, f"-staged-{os.getpid()}-{uuid.uuid4().hex[:8]}{target.suffix}")


def beside_name(target: Path, number: int) -> Path:
    """`r.png` -> `r-1.png`; a map `r_sem.png` -> `r-1_sem.png`, so that it stays the sidecar of `r-1.png`."""
    stem = target.stem
    ending = SIDECAR_ENDING if stem.endswith(SIDECAR_ENDING) and stem != SIDECAR_ENDING else ""
    return _fitting(target, "", stem[:len(stem) - len(ending)], f"-{number}{ending}{target.suffix}")


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists; when in doubt, yes (its files are then left alone)."""
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill there would stop the process rather than ask about it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, and belongs to someone else
        return True
    return True


def clean_stale(folder: Path) -> list[Path]:
    """Remove the staging files in `folder` left by runs that were killed outright; returns them."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        found = STAGED_NAME.match(entry.name)
        if found is None or process_alive(int(found["pid"])):
            continue
        with contextlib.suppress(OSError):  # gone already, or not ours to remove: leave it
            status = entry.stat(follow_symlinks=False)
            if entry.is_file(follow_symlinks=False) and now - status.st_mtime > STALE_AFTER_SECONDS:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _clean_once(folder: Path) -> None:
    """Clean a folder at its first write in this process: a frames folder gets thousands of writes."""
    folder = folder.absolute()
    if folder not in _cleaned_folders:
        _cleaned_folders.add(folder)
        clean_stale(folder)


def stage(target: Path, write: Writer, made: list[Path] | None = None) -> Path:
    """Write a staging file for `target` with `write(stream)`, flushed to disk; returns its path.
    On any failure (or a stop signal) the staging file is removed and the error goes on. `made`
    hears the path before the file exists, so a caller's cleanup knows it whenever a signal strikes."""
    _clean_once(target.parent)
    staged = staging_path(target)
    if made is not None:
        made.append(staged)
    # 0o666 less the umask: the file gets the user's usual permissions (mkstemp's would be 0600).
    handle = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())  # the data is on disk before the name points at it
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return staged


def _land_exclusively(staged: Path, target: Path) -> None:
    """Give `staged` the name `target` only if nothing has that name now; else FileExistsError."""
    try:
        os.link(staged, target)
        return
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "appeared meanwhile", str(target)) from None
    except OSError as error:
        if error.errno not in NO_HARD_LINKS:
            raise
    # No hard links here: claim the name with an exclusive create, then rename over the claim.
    # (Another program could write into the empty claim in the instant between; doodle runs cannot.)
    try:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "appeared meanwhile", str(target)) from None
    os.replace(staged, target)


def land(pairs: Sequence[tuple[Path, Path]], replace: bool) -> None:
    """Move staged files to their targets, all or none: a target that cannot be had (it appeared
    meanwhile, without `replace`) takes back the ones already landed. Stop signals wait until the
    landing is over, so it is never cut in half."""
    with held_signals():
        if replace:
            for staged, target in pairs:
                os.replace(staged, target)
            return
        landed: list[Path] = []
        try:
            for staged, target in pairs:
                _land_exclusively(staged, target)
                landed.append(target)
        except BaseException:
            for target in landed:  # ours: landed a moment ago
                target.unlink(missing_ok=True)
            raise


def land_free(staged: Sequence[Path], targets: Sequence[Path], *, replace: bool, beside: bool) -> list[Path]:
    """`land` the staged files at `targets`, all or none; returns the names they took. Without
    `replace`, where a target appeared meanwhile: with `beside` at the first free numbered names
    beside the targets (the same number for all, so a painting and its map stay a pair), else
    FileExistsError names the target."""
    number = 0
    while True:
        names = list(targets) if number == 0 else [beside_name(target, number) for target in targets]
        try:
            land(list(zip(staged, names)), replace)
            return names
        except FileExistsError:
            number += 1
            if not beside or number > MAX_BESIDE:
                raise


def write_files(outputs: Sequence[tuple[Path, Writer]], *, replace: bool, beside: bool = False) -> list[Path]:
    """Write several files as one (all or none), each through a staging file; returns their paths.

    Without `replace`, a target that exists when the files land is left untouched: with `beside`
    the files go to the first free numbered names beside their targets (the same number for all,
    so a painting and its map stay a pair), else FileExistsError names the target."""
    targets = [Path(path) for path, _ in outputs]
    staged: list[Path] = []
    try:
        for target, (_, write) in zip(targets, outputs):
            stage(target, write, staged)
        return land_free(staged, targets, replace=replace, beside=beside)
    finally:
        with held_signals():  # a signal now would leave the rest behind
            for path in staged:  # landed ones are links of these, or renamed away already
                path.unlink(missing_ok=True)
