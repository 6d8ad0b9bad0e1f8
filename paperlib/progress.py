"""Progress bars for long jobs: rate, ETA and the recent return, on a terminal or in a log."""
from __future__ import annotations

import sys
import time
from collections import deque

from tqdm import tqdm


class Progress:
    """A counter shown with tqdm (rate and ETA), plus the rate of secondary counters (updates/s; steps/s of a bar
    counting episodes), the mean of the last 10 returns and, for a job with a wall-clock ``deadline``
    (a ``time.time()`` value), the minutes left until it stops."""

    def __init__(self, total: int, initial: int, description: str, enabled: bool = True, unit: str = "step",
                 deadline: float | None = None) -> None:
        interactive = sys.stderr.isatty()
        self._bar = tqdm(total=total, initial=initial, desc=description, unit=unit, unit_scale=True,
                         disable=not enabled, mininterval=0.5 if interactive else 30.0, dynamic_ncols=True)
        self._returns: deque[float] = deque(maxlen=10)
        self._last = initial
        self._t0 = time.time()
        self._counters0: dict[str, int] = {}
        self._last_postfix = 0.0
        self._last_print = self._t0
        self._deadline = deadline

    def record_returns(self, returns: list[float]) -> None:
        self._returns.extend(returns)

    def update(self, position: int, epsilon: float | None = None, updates: int | None = None,
               steps: int | None = None) -> None:
        """Move the bar to ``position`` and refresh the extra fields (``updates``, ``steps``: running totals)."""
        self._bar.update(position - self._last)
        self._last = position
        now = time.time()
        if self._bar.disable or now - self._last_postfix < 1.0:
            return
        self._last_postfix = now
        postfix = {}
        if self._returns:
            postfix["return10"] = f"{sum(self._returns) / len(self._returns):.1f}"
        if epsilon is not None:
            postfix["eps"] = f"{epsilon:.3f}"
        for name, total in (("upd", updates), ("step", steps)):
            if total is not None:
                first = self._counters0.setdefault(name, total)
                postfix[f"{name}/s"] = f"{(total - first) / max(now - self._t0, 1e-9):.1f}"
        if steps is not None:
            postfix["steps"] = str(steps)
        if self._deadline is not None:
            postfix["stops_in"] = f"{max(self._deadline - now, 0) / 60:.0f}min"
        self._bar.set_postfix(postfix, refresh=False)
        if now - self._last_print >= self._bar.mininterval:
            # tqdm prints only when its count moves; a bar of episodes must still show its steps while the
            # episodes run (a PGD-50 evaluation can go minutes without an episode ending)
            self._bar.refresh()
            self._last_print = now

    def close(self) -> None:
        self._bar.close()
