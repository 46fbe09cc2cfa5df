"""The jobs file of `doodle batch`: TOML, read and checked whole before any work starts.

    # Shared by every job; a job's own keys override them (a key a kind does not take is skipped).
    [defaults]
    style = "../samples/Monet.jpg"
    size = "256x192"
    iterations = 40

    [[paint]]                       # any `doodle paint` option, by its flag's name
    map = "doodles/coast.png"
    output = "out/coast.png"

    [[train]]                       # any `doodle train` option
    style = "../samples/Gogh.jpg"
    kind = "content"
    output = "out/gogh.doodle"

    [[video]]                       # any `doodle video` option; the clip is `clip`
    clip = "clips/walk.mp4"
    model = "out/gogh.doodle"
    output = "out/walk.mp4"

Keys are the flags' names, with dashes or underscores (`style-map`, `style_map`); painting settings
(`iterations`, `style-weight`, ...) are the same as on the command line, with TOML's own types.
Relative paths are relative to the jobs file's folder, so the file means the same from anywhere.
Each job becomes the request its command would build (doodle/request.py and friends): the same
rules and the same one-line errors, here prefixed with the job's line. Nothing here imports torch
or Ray.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import re
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .config import INIT_KINDS, PaintConfig
from .errors import DoodleError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

KINDS = ("paint", "train", "video")
SETTINGS = frozenset(field.name for field in fields(PaintConfig))
# Each kind's own keys (besides the painting settings): the request function's parameters, under
# the names of the command's flags.
OWN_KEYS = {
    "paint": {"style", "style_map", "output", "content", "map", "content_map", "no_maps", "auto_maps", "size",
              "force", "preset", "save_every"},
    "train": {"style", "style_map", "output", "kind", "content_dir", "size", "steps", "batch", "width",
              "learning_rate", "force", "preview_every", "checkpoint_every", "preset", "stability"},
    "video": {"clip", "output", "style", "doodles", "style_map", "maps", "no_maps", "auto_maps", "size",
              "frame_iterations", "temporal_weight", "force", "preset", "fps"},
}
PATH_KEYS = {"style", "style_map", "output", "content", "map", "content_map", "content_dir", "clip", "maps"}
# The keys that name files a job reads: another job's output among them makes it wait for that job.
INPUT_KEYS = ("style", "style_map", "content", "map", "content_map", "clip", "maps", "model", "init", "content_dir")
LIST_KEYS = {"style", "style_map"}  # several styles (and their maps) for paint and video
REQUIRED = {"paint": ("output",), "train": ("style", "output"), "video": ("clip", "output")}
HEADER = re.compile(r"^\s*\[\[\s*([A-Za-z_-]+)\s*\]\]")


@dataclass(frozen=True)
class Job:
    """One job of the file: its kind, where it starts in the file, and its options (defaults merged,
    keys normalised, paths resolved)."""

    kind: str
    number: int  # from 1, in the order of the file
    line: int  # of its [[kind]] header; 0 when the file gave it inline
    options: dict[str, Any]

    @property
    def output(self) -> Path:
        return Path(self.options["output"])

    @property
    def where(self) -> str:
        return f"line {self.line} ({self.kind} job {self.number})" if self.line else f"{self.kind} job {self.number}"

    def settings_digest(self) -> str:
        """The job's options as canonical JSON, hashed (`force` left out: it changes no result)."""
        kept = {key: value for key, value in self.options.items() if key != "force"}
        return hashlib.sha256(json.dumps([self.kind, kept], sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class JobsFile:
    path: Path
    jobs: tuple[Job, ...]


def _key_lines(text: str) -> tuple[list[tuple[int, str]], dict[int, dict[str, int]]]:
    """The [[kind]] headers in order (line, kind), and for each header line the lines of its keys."""
    headers: list[tuple[int, str]] = []
    keys: dict[int, dict[str, int]] = {0: {}}
    current = 0
    for number, line in enumerate(text.splitlines(), 1):
        found = HEADER.match(line)
        if found:
            headers.append((number, found.group(1)))
            current = number
            keys[current] = {}
        elif line.lstrip().startswith("["):
            current = -number  # another table: its keys belong to no job
            keys[current] = {}
        else:
            key = re.match(r'^\s*"?([A-Za-z0-9_-]+)"?\s*=', line)
            if key:
                keys[current][key.group(1).replace("-", "_")] = number
    return headers, keys


def _resolve(key: str, value: Any, folder: Path) -> Any:
    """Paths relative to the jobs file's folder; a trained model (`model = "x.doodle"`) and an
    --init picture are paths too, the network's and the start's names are not."""
    def one(item: Any) -> Any:
        # normpath, not resolve: `..` goes, symbolic links stay as the user named them
        return os.path.normpath(folder / Path(item).expanduser()) if isinstance(item, str) else item

    if key in PATH_KEYS or (key == "model" and str(value).endswith(".doodle")) or (
            key == "init" and isinstance(value, str) and value not in INIT_KINDS):
        return [one(item) for item in value] if isinstance(value, list) else one(value)
    return value


def _normalised(table: dict[str, Any]) -> dict[str, Any]:
    return {str(key).replace("-", "_"): value for key, value in table.items()}


def read_jobs(path: str | Path) -> JobsFile:
    """Read and check the structure of a jobs file: one DoodleError naming the line for the first
    problem (a TOML error, an unknown kind or key, a missing field, two jobs with one output)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DoodleError(f"{path}: no such jobs file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DoodleError(f"{path}: cannot read the jobs file ({getattr(error, 'strerror', None) or error})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DoodleError(f"{path}: not valid TOML: {error}") from None
    headers, key_lines = _key_lines(text)
    folder = Path(os.path.normpath(path.absolute().parent))  # not resolve(): a link's folder is where it is
    defaults = data.pop("defaults", {})
    if not isinstance(defaults, dict):
        raise DoodleError(f"{path}: [defaults] must be one table of options, written [defaults]")
    defaults = _normalised(defaults)
    for name, value in data.items():
        if name in KINDS and not isinstance(value, list):
            raise DoodleError(f"{path}: write each {name} job as a [[{name}]] table")
        if not isinstance(value, (list, dict)):
            line = key_lines.get(0, {}).get(name.replace("-", "_"), 0)
            raise DoodleError(f"{path}: line {line}: {name!r} is outside any table; put it under [defaults] or in a "
                              "job")
        if name not in KINDS:
            line = next((number for number, kind in headers if kind == name), 0)
            where = f"line {line}: " if line else ""
            raise DoodleError(f"{path}: {where}[[{name}]] is not a kind of job; use [[paint]], [[train]] or [[video]]")
    present = {kind for kind in KINDS if data.get(kind)}
    for key in defaults:
        if not any(key in OWN_KEYS[kind] or key in SETTINGS for kind in present or KINDS):
            line = key_lines.get(0, {}).get(key) or _defaults_line(key_lines, headers, key)
            raise DoodleError(f"{path}: line {line}: [defaults] {key!r} is not an option of any job here")
    jobs: list[Job] = []
    for kind in KINDS:
        entries = data.get(kind, [])
        lines = [number for number, header in headers if header == kind]
        for index, entry in enumerate(entries):
            line = lines[index] if index < len(lines) else 0
            jobs.append(_job(path, kind, index, line, entry, defaults, key_lines.get(line, {}), folder))
    jobs.sort(key=lambda job: (job.line, KINDS.index(job.kind), job.number))
    if not jobs:
        raise DoodleError(f"{path}: holds no jobs; add [[paint]], [[train]] or [[video]] tables")
    seen: dict[Path, Job] = {}
    for job in jobs:
        target = job.output.resolve()
        if target in seen:
            raise DoodleError(f"{path}: {job.where}: writes {job.output}, as {seen[target].where} does; give each job "
                              "its own output")
        seen[target] = job
    return JobsFile(path, tuple(jobs))


def _defaults_line(key_lines: dict[int, dict[str, int]], headers: list[tuple[int, str]], key: str) -> int:
    """The line of a [defaults] key (its table is not a job's, so it is filed under a negative line)."""
    for number, lines in key_lines.items():
        if number < 0 and key in lines:
            return lines[key]
    return 0


def _job(path: Path, kind: str, index: int, line: int, entry: Any, defaults: dict[str, Any],
         key_lines: dict[str, int], folder: Path) -> Job:
    where = f"line {line} ({kind} job {index + 1})" if line else f"{kind} job {index + 1}"
    if not isinstance(entry, dict):
        raise DoodleError(f"{path}: {where}: a job is a table of options")
    own = _normalised(entry)
    for key in own:
        if key not in OWN_KEYS[kind] and key not in SETTINGS:
            at = f"line {key_lines[key]}" if key in key_lines else where
            close = _closest(key, OWN_KEYS[kind] | SETTINGS)
            raise DoodleError(f"{path}: {at}: {key!r} is not an option of a {kind} job{close}")
    merged = {key: value for key, value in defaults.items() if key in OWN_KEYS[kind] or key in SETTINGS}
    if str(own.get("model", "")).endswith(".doodle"):  # a model knows its style: the defaults' is not for it
        for key in ("style", "style_map"):
            if key not in own:
                merged.pop(key, None)
    merged.update(own)
    for key in REQUIRED[kind]:
        if key not in merged:
            raise DoodleError(f"{path}: {where}: give its {key!r}")
    for key, value in merged.items():
        at = f"line {key_lines[key]}" if key in key_lines else where
        text_wanted = key in PATH_KEYS or (key == "size" and kind != "train")
        several = key in LIST_KEYS and kind != "train"
        if text_wanted and not (isinstance(value, str) or several and isinstance(value, list)
                                and all(isinstance(item, str) for item in value)):
            what = "a path in quotes" + (", or a list of them" if several else "") if key != "size" else \
                'WIDTHxHEIGHT in quotes, e.g. "512x384"'
            raise DoodleError(f"{path}: {at}: {key} = {value!r}: give {what}")
    options = {key: _resolve(key, value, folder) for key, value in merged.items()}
    return Job(kind, index + 1, line, options)


def _closest(key: str, known: set[str]) -> str:
    import difflib

    match = difflib.get_close_matches(key, sorted(known), n=1)
    return f"; did you mean {match[0]!r}?" if match else ""


def request_for(job: Job, *, force: bool, resume: bool = False):
    """The request `job` stands for, built by the function its command uses (so the same checks and
    the same errors); `force` and `resume` are the batch's to decide (see doodle/batch.py)."""
    options = dict(job.options)
    options.pop("force", None)
    settings = {key: options.pop(key) for key in list(options) if key in SETTINGS}
    if job.kind == "paint":
        from .request import paint_request

        return paint_request(_as_list(options.pop("style", [])), options.pop("output"),
                             doodle=options.pop("map", None), style_maps=_maybe_list(options.pop("style_map", None)),
                             force=force, settings=settings, **_checked(paint_request, options, job))
    if job.kind == "train":
        from .train_request import train_request

        return train_request(options.pop("style"), options.pop("output"), force=force and not resume, resume=resume,
                             settings=settings, **_checked(train_request, options, job))
    from .video_request import video_request

    return video_request(options.pop("clip"), options.pop("output"), styles=_as_list(options.pop("style", [])),
                         style_maps=_maybe_list(options.pop("style_map", None)), map_clip=options.pop("maps", None),
                         force=force and not resume, resume=resume, settings=settings,
                         **_checked(video_request, options, job))


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value] if value not in (None, "") else []


def _maybe_list(value: Any) -> list | None:
    return None if value is None else _as_list(value)


def _checked(function, options: dict[str, Any], job: Job) -> dict[str, Any]:
    """`options` as keyword arguments of `function`, each of the type its default has (TOML gives
    an integer where a float is meant; a string where a number is meant is an error)."""
    parameters = inspect.signature(function).parameters
    checked = {}
    for key, value in options.items():
        default = parameters[key].default
        if isinstance(default, bool) and not isinstance(value, bool):
            raise DoodleError(f"{key} = {value!r}: give true or false")
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif isinstance(default, (int, float)) and not isinstance(default, bool) and (
                not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise DoodleError(f"{key} = {value!r}: give a number")
        checked[key] = value
    return checked


def input_files(request) -> list[Path]:
    """The files a request reads, in a fixed order: what a job's input hash covers."""
    found: list[Path] = []
    for name in ("styles", "style_maps", "content", "target_map", "model", "style", "style_map", "clip", "map_clip",
                 "photos"):
        value = getattr(request, name, None)
        values = value if isinstance(value, (list, tuple)) else [value]
        found.extend(Path(item) for item in values if isinstance(item, (str, Path)))
    init = getattr(getattr(request, "config", None), "init", None)
    if isinstance(init, str) and init not in INIT_KINDS:
        found.append(Path(init))
    return found


def inputs_digest(job: Job, request) -> str:
    """sha256 over the job's settings and the bytes of every file it reads (a folder of frames: each
    frame): a re-run does a job again exactly when one of them changed."""
    digest = hashlib.sha256(job.settings_digest().encode())
    for path in input_files(request):
        files = sorted(item for item in path.iterdir() if item.is_file()) if path.is_dir() else [path]
        for item in files:
            status = item.stat()
            digest.update(f"{item.name}:{file_digest(str(item), status.st_size, status.st_mtime_ns)}".encode())
    return digest.hexdigest()


@functools.lru_cache(maxsize=4096)
def file_digest(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file's bytes, once per process for each version of it (jobs share their styles)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
