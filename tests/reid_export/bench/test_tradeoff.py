"""Computation vs performance (reid bench tradeoff): GMACs, parameters, size, speed and mAP of models side by side."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from click.testing import CliRunner

from reid_runtime.cli.main import cli

SIZE = ["--size", "64x32", "--runs", "1", "--min-seconds", "0"]


def float_initializers(path) -> int:
    import onnx
    from onnx import numpy_helper

    arrays = (numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer)
    return sum(a.size for a in arrays if a.dtype.kind == "f")


def test_two_registry_models_side_by_side(tmp_path):
    from reid_export.bench.flops import build_model, count_flops

    out, work = tmp_path / "out", tmp_path / "work"
    models = ["sta_tiny", "tp_tiny"]  # the light backbones' exports are tested in test_export_backbones.py
    result = CliRunner().invoke(cli, ["bench", "tradeoff", "--model", models[0], "--model", models[1], *SIZE,
                                      "--formats", "onnx,onnx-int8-cpu", "--backends", "auto,openvino",
                                      "--out", str(out), "--work", str(work), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    backends = ["onnxruntime"] + (["openvino"] if importlib.util.find_spec("openvino") else [])
    if "openvino" not in backends:
        assert any("Backend openvino: not installed here" in note for note in payload["notes"])
    rows = {(r["model"], r["format"], r["backend"]): r for r in payload["rows"]}
    assert sorted(rows) == sorted((m, f, b) for m in models for f in ("onnx", "onnx-int8-cpu") for b in backends)
    costs = {m["model"]: m for m in payload["models"]}
    for model in models:
        counted = count_flops([model], [4], (64, 32), onnx_check=False).rows[0]
        assert costs[model]["macs_per_clip"] == counted["total"] and costs[model]["input_size"] == [64, 32]
        assert costs[model]["macs_per_frame"] == pytest.approx(counted["total"] / 4)
        assert costs[model]["gmacs_per_clip"] == pytest.approx(counted["total"] / 1e9)
        params = float_initializers(work / model / "onnx" / f"{model}.onnx")
        assert costs[model]["params"] == params and costs[model]["params_apart"] is False
        torch_model = build_model(model, (64, 32))
        classifier = sum(p.numel() for name, p in torch_model.named_parameters() if "classifier" in name)
        trainable = sum(p.numel() for p in torch_model.parameters())
        assert params < trainable - classifier + 10, model  # the identity classifier is not in the deployed graph
        assert costs[model]["mAP"] is None
    for (model, name, backend), row in rows.items():
        assert row["status"] == "ok", (model, name, backend, row["reason"])
        assert row["ms_per_clip"] > 0 and row["clips_per_s"] == pytest.approx(1000 / row["ms_per_clip"])
        assert row["frames_per_s"] == pytest.approx(4 * row["clips_per_s"])
        assert row["params"] == costs[model]["params"] and row["macs_per_clip"] == costs[model]["macs_per_clip"]
        assert row["verified"] is True and row["mAP"] is None and row["size_mb"] > 0
        first = rows[(models[0], name, backend)]
        assert row["vs_first"] == pytest.approx(first["ms_per_clip"] / row["ms_per_clip"])
        if model == models[0]:
            assert row["vs_first"] == 1.0
    for model in models:
        int8, fp32 = rows[(model, "onnx-int8-cpu", "onnxruntime")], rows[(model, "onnx", "onnxruntime")]
        assert int8["size_mb"] < fp32["size_mb"]
    assert (out / "tradeoff.json").is_file() and (out / "tradeoff.md").is_file()
    assert (out / "tradeoff.png").is_file() == (importlib.util.find_spec("matplotlib") is not None)
    text = (out / "tradeoff.md").read_text()
    assert "reid bench tradeoff --model sta_tiny --model tp_tiny" in text and "CPU flags" in text
    assert "x first" in result.stderr and "tp_tiny" in result.stderr


def test_a_checkpoint_is_scored_per_format_and_a_name_is_not(sta_checkpoint, tiny_mars, tmp_path):
    from reid_export.bench.tradeoff import bench_tradeoff
    from reid_runtime.bench import plots
    from reid_runtime.bench.report import write
    from reid_runtime.services.evaluate import evaluate

    report = bench_tradeoff([sta_checkpoint, "sta_tiny"], ["onnx", "onnx-int8-cpu"], size=(64, 32),
                            backends=["auto"], data_root=tiny_mars, dataset="mars", runs=1, min_seconds=0)
    checkpoint = str(sta_checkpoint)
    for name in ("onnx", "onnx-int8-cpu"):
        row = report.row(checkpoint, name, "onnxruntime")
        assert row.status == "ok" and row.ms_per_clip > 0, row.reason
        assert 0 <= row.mAP <= 100 and 0 <= row.R1 <= 100
        assert report.row("sta_tiny", name, "onnxruntime").mAP is None
    reference = evaluate(sta_checkpoint, tiny_mars, "mars", seq_lens=(4,)).row(4)
    assert abs(report.row(checkpoint, "onnx", "onnxruntime").mAP - reference["mAP"]) < 1
    assert report.cost(checkpoint).mAP == report.row(checkpoint, "onnx", "onnxruntime").mAP
    assert report.cost(checkpoint).mAP_format == "onnx" and report.cost("sta_tiny").mAP is None
    assert any("No mAP for sta_tiny" in note for note in report.notes)
    written = write(report, tmp_path, "tradeoff", plot=plots.plot_tradeoff)
    assert f"| {checkpoint} | onnx | onnxruntime | ok |" in (tmp_path / "tradeoff.md").read_text()
    assert written.files[0].name == "tradeoff.json"
    if plots.available():  # GMACs vs parameters (a model without mAP), then GMACs vs mAP (the checkpoint alone)
        assert (tmp_path / "tradeoff.png").is_file()
        payload = report.to_dict()
        scored = {**payload, "models": payload["models"][:1],
                  "rows": [r for r in payload["rows"] if r["model"] == checkpoint]}
        assert plots.plot_tradeoff(scored, tmp_path / "scored.png").stat().st_size > 0


def test_a_failing_format_is_a_row_and_the_others_are_timed(tmp_path):
    empty = tmp_path / "no_crops"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["bench", "tradeoff", "--model", "sta_tiny", *SIZE, "--formats",
                                      "onnx-int8-cpu,onnx-fp16", "--backends", "auto", "--calib", str(empty),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    payload = json.loads((tmp_path / "out" / "tradeoff.json").read_text())
    rows = {r["format"]: r for r in payload["rows"]}
    assert rows["onnx-int8-cpu"]["status"] == "failed" and rows["onnx-int8-cpu"]["backend"] == "-"
    assert "no images" in rows["onnx-int8-cpu"]["reason"] and "\n" not in rows["onnx-int8-cpu"]["reason"]
    assert rows["onnx-fp16"]["status"] == "ok" and rows["onnx-fp16"]["ms_per_clip"] > 0
    assert rows["onnx-fp16"]["vs_first"] == 1.0
    # no FP32 format in the table: its parameters come from an FP32 graph exported for that alone
    assert payload["models"][0]["params"] > 0 and rows["onnx-fp16"]["params"] == payload["models"][0]["params"]
    assert payload["models"][0]["params_apart"] is True
    assert any("sta_tiny: counted on an FP32 graph exported for that alone" in note for note in payload["notes"])
    assert "failed: " in result.output and "Traceback" not in result.output


def test_inputs_that_cannot_be_compared_are_refused(tmp_path, tiny_mars):
    exported = tmp_path / "model.onnx"
    exported.write_bytes(b"")
    result = CliRunner().invoke(cli, ["bench", "tradeoff", "--model", str(exported)])
    assert result.exit_code != 0 and "checkpoint (.pt) or a registry name" in str(result.exception)
    result = CliRunner().invoke(cli, ["bench", "tradeoff", "--model", "sta_tiny", "--data-root", str(tiny_mars)])
    assert result.exit_code != 0 and "--data-root and --dataset together" in str(result.exception)
    result = CliRunner().invoke(cli, ["bench", "tradeoff", "--model", "sta_tiny", "--formats", "onnx,onnx-fp8"])
    assert result.exit_code == 2 and "onnx-fp8" in result.output


def test_parameters_count_float_initializers_only(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from reid_export.bench.tradeoff import onnx_parameters

    weights = numpy_helper.from_array(np.ones((4, 3, 3, 3), dtype=np.float32), "w")
    shape = numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "shape")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weights, shape])
    onnx.save(helper.make_model(graph), tmp_path / "g.onnx")
    assert onnx_parameters(tmp_path / "g.onnx") == 4 * 3 * 3 * 3
