"""Ctrl-C at a moment of the program's choosing, for long loops (painting, training).

Inside `deferred_interrupts()`, once armed, Ctrl-C only sets a flag, and the loop asks for it where
stopping is safe: between training steps (never with some weights updated and others not), or
between evaluations (never inside the progress display or a frame being written). Before it is
armed, and at a second Ctrl-C, it interrupts at once. Outside the main thread (where signals
cannot be caught), and where Ctrl-C is ignored (nohup, a background job), it is left as it is.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class DeferredInterrupt:
    """The flag a loop asks: `asked` after a Ctrl-C while armed."""

    def __init__(self, armed: bool) -> None:
        self.armed = armed
        self.asked = False

    def on_signal(self, signum, frame) -> None:
        if not self.armed or self.asked:
            raise KeyboardInterrupt
        self.asked = True

    def arm(self) -> None:
        """From now on a Ctrl-C waits for the loop; one that came before arming raises here."""
        self.armed = True
        self.raise_if_asked()

    def raise_if_asked(self) -> None:
        if self.asked:
            raise KeyboardInterrupt


@contextlib.contextmanager
def deferred_interrupts(armed: bool = True) -> Iterator[DeferredInterrupt]:
    state = DeferredInterrupt(armed)
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN):
        yield state  # never asked: Ctrl-C behaves as it would without this
        return
    previous = signal.signal(signal.SIGINT, state.on_signal)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)
