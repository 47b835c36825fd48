"""``reid bench`` on the edge install (no torch, no matplotlib, no onnx) and its one-line answers to bad input."""

from __future__ import annotations

import json


def test_latency_runs_on_the_edge_install_and_skips_the_plot(run_edge, sta_onnx, tmp_path):
    out = tmp_path / "bench"
    result = run_edge("bench", "latency", "--model", sta_onnx, "--runs", "2", "--min-seconds", "0", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "sta.onnx [onnxruntime]" in result.stdout and "matplotlib not installed: no plot" in result.stdout
    report = json.loads((out / "latency.json").read_text())
    assert report["entries"][0]["status"] == "ok" and report["entries"][0]["rows"][0]["p50_ms"] > 0
    assert "torch" not in report["machine"]["versions"] and "onnxruntime" in report["machine"]["versions"]
    assert report["command"].startswith("reid bench latency --model ")
    assert (out / "latency.md").is_file() and not (out / "latency.png").exists()


def test_a_checkpoint_is_skipped_on_the_edge_install_naming_the_extra(run_edge, sta_onnx, sta_checkpoint):
    result = run_edge("bench", "latency", "--model", sta_onnx, "--model", sta_checkpoint, "--runs", "1",
                      "--min-seconds", "0", "--json")
    assert result.returncode == 0, result.stderr
    entries = {e["label"]: e for e in json.loads(result.stdout)["entries"]}
    skipped = entries["sta.pt [torch]"]
    assert skipped["status"] == "skipped" and "needs reid-toolkit[train]" in skipped["reason"]
    assert entries["sta.onnx [onnxruntime]"]["status"] == "ok"


def test_bench_help_lists_latency_and_what_is_not_installed(run_edge):
    result = run_edge("bench", "--help")
    assert result.returncode == 0, result.stderr
    commands, _, missing = result.stdout.partition("Commands:")[2].partition("Not installed here")
    assert "latency" in commands
    for name in ("flops", "formats", "mixed", "tradeoff"):
        assert name in missing and name not in commands
    assert "reid-toolkit[export]" in missing
    answer = run_edge("bench", "flops", "--model", "sta_tiny")
    assert answer.returncode == 1 and len(answer.stderr.strip().splitlines()) == 1
    assert "reid-toolkit[export]" in answer.stderr


def test_bad_input_is_one_line_and_exit_2(run_edge, sta_onnx, tmp_path):
    for args in (["--model", tmp_path / "missing.onnx"], ["--model", sta_onnx, "--backends", "tensor"],
                 ["--model", sta_onnx, "--batch-sizes", "0"]):
        result = run_edge("bench", "latency", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
