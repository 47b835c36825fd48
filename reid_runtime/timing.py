"""A small timing harness: warm-up, enough timed runs, sigma clipping, percentiles; and peak memory. numpy only."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Timing:
    """Per-call wall times in milliseconds after warm-up, with outliers beyond ``clip_sigma`` removed."""

    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    runs: int
    warmup: int
    clipped: int

    def to_dict(self) -> dict:
        return asdict(self)


def measure(fn: Callable[[], object], *, warmup: int = 3, min_runs: int = 10, max_runs: int = 200,
            min_seconds: float = 1.0, clip_sigma: float = 3.0) -> Timing:
    """Call ``fn`` ``warmup`` times untimed, then at least ``min_runs`` times and until ``min_seconds`` have passed
    (at most ``max_runs``); drop runs more than ``clip_sigma`` standard deviations from the median."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - start < min_seconds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    arr = np.asarray(times)
    median, std = float(np.median(arr)), float(arr.std())
    kept = arr[np.abs(arr - median) <= clip_sigma * std] if std > 0 else arr
    return Timing(
        p50_ms=float(np.percentile(kept, 50)), p90_ms=float(np.percentile(kept, 90)),
        p99_ms=float(np.percentile(kept, 99)), mean_ms=float(kept.mean()), std_ms=float(kept.std()),
        runs=int(arr.size), warmup=warmup, clipped=int(arr.size - kept.size),
    )


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def reset_peak_rss() -> bool:
    """Reset this process's resident-memory high-water mark (Linux ``clear_refs``); False where that is not possible,
    and :func:`current_peak_rss_mb` then reads the peak of the whole process so far."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def current_peak_rss_mb() -> float:
    """The resident-memory high-water mark since the last :func:`reset_peak_rss` (``VmHWM``), in MiB; the process
    peak from ``getrusage`` where ``/proc`` is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()
