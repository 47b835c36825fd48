"""The latency harness: side-by-side entries with ratios and cosines vs the first, rounds, skipped entries, MACs."""

from __future__ import annotations

import json

import pytest

from reid_runtime.bench.latency import bench_latency, macs_from_flops
from reid_runtime.errors import ReidError

QUICK = {"runs": 2, "warmup": 0, "min_seconds": 0}


def test_models_are_timed_side_by_side_with_ratios_and_cosines_vs_the_first(sta_onnx, sta_split):
    report = bench_latency([sta_onnx, sta_split], batch_sizes=(1, 2), seq_lens=(2, 3), rounds=2, **QUICK)
    full, split = report.entries
    assert (full.status, split.status) == ("ok", "ok") and report.baseline is full
    assert full.label == "sta.onnx [onnxruntime]" and split.mode == "split" and full.mode == "full"
    assert [(r.batch, r.seq) for r in split.rows] == [(1, 2), (1, 3), (2, 2), (2, 3)]
    for row in split.rows:
        first = full.row(row.batch, row.seq)
        assert row.vs_first == pytest.approx(first.p50_ms / row.p50_ms)
        assert row.frames_per_s == pytest.approx(row.tracklets_per_s * row.seq)
        assert row.peak_rss_mb > 0 and len(row.p50_rounds) == 2 and row.p50_ms in row.p50_rounds
    assert all(r.vs_first == pytest.approx(1.0) for r in full.rows)
    # the split pair computes the same embeddings as the full graph, on the same random clips
    assert split.cosine_min_vs_first > 0.9999 and full.cosine_min_vs_first == pytest.approx(1.0)
    assert split.size_mb > full.size_mb * 0.9  # backbone + head files both count
    assert "x first" in report.table() and "throughput vs first" in report.markdown()
    assert json.loads(json.dumps(report.to_dict()))["entries"][1]["rows"][0]["vs_first"] > 0


def test_a_file_on_the_wrong_backend_is_skipped_with_the_reason(sta_onnx):
    report = bench_latency([sta_onnx], backends=("auto", "onnxruntime", "tensorrt"), **QUICK)
    assert [e.label for e in report.entries] == ["sta.onnx [onnxruntime]", "sta.onnx [tensorrt]"]
    trt = report.entries[1]
    assert trt.status == "skipped" and "runs on onnxruntime, not tensorrt" in trt.reason and not trt.rows
    assert "skipped: a .onnx file runs on onnxruntime" in report.table()


def test_bad_input_is_a_one_line_error(sta_onnx, tmp_path):
    with pytest.raises(ReidError, match="missing.onnx: model file not found"):
        bench_latency([tmp_path / "missing.onnx"], **QUICK)
    with pytest.raises(ReidError, match="unknown backend.*tensor.*onnxruntime"):
        bench_latency([sta_onnx], backends=("tensor",), **QUICK)
    with pytest.raises(ReidError, match="batch sizes"):
        bench_latency([sta_onnx], batch_sizes=(0,), **QUICK)


def test_a_failing_model_is_reported_and_the_others_still_run(sta_onnx, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a graph")
    report = bench_latency([broken, sta_onnx], **QUICK)
    assert report.entries[0].status == "failed" and "broken.onnx" in report.entries[0].label
    assert report.entries[1].status == "ok" and report.baseline is report.entries[1]


def test_macs_from_the_flops_benchmark_give_achieved_gflops_and_peak_fraction(sta_onnx, tmp_path):
    flops = tmp_path / "flops.json"
    flops.write_text(json.dumps({"rows": [{"model": "sta_tiny", "input_size": [64, 32], "seq_len": 2,
                                           "per_clip": 10**7}]}))
    report = bench_latency([sta_onnx], seq_lens=(2,), measure_peak=True, peak_n=64, macs=macs_from_flops(flops),
                           **QUICK)
    row = report.entries[0].rows[0]
    assert row.macs_per_clip == 10**7
    assert row.gflops == pytest.approx(2 * 10**7 / (row.p50_ms * 1e-3) / 1e9)
    assert report.fp32_peak_gflops > 0 and row.peak_fraction == pytest.approx(row.gflops / report.fp32_peak_gflops)
    assert {p["when"] for p in report.peak} == {"before", "after"}
    assert "% of FP32 peak" in report.markdown() and "Matrix-multiply peak" in report.markdown()
    with pytest.raises(ReidError, match="not a flops.json"):
        macs_from_flops(sta_onnx)


def test_a_checkpoint_runs_on_the_torch_backend_where_torch_is_installed(sta_checkpoint, sta_onnx):
    pytest.importorskip("torch")
    report = bench_latency([sta_onnx, sta_checkpoint], seq_lens=(3,), **QUICK)
    torch_entry = report.entries[1]
    assert torch_entry.label == "sta.pt [torch]" and torch_entry.status == "ok", torch_entry.reason
    assert torch_entry.cosine_min_vs_first > 0.9999  # the export computes what the checkpoint computes
    assert torch_entry.rows[0].vs_first > 0
