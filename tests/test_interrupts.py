"""doodle/interrupts.py with real signals (SIGINT, SIGTERM, SIGHUP) sent to this process."""

import os
import signal
import time

import pytest

from doodle.interrupts import (
    Interrupted,
    Stopped,
    deferred_interrupts,
    exit_code,
    held_signals,
    on_interrupt,
    signal_of,
    stop_signals_raise,
)


@pytest.fixture(autouse=True)
def stop_signals_as_in_a_terminal():
    """These tests send real signals to this process: give it a terminal's handlers, whatever the
    runner inherited (nohup ignores SIGHUP, a background job SIGINT)."""
    wanted = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL, signal.SIGHUP: signal.SIG_DFL}
    previous = {signum: signal.signal(signum, handler) for signum, handler in wanted.items()}
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)  # Python runs the handler at the next bytecode of the main thread


def test_armed_ctrl_c_waits_for_the_loop_and_a_second_one_does_not():
    with deferred_interrupts() as interrupt:
        ctrl_c()
        assert interrupt.asked
        with pytest.raises(KeyboardInterrupt):
            ctrl_c()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_before_arming_ctrl_c_interrupts_at_once_and_arming_raises_one_that_waited():
    with deferred_interrupts(armed=False) as interrupt:
        with pytest.raises(KeyboardInterrupt):
            ctrl_c()
        interrupt.arm()
        ctrl_c()
        with pytest.raises(KeyboardInterrupt):
            interrupt.raise_if_asked()


def test_an_ignored_ctrl_c_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with deferred_interrupts() as interrupt:
            ctrl_c()
            assert not interrupt.asked and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def send(signum: int) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_wait_for_the_loop_like_ctrl_c(signum):
    previous = signal.getsignal(signum)
    with deferred_interrupts() as interrupt:
        send(signum)
        assert interrupt.asked and interrupt.signum == signum
        with pytest.raises(Stopped) as caught:
            send(signal.SIGINT)  # a second signal of any kind stops at once
        assert isinstance(caught.value, KeyboardInterrupt) and caught.value.signum == signal.SIGINT
    assert signal.getsignal(signum) is previous  # put back


def test_an_ignored_sighup_stays_ignored():
    """nohup ignores SIGHUP: the run must go on when the terminal closes."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with deferred_interrupts() as interrupt, stop_signals_raise():
            send(signal.SIGHUP)
            assert not interrupt.asked and signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_outside_the_main_thread_nothing_changes():
    import threading

    seen = []

    def worker():
        with deferred_interrupts() as interrupt, stop_signals_raise(), held_signals():
            seen.append((interrupt.asked, signal.getsignal(signal.SIGTERM)))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [(False, before)]


def test_while_a_command_runs_sigterm_raises_as_ctrl_c_does():
    before = signal.getsignal(signal.SIGTERM)
    with stop_signals_raise():
        with pytest.raises(Stopped) as caught:
            send(signal.SIGTERM)
        assert caught.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before


def test_held_signals_wait_for_the_block_then_reach_the_handler_outside():
    done = []
    with deferred_interrupts() as interrupt:
        with held_signals():
            send(signal.SIGTERM)
            done.append("landed")  # not cut short
            assert not interrupt.asked
        time.sleep(0.05)
        assert done == ["landed"] and interrupt.signum == signal.SIGTERM
    with stop_signals_raise(), pytest.raises(Stopped):
        with held_signals():
            send(signal.SIGHUP)
            done.append("landed again")
        time.sleep(0.05)
    assert done == ["landed", "landed again"]


def test_a_signal_before_arming_raises_and_is_remembered_for_the_exit_code():
    """A signal just before the loop armed (between the first frame and the end of its callback)
    stops the engine at once; the image it returns must still exit 143 for SIGTERM, not 130."""
    with deferred_interrupts(armed=False) as interrupt:
        with pytest.raises(Stopped):
            send(signal.SIGTERM)
        assert interrupt.signum == signal.SIGTERM and not interrupt.asked
        interrupt.hold()  # the image so far is written; a second signal stops at once
        with pytest.raises(Stopped):
            send(signal.SIGTERM)


def test_hold_arms_without_raising_and_a_second_signal_after_a_stop_raises():
    with deferred_interrupts(armed=False) as interrupt:
        interrupt.hold()
        send(signal.SIGTERM)  # waits: the last writes go on
        assert interrupt.signum == signal.SIGTERM
    with deferred_interrupts(armed=False) as interrupt:
        interrupt.hold(stopped_by=signal.SIGTERM)  # the run stopped for one already
        with pytest.raises(Stopped):
            send(signal.SIGTERM)


def test_exit_codes_and_interruptions_keep_their_signal():
    assert (exit_code(signal.SIGINT), exit_code(signal.SIGTERM), exit_code(signal.SIGHUP)) == (130, 143, 129)
    assert exit_code(None) == 130 and signal_of(KeyboardInterrupt()) == signal.SIGINT
    with pytest.raises(Interrupted) as caught:
        with on_interrupt("interrupted before the first image existed; nothing written"):
            raise Stopped(signal.SIGTERM)
    assert caught.value.signum == signal.SIGTERM and "nothing written" in str(caught.value)


def test_ctrl_c_while_the_command_line_loads_is_one_line(monkeypatch, capsys):
    """Before any command runs (typer, rich, numpy loading) Ctrl-C is one line and exit 130."""
    import sys

    from doodle.__main__ import main

    class CtrlCWhileImporting:
        def find_spec(self, name, path=None, target=None):
            if name == "doodle.cli":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "doodle.cli", raising=False)
    monkeypatch.setattr(sys, "meta_path", [CtrlCWhileImporting(), *sys.meta_path])
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 130
    assert capsys.readouterr().err == "interrupted while starting; nothing written\n"
