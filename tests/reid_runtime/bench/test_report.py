"""The one result writer, and the pictures: drawn with matplotlib, skipped with a note without it."""

from __future__ import annotations

import json

import pytest

from reid_runtime.bench import plots, report
from reid_runtime.bench.machine import describe_machine


def _write(tmp_path, plot=None):
    return report.write_report(tmp_path, "demo", title="A benchmark", command="reid bench demo --out x",
                               machine=describe_machine(), table="| a |\n|---|\n| 1 |",
                               payload={"rows": [1, 2]}, notes=["one note"], plot=plot)


def test_json_and_markdown_carry_command_machine_table_and_notes(tmp_path):
    written = _write(tmp_path)
    assert [p.name for p in written.files] == ["demo.json", "demo.md"] and not written.skipped
    payload = json.loads((tmp_path / "demo.json").read_text())
    assert payload["command"] == "reid bench demo --out x" and payload["rows"] == [1, 2]
    assert payload["machine"]["cpu_flags"] == describe_machine()["cpu_flags"]
    text = (tmp_path / "demo.md").read_text()
    assert text.startswith("# A benchmark") and "Command: `reid bench demo --out x`" in text
    assert "CPU flags" in text and "| 1 |" in text and "- one note" in text


def test_without_matplotlib_the_picture_is_skipped_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(plots, "available", lambda: False)
    written = _write(tmp_path, plot=plots.plot_latency)
    assert written.skipped == ["demo.png: matplotlib not installed: no plot"]
    assert not (tmp_path / "demo.png").exists()
    assert "matplotlib not installed: no plot" in (tmp_path / "demo.md").read_text()


def test_with_matplotlib_the_latency_picture_is_drawn(sta_onnx, tmp_path):
    pytest.importorskip("matplotlib")
    from reid_runtime.bench.latency import bench_latency

    result = bench_latency([sta_onnx], seq_lens=(2, 3), runs=1, warmup=0, min_seconds=0)
    written = report.write(result, tmp_path, "latency", plot=plots.plot_latency)
    assert (tmp_path / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![" in (tmp_path / "latency.md").read_text() and not written.skipped
