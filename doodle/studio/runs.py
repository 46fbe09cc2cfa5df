"""Long work (a painting, a preview, a model's training) on a thread of its own, so that the page
can show its progress as it goes and stop it at the next safe point.

The engine and the trainer already stop cleanly at a KeyboardInterrupt raised from their progress
callback (between evaluations, or between training steps) and hand back what they have, so a stop
here is exactly that: the callback raises once `stop()` was asked."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..records import Progress


class StopAsked(KeyboardInterrupt):
    """Raised from a run's callback when the page asked it to stop (or a newer stroke replaced it)."""


class BackgroundRun:
    """`work(report)` on a thread; `report(update)` queues an update for the page and raises
    StopAsked once a stop was asked. `updates()` yields them until the work ends."""

    def __init__(self, work: Callable[[Callable[[Any], None]], Any], name: str) -> None:
        self._work = work
        self._updates: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.result = self._work(self.report)
        except BaseException as error:  # noqa: BLE001 - handed to the page, which shows it in one line
            self.error = error
        finally:
            self._updates.put(_DONE)

    def report(self, update: Any) -> None:
        if self._stop.is_set():
            raise StopAsked()
        self._updates.put(update)

    def stop(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def updates(self, latest_only: bool = True) -> Iterator[Any]:
        """The updates as they come; with `latest_only`, a burst is thinned to its newest (a page
        that is slower than the engine skips frames rather than falling behind)."""
        while True:
            item = self._updates.get()
            while latest_only and item is not _DONE:
                try:
                    newer = self._updates.get_nowait()
                except queue.Empty:
                    break
                if newer is _DONE:  # the end came too: the newest update still goes out first
                    self._updates.put(_DONE)
                    break
                item = newer
            if item is _DONE:
                return
            yield item

    def pending(self) -> list[Any]:
        """The updates queued so far, without waiting (for a page that polls)."""
        items = []
        while True:
            try:
                item = self._updates.get_nowait()
            except queue.Empty:
                return items
            if item is _DONE:
                self._updates.put(_DONE)  # still there for updates() and the next poll
                return items
            items.append(item)

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


_DONE = object()


def phase_weights(phases: int) -> list[float]:
    """Each phase's share of the run's work: its pixel count, as each phase doubles the last one's
    sides (an evaluation costs about the pixels it sees)."""
    pixels = [4.0 ** index for index in range(phases)]
    return [count / sum(pixels) for count in pixels]


def fraction_done(progress: Progress) -> float:
    """How much of the run is done at `progress`."""
    weights = phase_weights(progress.phases)
    before = sum(weights[: progress.phase - 1])
    return min(1.0, before + weights[progress.phase - 1] * progress.evaluation / max(1, progress.max_evaluations))


def progress_line(progress: Progress) -> str:
    """'phase 2/3 (256x192), evaluation 12/40, 8 s, about 20 s left'."""
    done = fraction_done(progress)
    left = progress.elapsed * (1 - done) / done if done > 0.02 else None
    eta = f", about {left:.0f} s left" if left is not None else ""
    return (f"phase {progress.phase}/{progress.phases} ({progress.size[0]}x{progress.size[1]}), evaluation "
            f"{progress.evaluation}/{progress.max_evaluations}, {progress.elapsed:.0f} s{eta}")
