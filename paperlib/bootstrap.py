"""Percentile bootstrap confidence intervals over states or perturbations."""
from __future__ import annotations

import numpy as np


def bootstrap_interval(values: np.ndarray, statistic=lambda sample: sample.mean(axis=0), resamples: int = 2000,
                       level: float = 0.95, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of ``statistic`` (a function of a sample) resampling the first axis of ``values``.

    Resamples where the statistic is undefined (NaN) are ignored; an interval is NaN if all are.
    """
    values = np.asarray(values)
    if len(values) == 0:
        raise ValueError("cannot bootstrap an empty sample")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(values), size=(resamples, len(values)))
    stats = np.stack([np.asarray(statistic(values[d]), dtype=np.float64) for d in draws])
    alpha = (1 - level) / 2
    if np.isnan(stats).all(axis=0).any():
        return np.full(stats.shape[1:], np.nan), np.full(stats.shape[1:], np.nan)
    return np.nanquantile(stats, alpha, axis=0), np.nanquantile(stats, 1 - alpha, axis=0)


def lower_verdict(first: dict, second: dict, column: str) -> str:
    """Is ``first[column]`` lower than ``second[column]``? Judged with their bootstrap intervals
    (``column + " low"`` / ``" high"``)."""
    if np.isnan(first[column]) or np.isnan(second[column]):
        return "undefined (a statistic is NaN)"
    if first[f"{column} high"] < second[f"{column} low"]:
        return "holds (bootstrap intervals separate)"
    if first[column] < second[column]:
        return "holds on the point estimate only (intervals overlap)"
    return "does not hold"
