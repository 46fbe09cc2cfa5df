"""The manifest of `doodle batch`: a JSON Lines log beside the jobs file (`jobs.toml` ->
`jobs.manifest.jsonl`), one record per event of a job: started (written by the worker as it
begins), then done, failed or cancelled (written by the driver), and skipped.

Each record is one `write` to a file opened for appending, so records from several processes never
interleave and a crash loses at most the record being written; a torn last line is ignored when
the log is read. The latest record of a job (by its output path) is its state: a re-run skips a
job whose latest record is `done` with the same input hash while its output exists.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DoodleError

SUFFIX = ".manifest.jsonl"


def manifest_path(jobs_path: Path) -> Path:
    return jobs_path.with_name(jobs_path.stem + SUFFIX)


@dataclass(frozen=True)
class Manifest:
    path: Path

    def append(self, record: dict[str, Any]) -> None:
        record = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": socket.gethostname(), "pid": os.getpid(),
                  **record}
        line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(handle, line)
                os.fsync(handle)
            finally:
                os.close(handle)
        except OSError as error:
            raise DoodleError(f"{self.path}: cannot write the manifest ({error.strerror or error}); check the free "
                              "space and the folder's permissions, or give another --manifest") from None

    def records(self) -> list[dict[str, Any]]:
        """Every whole record in order; lines that are not JSON objects (a torn last line) are skipped."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        found = []
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "output" in record:
                found.append(record)
        return found

    def latest(self) -> dict[str, dict[str, Any]]:
        """Each job's state: its latest record, by its output path. A `skipped` record says a run
        found the job done; the record that says how it was done stays its state."""
        return {record["output"]: record for record in self.records() if record.get("status") != "skipped"}
