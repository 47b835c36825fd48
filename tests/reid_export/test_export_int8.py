"""INT8 exports: the TensorRT-ready QDQ graph (onnx-int8), the CPU graph ONNX Runtime runs in integer end to end
(onnx-int8-cpu), calibration on a training split only, the calibration methods and the held-out refusal."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, numpy_helper

from reid_export import api, int8
from reid_export.fp16 import fp32_nodes
from reid_runtime.data.registry import load_dataset
from reid_runtime.errors import ReidError

WEIGHT_INPUT = {"Conv": 1, "Gemm": 1, "MatMul": 1}


@pytest.fixture(scope="module")
def int8_files(tmp_path_factory, checkpoints, synth_mars):
    """format -> (path, ExportResult): the sta_tiny checkpoint in both INT8 formats, calibrated on the synthetic
    MARS root (its train split), checked on a small (B, T) grid."""
    folder = tmp_path_factory.mktemp("int8")
    files = {}
    for name, method in (("onnx-int8", "minmax"), ("onnx-int8-cpu", "percentile")):
        out = folder / f"{name}.onnx"
        files[name] = out, api.export(checkpoints["sta_tiny"], name, out, calib=synth_mars, calib_method=method)
    return files


def _graph(path) -> onnx.GraphProto:
    return onnx.load(str(path)).graph


def test_tensorrt_graph_has_only_what_the_tensorrt_parser_accepts(int8_files):
    """TensorRT explicit quantization: int8 Q/DQ with zero point 0, per-tensor on activations, per output channel on
    the weights of Conv / Gemm / MatMul, no DequantizeLinear of an int32 bias, standard-domain nodes only and no
    opset import that no node uses (onnx-tensorrt#850, onnxruntime#14229)."""
    model = onnx.load(str(int8_files["onnx-int8"][0]))
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producers = {name: node for node in graph.node for name in node.output}
    users = {}
    for node in graph.node:
        for index, name in enumerate(node.input):
            users.setdefault(name, []).append((node, index))
    qdq = [node for node in graph.node if node.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert qdq
    weights = 0
    for node in qdq:
        scale, zero = inits[node.input[1]], inits[node.input[2]]
        assert zero.data_type == TensorProto.INT8 and not numpy_helper.to_array(zero).any(), node.name
        assert scale.data_type == TensorProto.FLOAT and (numpy_helper.to_array(scale) > 0).all()
        source = node.input[0]
        if node.op_type == "QuantizeLinear":  # activations only, per tensor
            assert source not in inits and scale.dims in ([], [1]), node.name
        elif source in inits:  # stored int8 weights -> the weight input of a Conv / Gemm / MatMul, per channel
            weights += 1
            assert inits[source].data_type == TensorProto.INT8, f"{node.name}: an int32 bias DequantizeLinear"
            (user, index), = users[node.output[0]]
            assert WEIGHT_INPUT.get(user.op_type) == index, node.name
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            assert user.op_type != "Conv" or (axis == 0 and list(scale.dims) == [inits[source].dims[0]]), node.name
        else:  # an activation: Q -> DQ, per tensor
            assert producers[source].op_type == "QuantizeLinear" and scale.dims in ([], [1]), node.name
    convs = [node for node in graph.node if node.op_type == "Conv"]
    assert weights >= len(convs) > 0
    for conv in convs:  # float bias straight from an initializer
        assert len(conv.input) < 3 or inits[conv.input[2]].data_type == TensorProto.FLOAT
    assert {node.domain for node in graph.node} <= {""}
    assert [(entry.domain, entry.version) for entry in model.opset_import] == [("", 20)]
    assert int8.tensorrt_problems(model) == []


def test_cpu_graph_is_not_for_tensorrt(int8_files):
    problems = int8.tensorrt_problems(onnx.load(str(int8_files["onnx-int8-cpu"][0])))
    assert problems and all("UINT8" in line for line in problems)


def test_residual_additions_are_quantized_and_the_score_path_is_not(int8_files):
    for path, _ in int8_files.values():
        model = onnx.load(str(path))
        producers = {name: node.op_type for node in model.graph.node for name in node.output}
        head = set(fp32_nodes(model))
        adds = [node for node in model.graph.node if node.op_type == "Add" and node.name not in head]
        assert adds and all(producers.get(name) == "DequantizeLinear" for node in adds for name in node.input)
        assert not [node.name for node in model.graph.node if node.name in head
                    and any(producers.get(name) == "DequantizeLinear" for name in node.input)]


def _optimized(path, tmp_path) -> Counter:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    options.log_severity_level = 3
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return Counter(node.op_type for node in onnx.load(str(tmp_path / "optimized.onnx")).graph.node)


def test_onnxruntime_runs_every_conv_and_residual_add_of_the_cpu_graph_in_integer(int8_files, tmp_path):
    path, _ = int8_files["onnx-int8-cpu"]
    convs = sum(node.op_type == "Conv" for node in _graph(path).node)
    adds = sum(node.op_type == "Add" for node in _graph(path).node)
    ops = _optimized(path, tmp_path)
    assert convs > 0 and ops["Conv"] == 0 and ops["FusedConv"] == 0
    assert ops["QLinearConv"] + ops["ConvInteger"] == convs
    assert ops["QLinearAdd"] == adds and ops["Add"] == 0


def test_int8_exports_agree_with_fp32_on_held_out_training_clips(int8_files):
    for name, (_, result) in int8_files.items():
        note = next(line for line in result.notes if line.startswith("INT8 vs PyTorch FP32 on"))
        assert "held-out training clips" in note and "thresholds 0.98 and 1: ok" in note, note
        assert result.verification.passed and result.precision == "int8" and result.format == name
        assert any("from the mars train split" in line for line in result.notes)
    assert "percentile" in " ".join(int8_files["onnx-int8-cpu"][1].notes)


def test_calibration_reads_the_train_split_only(synth_mars):
    splits = load_dataset("mars", synth_mars, attributes=False)
    train = {frame for tracklet in splits.train for frame in tracklet.frames}
    test = {frame for tracklet in splits.query + splits.gallery for frame in tracklet.frames}
    paths, source = int8.calibration_paths(synth_mars, seq_len=4)
    assert paths == int8.calibration_paths(synth_mars, seq_len=4, dataset="mars")[0]
    frames = {frame for clip in paths for frame in clip}
    assert source.startswith("the mars train split") and frames <= train and not frames & test
    assert all(len(clip) == 4 for clip in paths) and len(paths) >= 2
    few, _ = int8.calibration_paths(synth_mars, seq_len=2, max_images=8)
    assert sum(len(clip) for clip in few) <= 8 and len({clip[0] for clip in few}) == len(few)


def test_a_folder_holding_test_frames_is_refused(tmp_path, synth_mars):
    folder = tmp_path / "crops"  # a copy of the dataset without info/: no reader takes it, so a folder of crops
    shutil.copytree(synth_mars / "bbox_train", folder / "bbox_train")
    shutil.copytree(synth_mars / "bbox_test", folder / "bbox_test")
    with pytest.raises(ReidError, match="holds test-split frames \\(bbox_test/"):
        int8.calibration_paths(folder, seq_len=4)
    paths, source = int8.calibration_paths(folder / "bbox_train", seq_len=4)
    assert source.startswith("the images under") and paths


def test_export_refuses_below_the_threshold_and_writes_nothing(tmp_path, checkpoints, synth_mars):
    out = tmp_path / "m.onnx"
    refused = r"held-out training clips: min cosine 0.9[0-9]* < 1 \(embedding off\); nothing"
    with pytest.raises(int8.Int8AccuracyError, match=refused):
        api.export(checkpoints["sta_tiny"], "onnx-int8-cpu", out, calib=synth_mars, min_cosine=1.0)
    assert not out.exists()


def test_export_refuses_int8_that_loses_the_differences_between_clips(tmp_path, checkpoints, synth_mars):
    """Embeddings that barely differ between clips (as in a collapsed or barely trained model): INT8 keeps every
    cosine near 1, yet its error exceeds the differences that retrieval ranks by, so the export is refused."""
    import torch

    from reid_train.engine.checkpoint import save_checkpoint

    path = tmp_path / "collapsed.pt"
    payload = torch.load(checkpoints["sta_tiny"], weights_only=True)
    for bn in ("backbone.layer4.0.bn2", "backbone.layer4.0.downsample.1"):  # the last block: ~constant features
        payload["model"][f"{bn}.weight"].fill_(1e-4)
        payload["model"][f"{bn}.bias"].fill_(1.5)
    save_checkpoint(path, payload)
    out = tmp_path / "m.onnx"
    refused = r"INT8 error is [0-9.e+]+ x the spread between the clips' embeddings \(allowed 1; min cosine (0\.99|1\.0)"
    with pytest.raises(int8.Int8AccuracyError, match=refused):
        api.export(path, "onnx-int8-cpu", out, calib=synth_mars)
    assert not out.exists()


def test_cli_calibration_method_entropy_and_its_choices(reid, tmp_path, checkpoints, synth_mars):
    out = tmp_path / "m.onnx"
    run = reid("export", "--model", checkpoints["sta_tiny"], "--format", "onnx-int8-cpu", "--out", out,
               "--calib", synth_mars, "--calib-dataset", "mars", "--calib-method", "entropy", "--calib-max-images",
               "32", "--no-verify", "--json")
    assert run.code == 0, run.err
    notes = " ".join(json.loads(run.out)["notes"])
    assert "calibrated with entropy on 6 clips of T=4 from the mars train split" in notes and "not checked" in notes
    run = reid("export", "--model", checkpoints["sta_tiny"], "--format", "onnx-int8", "--out", out, "--calib",
               synth_mars, "--calib-method", "kl")
    assert run.code == 2 and "'minmax', 'percentile', 'entropy'" in run.err
    run = reid("export", "--model", checkpoints["sta_tiny"], "--format", "onnx", "--out", tmp_path / "f.onnx",
               "--calib-method", "entropy")
    assert run.code == 2 and "formats that take it: onnx-int8, onnx-int8-cpu, tensorrt" in run.err


def test_calibration_keeps_a_few_clips_in_memory_at_once():
    reader = int8.ClipReader(np.zeros((6, 2, 3, 4, 2), dtype=np.float32), "full")
    assert len(reader) == 6 and int8._chunk(6) == 3 and int8._chunk(7) == 1 and int8._chunk(12) == 4
    reader.set_range(3, 6)
    assert [reader.get_next() is not None for _ in range(4)] == [True, True, True, False]
