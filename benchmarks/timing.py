"""Side-by-side timing on a shared, noisy machine: warm up every method, then time them interleaved."""
from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable, TypeVar

import torch

Result = TypeVar("Result")


def time_interleaved(methods: dict[str, Callable[[], Result]], repeats: int
                     ) -> tuple[dict[str, list[float]], dict[str, Result]]:
    """Seconds of each of ``repeats`` timed calls per method, and each method's last result.

    Every method runs once untimed first (first-call allocations, kernel selection), then the methods take
    turns, so that a burst of load from other processes hits all of them rather than one.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for method in methods.values():
        method()
    seconds: dict[str, list[float]] = {name: [] for name in methods}
    results: dict[str, Result] = {}
    for _ in range(repeats):
        for name, method in methods.items():
            start = time.perf_counter()
            results[name] = method()
            seconds[name].append(time.perf_counter() - start)
    return seconds, results


def describe(seconds: list[float], per: int = 1) -> str:
    """``median (min-max)`` of ``seconds`` divided by ``per`` (e.g. per state)."""
    values = [s / per for s in seconds]
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def machine() -> str:
    """The CPU model, torch's CPU kernels and threads, and the load average: which form of a computation is
    fastest can differ between machines, and a second job changes the ratios."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = " ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    return (f"{model}, torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()} kernels), "
            f"{torch.get_num_threads()} thread(s), load average {load}")
