"""A stop signal pauses long jobs at a checkpoint; a second one aborts; the previous handlers come back."""
import os
import signal

import pytest

from paperlib.stop_signals import StopSignals


def test_first_signal_sets_the_flag_and_the_second_aborts():
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with StopSignals("the test job") as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested  # the process is still running
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_an_ignored_sigint_is_caught_while_active():
    # a background job of a non-interactive shell starts with SIGINT ignored: kill -INT must still stop it
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with StopSignals("the test job") as stop:
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.requested
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
