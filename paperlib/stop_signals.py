"""Stop a long job cleanly on SIGINT (Ctrl-C) or SIGTERM: the job checks a flag, saves its checkpoint and returns.

Both signals are caught even where the shell started the process with SIGINT ignored (a background job of a
non-interactive shell), so ``kill -INT`` and ``kill -TERM`` behave alike. A second signal aborts at once
(KeyboardInterrupt) for a job that does not reach its next check.
"""
from __future__ import annotations

import signal
import sys
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Context manager: while active, the first SIGINT or SIGTERM sets :attr:`requested` instead of ending the
    process; the handlers in place before are restored on exit. Outside the main thread (where Python cannot
    install handlers) it does nothing and :attr:`requested` stays False."""

    def __init__(self, what: str) -> None:
        self.what = what
        """What stops, for the message printed when a signal arrives (e.g. "training")."""
        self.requested = False
        """Whether a stop signal arrived while active."""
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(f"\n{signal.Signals(signum).name}: {self.what} stops at its next checkpoint "
              "(send it again to abort without saving)", file=sys.stderr, flush=True)

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
