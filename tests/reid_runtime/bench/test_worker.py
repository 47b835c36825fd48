"""The fresh-process protocol: a JSON job in, a JSON answer out (nothing unpickled); errors and crashes are one line."""

from __future__ import annotations

import json

import pytest

from reid_runtime.bench.worker import run_isolated
from reid_runtime.errors import ReidError


def test_job_and_answer_are_json_files(sta_onnx, tmp_path):
    job = {"model": str(sta_onnx), "backend": "auto", "threads": 1, "options": {}, "grid": [[1, 2]], "warmup": 0,
           "min_runs": 1, "max_runs": 1, "min_seconds": 0, "seed": 0, "index": 0, "check_clips": 2, "check_seq": 2}
    result = run_isolated("reid_runtime.bench.latency:time_model", job, tmp_path)
    request = json.loads(next(tmp_path.glob("job-*.json")).read_text())
    answer = json.loads(next(tmp_path.glob("answer-*.json")).read_text())
    assert request["task"] == "reid_runtime.bench.latency:time_model" and request["job"]["grid"] == [[1, 2]]
    assert answer == {"ok": True, "result": result}
    assert result["backend"] == "onnxruntime" and result["rows"][0]["p50_ms"] > 0
    assert result["check"].endswith(".npy")  # arrays travel as .npy files, read with allow_pickle=False
    assert not list(tmp_path.glob("*.pkl"))


def test_an_error_in_the_child_is_one_line(tmp_path):
    with pytest.raises(ReidError, match=r"^peak: KeyError: 'n'$"):
        run_isolated("reid_runtime.bench.peak:peak_task", {}, tmp_path, "peak")


def test_a_child_that_dies_is_reported_with_its_exit_code(tmp_path):
    with pytest.raises(ReidError, match="no_such_module_here"):
        run_isolated("no_such_module_here:task", {}, tmp_path)
    with pytest.raises(ReidError, match="exited with code 1"):  # SystemExit: no answer written
        run_isolated("sys:exit", {}, tmp_path / "x")
