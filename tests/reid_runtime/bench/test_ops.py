"""reid bench ops: per-operator time of a call, from onnxruntime's profiler (OpenVINO's in test_openvino_backend.py)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import reid_runtime
from reid_runtime.backends.base import OpTime
from reid_runtime.backends.onnxruntime_backend import read_profile
from reid_runtime.bench.ops import bench_ops, summarize
from reid_runtime.cli.main import cli
from reid_runtime.errors import ReidError


def test_summarize_leaves_out_the_warmup_calls_and_averages_per_call():
    times = [OpTime(call, "full", f"conv{i}", "Conv", "CPU", 100.0 if call == 0 else 2.0) for call in range(3)
             for i in range(2)]
    times += [OpTime(call, "full", "relu", "Relu", "CPU", 1.0) for call in range(3)]
    calls, node_ms, rows = summarize(times, skip=1)
    assert calls == 2 and node_ms == pytest.approx(5.0)  # the 100 ms first call is not in it
    assert [(r.op, r.nodes, r.ms) for r in rows] == [("Conv", 2, pytest.approx(4.0)), ("Relu", 1, pytest.approx(1.0))]
    assert sum(r.share for r in rows) == pytest.approx(1.0) and rows[0].share == pytest.approx(0.8)


def test_read_profile_keeps_kernel_times_inside_model_runs(tmp_path):
    events = [
        {"cat": "Session", "name": "session_initialization", "ts": 0, "dur": 50},
        {"cat": "Node", "name": "init_conv_kernel_time", "ts": 10, "dur": 7, "args": {"op_name": "Conv"}},
        {"cat": "Session", "name": "model_run", "ts": 100, "dur": 50},
        {"cat": "Node", "name": "conv_fence_before", "ts": 101, "dur": 0, "args": {"op_name": "Conv"}},
        {"cat": "Node", "name": "conv_kernel_time", "ts": 102, "dur": 30,
         "args": {"op_name": "QLinearConv", "provider": "CPUExecutionProvider"}},
        {"cat": "Session", "name": "model_run", "ts": 200, "dur": 50},
        {"cat": "Node", "name": "conv_kernel_time", "ts": 210, "dur": 20,
         "args": {"op_name": "QLinearConv", "provider": "CPUExecutionProvider"}},
    ]
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(events))
    assert read_profile(path, "full") == [OpTime(0, "full", "conv", "QLinearConv", "CPU", 0.03),
                                          OpTime(1, "full", "conv", "QLinearConv", "CPU", 0.02)]


def test_onnxruntime_records_every_call_of_a_profiled_model(sta_onnx):
    import numpy as np

    onnx = pytest.importorskip("onnx")
    model = reid_runtime.load(sta_onnx, threads=1, profile=True)
    frames = np.random.default_rng(0).uniform(0, 255, (2, 3, 3, *model.info.input_size)).astype(np.float32)
    for _ in range(3):
        model.backend.run_full(frames)
    times = model.backend.op_times()
    assert {t.call for t in times} == {0, 1, 2} and all(t.graph == "full" and t.ms >= 0 for t in times)
    graph_ops = {node.op_type for node in onnx.load(str(sta_onnx)).graph.node}
    per_call = {t.op for t in times if t.call == 2}
    # onnxruntime fuses Conv + BatchNorm + Relu: the profile names what ran, not the file's ops
    assert "Conv" in graph_ops and per_call & {"Conv", "FusedConv"} and "BatchNormalization" not in per_call
    with pytest.raises(ReidError, match="loaded without profile=True"):
        reid_runtime.load(sta_onnx, threads=1).backend.op_times()


def test_bench_ops_table_per_model(sta_onnx, sta_split):
    report = bench_ops([sta_onnx, sta_split], ["auto"], batch=1, seq_len=2, threads=1, runs=3, warmup=1, top=3)
    full, split = report.entries
    assert full.status == "ok" and full.calls == 3 and full.backend == "onnxruntime"
    assert full.node_ms > 0 and full.wall_ms > 0 and sum(r.share for r in full.rows) == pytest.approx(1.0)
    assert [r.ms for r in full.rows] == sorted((r.ms for r in full.rows), reverse=True)
    assert split.status == "ok" and {r.graph for r in split.rows} == {"backbone", "head"}
    text = report.table()
    assert "sta.onnx on onnxruntime" in text and "other kinds" in text  # more than --top kinds: the rest summed
    assert "| graph | op | kernel |" in report.markdown()


def test_cli_writes_ops_files_and_skips_what_has_no_profiler(sta_onnx, sta_checkpoint, tmp_path):
    out = tmp_path / "ops"
    result = CliRunner().invoke(cli, ["bench", "ops", "--model", str(sta_onnx), "--model", str(sta_checkpoint),
                                      "--threads", "1", "--runs", "2", "--seq-lens", "2", "--out", str(out),
                                      "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "ops.json").read_text())
    ok, skipped = payload["entries"]
    assert ok["status"] == "ok" and ok["calls"] == 2 and ok["rows"]
    assert skipped["status"] == "skipped" and "no operator profiler" in skipped["reason"]
    assert "Command: `reid bench ops" in (out / "ops.md").read_text()
    failed = CliRunner().invoke(cli, ["bench", "ops", "--model", str(sta_checkpoint)])
    assert failed.exit_code == 1 and "nothing was profiled" in str(failed.exception)
