"""The format table: each format exported and verified (reid export), timed next to PyTorch, scored on a dataset."""

from __future__ import annotations

import importlib.util
import json

from click.testing import CliRunner

from reid_runtime.cli.main import cli


def test_formats_command_verifies_times_and_scores_every_format(checkpoints, synth_mars, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["bench", "formats", "--model", str(checkpoints["sta_tiny"]), "--formats",
                                      "onnx,onnx-fp16,onnx-int8,tensorrt", "--data-root", str(synth_mars),
                                      "--dataset", "mars", "--runs", "1", "--min-seconds", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["format"]: r for r in json.loads((out / "formats.json").read_text())["rows"]}
    assert list(rows) == ["pytorch", "onnx", "onnx-fp16", "onnx-int8", "tensorrt"]
    if importlib.util.find_spec("tensorrt") is None:
        assert rows["tensorrt"]["status"] == "skipped" and "reid-toolkit[tensorrt]" in rows["tensorrt"]["reason"]
    minimum = {"onnx": 0.9999, "onnx-fp16": 0.999, "onnx-int8": 0.98}
    for name, cosine in minimum.items():
        row = rows[name]
        assert row["status"] == "ok", (name, row["reason"])
        assert row["verified"] is True and row["cosine_min"] >= cosine, name
        assert row["ms_per_tracklet"] > 0 and row["frames_per_s"] > 0 and row["size_mb"] > 0
        assert row["vs_pytorch"] > 0
    # INT8's error against the spread between its held-out clips, under the refusal line of 1; exact formats: none
    assert 0 < rows["onnx-int8"]["spread_error"] <= 1 and rows["onnx"]["spread_error"] is None
    for row in (rows[name] for name in ("pytorch", *minimum)):
        assert row["mAP"] is not None and 0 <= row["mAP"] <= 100 and row["R1"] is not None
    assert rows["pytorch"]["vs_pytorch"] == 1.0 and rows["pytorch"]["cosine_min"] is None
    assert abs(rows["onnx"]["mAP"] - rows["pytorch"]["mAP"]) < 1
    assert rows["onnx-fp16"]["size_mb"] < rows["onnx"]["size_mb"]
    assert rows["onnx-int8"]["size_mb"] < rows["onnx"]["size_mb"]
    text = (out / "formats.md").read_text()
    assert "ms/tracklet" in result.output and "reid bench formats --model" in text and "CPU flags" in text


def test_unknown_format_and_half_a_dataset_are_refused(checkpoints, synth_mars):
    result = CliRunner().invoke(cli, ["bench", "formats", "--model", str(checkpoints["sta_tiny"]), "--formats",
                                      "onnx,onnx-fp8"])
    assert result.exit_code == 2 and "onnx-fp8" in result.output and "onnx-int8" in result.output
    result = CliRunner().invoke(cli, ["bench", "formats", "--model", str(checkpoints["sta_tiny"]), "--data-root",
                                      str(synth_mars)])
    assert result.exit_code != 0 and "--data-root and --dataset together" in str(result.exception)
