"""Latency benchmark: the CLI on a tiny model, skipped backends, ONNX input, the mixed-length workload, GEMM peak."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from reid_export.bench.cli import bench
from reid_export.bench.latency import compare_backends, mars_lengths, mixed_lengths
from reid_export.bench.peak import fp32_peak, measure_peak
from reid_export.bench.plots import plot_mixed

QUICK = ["--runs", "1", "--warmup", "0", "--min-seconds", "0"]


def test_latency_command_times_each_backend_and_writes_json_markdown_and_plot(checkpoints, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(bench, [
        "latency", "--model", str(checkpoints["sta_tiny"]), "--backends", "onnxruntime,tensorrt,onnxruntime-cuda",
        "--batch", "1,2", "--seq", "2,3", "--peak-size", "64", "--rounds", "2", "--out", str(out), *QUICK])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "latency.json").read_text())
    backends = {b["name"]: b for b in report["backends"]}
    ort = backends["onnxruntime"]
    assert ort["status"] == "ok" and ort["cosine_min"] > 0.9999
    assert [(r["batch"], r["seq"]) for r in ort["rows"]] == [(1, 2), (1, 3), (2, 2), (2, 3)]
    for row in ort["rows"]:
        assert row["p50_ms"] > 0 and row["peak_rss_mb"] > 0 and row["gflops"] > 0 and row["peak_fraction"] > 0
        assert row["frames_per_s"] == pytest.approx(row["tracklets_per_s"] * row["seq"])
        assert len(row["p50_rounds"]) == 2 and row["p50_ms"] in row["p50_rounds"]
    assert backends["tensorrt"]["status"] == "skipped" and "tensorrt" in backends["tensorrt"]["reason"]
    assert backends["onnxruntime-cuda"]["status"] == "skipped" and "CUDA" in backends["onnxruntime-cuda"]["reason"]
    assert report["fp32_peak_gflops"] > 0 and report["machine"]["loadavg_at_start"]
    assert [p["when"] for p in report["peak"] if p["library"] == "numpy"] == ["before", "after round 1",
                                                                               "after round 2"]
    markdown = (out / "latency.md").read_text()
    assert "reid bench latency" in markdown and "skipped" in markdown and "Load average" in markdown
    assert (out / "latency_vs_seq.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "skipped" in result.output


def test_unknown_backend_is_rejected_with_the_valid_names(checkpoints):
    result = CliRunner().invoke(bench, ["latency", "--model", str(checkpoints["sta_tiny"]), "--backends", "tensor"])
    assert result.exit_code == 2
    assert "tensor" in result.output and "onnxruntime-int8" in result.output


def test_onnx_input_times_onnxruntime_and_skips_what_needs_a_checkpoint(sta_onnx):
    report = compare_backends(sta_onnx, ["onnxruntime", "torch", "onnxruntime-int8"], measure_peak=False,
                              warmup=0, min_runs=1, min_seconds=0)
    status = {b.name: (b.status, b.reason) for b in report.backends}
    assert status["torch"][0] == status["onnxruntime-int8"][0] == "skipped"
    assert "checkpoint" in status["torch"][1]
    ort = report.backend("onnxruntime")
    assert ort.status == "ok" and ort.rows[0].macs_per_clip > 0 and ort.cosine_min is None
    assert "ONNX graph" in report.macs_source and ort.rows[0].peak_fraction is None


def test_split_backend_of_asta_is_skipped_with_the_reason(checkpoints):
    report = compare_backends(checkpoints["asta_tiny"], ["onnxruntime-split"], measure_peak=False,
                              num_check_clips=0)
    split = report.backend("onnxruntime-split")
    assert split.status == "skipped" and "cannot be split" in split.reason


def test_mixed_lengths_bucketing_and_packing_embed_all_frames_exactly(checkpoints, tmp_path):
    report = mixed_lengths(checkpoints["sta_tiny"], tracklets=6, cap=40, batch=3, pack_frames=16, fixed=((1, 4),),
                           min_runs=1, min_seconds=0, seed=3)
    by_name = {s.name: s for s in report.strategies}
    total = report.lengths["total_frames"]
    assert total == sum(report.lengths["values"]) and max(report.lengths["values"]) <= 40
    assert by_name["bucketing"].frames_computed == by_name["packing"].frames_computed == total
    assert by_name["padding"].frames_computed >= total
    assert by_name["packing"].cosine_min_vs_exact > 0.9999  # the split graphs give the same embeddings
    assert all(s.frames_per_s > 0 and s.vs_best_fixed > 0 for s in report.strategies)
    png = plot_mixed(report.to_dict(), tmp_path / "mixed.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "best fixed-length" in report.table()


def test_mars_lengths_follow_the_real_distribution(shared_data):
    real, source = mars_lengths(5000, tracks_table=shared_data / "mars-info" / "tracks_test_info.mat")
    fitted, _ = mars_lengths(5000)
    assert "tracks_test_info.mat" in source
    for lengths in (real, fitted):
        assert lengths.min() >= 2 and lengths.max() <= 920
        assert np.mean(lengths) == pytest.approx(55.9, rel=0.1)


def test_gemm_peak_is_measured_per_library():
    results = measure_peak(64, threads=1, libraries=("numpy", "onnxruntime"), min_seconds=0)
    assert {(r.library, r.precision) for r in results} == {("numpy", "fp32"), ("onnxruntime", "fp32"),
                                                           ("onnxruntime", "int8")}
    assert fp32_peak(results) == max(r.gflops for r in results if r.precision == "fp32") > 0
