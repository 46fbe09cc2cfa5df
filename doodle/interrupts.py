"""Stop signals (Ctrl-C's SIGINT, SIGTERM, SIGHUP) at a moment of the program's choosing.

SIGTERM (a service manager, a batch system, `kill`) and SIGHUP (the terminal closed) mean what
Ctrl-C means: stop, keep what is done. All three raise `Stopped`, a KeyboardInterrupt, so that
every `except KeyboardInterrupt` that keeps the image so far treats them alike, and `signum`
says which came (the exit code is 128 + signum, the shell's convention: 130, 143, 129).

- `stop_signals_raise()`: SIGTERM and SIGHUP raise as Ctrl-C does, so that cleanup (a staging
  file removed) runs instead of the process vanishing. The command line holds it for a command.
- `deferred_interrupts()`, for long loops (painting, training): once armed, a stop signal only
  sets a flag, and the loop asks for it where stopping is safe: between training steps (never
  with some weights updated and others not), or between evaluations (never inside the progress
  display or a frame being written). Before it is armed, and at a second signal, it raises at once.
- `held_signals()`: a few instructions that must not be cut in half (files landing together);
  a signal waits until they are done and is then handled as it would have been.

A signal that is ignored (nohup ignores SIGHUP, a background job SIGINT) stays ignored, and
outside the main thread (where signals cannot be caught) nothing changes. After SIGHUP from a
terminal that closed, output to it goes to /dev/null: writing there would fail and cost the work.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import threading
from collections.abc import Callable, Iterator

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
Handler = Callable[[int, object], None]


class Stopped(KeyboardInterrupt):
    """A stop signal, raised: `signum` is the signal that came."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_of(error: BaseException) -> int:
    """The signal an interruption came from: a plain KeyboardInterrupt is Ctrl-C."""
    return getattr(error, "signum", signal.SIGINT)


def exit_code(signum: int | None) -> int:
    """The exit status of a run a signal stopped: 128 + its number (Ctrl-C 130, SIGTERM 143, SIGHUP 129)."""
    return 128 + (signum or signal.SIGINT)


class Interrupted(Exception):
    """A stop signal, with what it means at the point it struck ('nothing written', 'no maps written')."""

    def __init__(self, message: str, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signum = signum


@contextlib.contextmanager
def on_interrupt(message: str) -> Iterator[None]:
    """A stop signal inside becomes `Interrupted(message)`, keeping which signal it was."""
    try:
        yield
    except KeyboardInterrupt as stop:
        raise Interrupted(message, signal_of(stop)) from None


def _handling(handler: Handler, signums: tuple[int, ...] = STOP_SIGNALS) -> contextlib.ExitStack:
    """`handler` for each of `signums` that is caught now, the previous handlers back at the end.
    Ignored signals, and handlers set outside Python (getsignal says None), are left as they are."""
    stack = contextlib.ExitStack()
    if threading.current_thread() is not threading.main_thread():
        return stack
    for signum in signums:
        previous = signal.getsignal(signum)
        if previous is signal.SIG_IGN or previous is None:
            continue
        signal.signal(signum, handler)
        stack.callback(signal.signal, signum, previous)
    return stack


def silence_a_hung_up_terminal(signum: int) -> None:
    """After SIGHUP from a terminal that closed, every write to it fails (EIO): the progress bar's
    last refresh, the final line. Those must not cost the painting, so output that went to the
    dead terminal goes to /dev/null from now on. (A hung-up terminal answers EIO even to an empty
    write; a live one, a pipe or a file takes it, and stays as it is: `kill -HUP` still reports.)"""
    if signum != getattr(signal, "SIGHUP", None):
        return
    for descriptor in (1, 2):
        try:
            os.write(descriptor, b"")
        except OSError as error:
            if error.errno == errno.EIO:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, descriptor)
                os.close(null)


def _raise_stopped(signum: int, frame: object) -> None:
    silence_a_hung_up_terminal(signum)
    raise Stopped(signum)


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP raise `Stopped` as Ctrl-C raises KeyboardInterrupt."""
    with _handling(_raise_stopped, tuple(s for s in STOP_SIGNALS if s != signal.SIGINT)):
        yield


class DeferredInterrupt:
    """The flag a loop asks: `asked` once a stop signal waits for it. `signum` is the first stop
    signal that came at all, also one raised at once (before arming): the run's exit code."""

    def __init__(self, armed: bool) -> None:
        self.armed = armed
        self.asked = False
        self.signum: int | None = None

    def on_signal(self, signum: int, frame: object) -> None:
        silence_a_hung_up_terminal(signum)
        self.signum = self.signum or signum
        if not self.armed or self.asked:
            raise Stopped(signum)
        self.asked = True

    def arm(self) -> None:
        """From now on a stop signal waits for the loop; one that came before arming raises here."""
        self.armed = True
        self.raise_if_asked()

    def hold(self, stopped_by: int | None = None) -> None:
        """Arm without raising, for the last writes of a run: a first signal waits for them, but
        once the run has stopped for one (`stopped_by`, or any that came) the next raises at once."""
        self.armed = True
        self.signum = self.signum or stopped_by
        self.asked = self.signum is not None

    def raise_if_asked(self) -> None:
        if self.asked:
            raise Stopped(self.signum or signal.SIGINT)


@contextlib.contextmanager
def deferred_interrupts(armed: bool = True) -> Iterator[DeferredInterrupt]:
    state = DeferredInterrupt(armed)
    with _handling(state.on_signal):
        yield state


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """Stop signals that come inside wait for the end, then go to the handler outside (which may
    raise, set a loop's flag, or end the process): the block itself is never cut in half."""
    waiting: list[int] = []
    try:
        with _handling(lambda signum, frame: waiting.append(signum)):
            yield
    finally:
        for signum in waiting[:1]:  # one is enough to stop; the handlers outside are back now
            signal.raise_signal(signum)
