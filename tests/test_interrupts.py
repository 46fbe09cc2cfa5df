"""doodle/interrupts.py with real SIGINTs sent to this process."""

import os
import signal
import time

import pytest

from doodle.interrupts import deferred_interrupts


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
