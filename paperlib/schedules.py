"""Exploration schedule."""
from __future__ import annotations


def linear_epsilon(step: int, start: float, end: float, decay_steps: int) -> float:
    """Epsilon decayed linearly from ``start`` to ``end`` over ``decay_steps`` env steps, then constant."""
    if decay_steps <= 0:
        return end
    fraction = min(max(step, 0) / decay_steps, 1.0)
    return start + fraction * (end - start)
