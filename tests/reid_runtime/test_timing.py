"""The timing harness: warm-up excluded, enough runs, outliers clipped."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

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


def test_the_high_water_mark_is_reset_per_measurement():
    # In a fresh process: a long test session's allocator may keep freed pages mapped, which says nothing about reset.
    code = textwrap.dedent("""
        import numpy as np
        from reid_runtime.timing import current_peak_rss_mb, reset_peak_rss
        if not reset_peak_rss():
            print("unsupported")
            raise SystemExit(0)
        before = current_peak_rss_mb()
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        grown = current_peak_rss_mb()
        del block
        reset_peak_rss()
        print(before, grown, current_peak_rss_mb())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    if out == ["unsupported"]:
        pytest.skip("this system cannot reset the high-water mark")
    before, grown, after = map(float, out)
    assert grown >= before + 50
    assert after < grown - 50
