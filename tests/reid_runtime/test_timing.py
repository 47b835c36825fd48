"""The timing harness: warm-up excluded, enough runs, outliers clipped."""

from __future__ import annotations

import time

from reid_runtime.timing import measure, peak_rss_mb


def test_warmup_runs_are_not_timed_and_outliers_are_clipped():
    calls = []

    def fn():
        calls.append(1)
        time.sleep(0.05 if len(calls) in (1, 2, 9) else 0.001)  # two slow warm-ups, one slow timed outlier

    timing = measure(fn, warmup=2, min_runs=30, min_seconds=0.0, clip_sigma=3.0)
    assert len(calls) == 2 + timing.runs and timing.runs == 30
    assert timing.clipped == 1
    assert 0.5 < timing.p50_ms < 20 and timing.p50_ms <= timing.p90_ms <= timing.p99_ms


def test_min_seconds_extends_the_runs():
    timing = measure(lambda: time.sleep(0.002), warmup=0, min_runs=2, min_seconds=0.05)
    assert timing.runs >= 10


def test_peak_rss_is_positive():
    assert peak_rss_mb() > 10
