"""The format table: every available format exported, checked against PyTorch, scored and timed."""

from __future__ import annotations

import json

from click.testing import CliRunner

from reid_export.bench.cli import bench


def test_formats_command_checks_scores_and_times_every_format(checkpoints, synth_mars, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(bench, ["formats", "--checkpoint", str(checkpoints["sta_tiny"]), "--data-root",
                                        str(synth_mars), "--dataset", "mars", "--runs", "1", "--min-seconds", "0",
                                        "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["format"]: r for r in json.loads((out / "formats.json").read_text())["rows"]}
    assert list(rows) == ["pytorch", "onnx", "onnx-fp16", "onnx-int8", "onnx-split", "tensorrt"]
    assert rows["tensorrt"]["status"] == "skipped" and "tensorrt" in rows["tensorrt"]["reason"]
    minimum = {"pytorch": 0.99999, "onnx": 0.9999, "onnx-split": 0.9999, "onnx-fp16": 0.999, "onnx-int8": 0.98}
    for name, cosine in minimum.items():
        row = rows[name]
        assert row["status"] == "ok", (name, row["reason"])
        assert row["cosine_min"] >= cosine, name
        assert row["mAP"] is not None and 0 <= row["mAP"] <= 100
        assert row["ms_per_tracklet"] > 0 and row["frames_per_s"] > 0 and row["size_mb"] > 0
    assert rows["onnx"]["mAP"] == rows["pytorch"]["mAP"] or abs(rows["onnx"]["mAP"] - rows["pytorch"]["mAP"]) < 1
    assert rows["onnx-fp16"]["size_mb"] < rows["onnx"]["size_mb"]
    assert rows["onnx-int8"]["size_mb"] < rows["onnx"]["size_mb"]
    assert "ms/tracklet" in result.output and "skipped" in (out / "formats.md").read_text()
