"""FP16 (score path kept FP32) and INT8 (QDQ, calibrated on training frames) exports and their agreement with FP32."""

from __future__ import annotations

import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from reid_export.fp16 import convert_fp16, fp16_inputs_in_fp32_region, fp32_nodes
from reid_export.onnx_export import finish_export, read_info
from reid_export.verification import VerificationError, verify
from reid_runtime.errors import ReidError
from reid_train.engine.checkpoint import load_model


def _energy_graph() -> onnx.ModelProto:
    """x (1, 2048) -> Conv-free stand-in of STA's energy: sqrt(sum(x^2)), plus an unrelated Relu branch."""
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Pow", ["r", "two"], ["sq"], name="pow"),
        helper.make_node("ReduceSum", ["sq", "axes"], ["energy"], name="sum", keepdims=1),
        helper.make_node("Sqrt", ["energy"], ["norm"], name="sqrt"),
        helper.make_node("Add", ["x", "x"], ["twice"], name="side"),
    ]
    graph = helper.make_graph(
        nodes, "energy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2048])],
        [helper.make_tensor_value_info("norm", TensorProto.FLOAT, [1, 1]),
         helper.make_tensor_value_info("twice", TensorProto.FLOAT, [1, 2048])],
        [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
         helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)


def test_fp32_block_list_is_the_score_path_and_everything_after_it():
    assert fp32_nodes(_energy_graph()) == ["pow", "sum", "sqrt"]


def test_fp16_runs_the_energy_path_in_fp32_and_the_rest_in_fp16():
    # ORT CPU upcasts FP16 reductions itself, so an overflow would only show on a GPU; check the tensor types.
    converted = onnx.shape_inference.infer_shapes(convert_fp16(_energy_graph()))
    values = list(converted.graph.value_info) + list(converted.graph.input)
    types = {v.name: v.type.tensor_type.elem_type for v in values}
    inputs = {node.name: [types.get(name) for name in node.input] for node in converted.graph.node}
    assert inputs["pow"][0] == TensorProto.FLOAT and inputs["sum"][0] == TensorProto.FLOAT
    assert inputs["side"] == [TensorProto.FLOAT16, TensorProto.FLOAT16]
    x = np.full((1, 2048), 10.0, dtype=np.float32)  # sum of squares 204800 > FP16 max 65504
    session = ort.InferenceSession(converted.SerializeToString(), providers=["CPUExecutionProvider"])
    norm = session.run(["norm"], {"x": x})[0]
    assert norm.dtype == np.float32  # IO float32 even where a blocked node produces the output
    np.testing.assert_allclose(norm, [[np.sqrt(204800.0)]], rtol=1e-6)


def test_fp16_inputs_into_the_fp32_region_are_found():
    converted = convert_fp16(_energy_graph())  # would have raised if the converter had let one through
    region = {"pow", "sum", "sqrt"}
    assert fp16_inputs_in_fp32_region(converted, region) == []
    pow_node = next(node for node in converted.graph.node if node.name == "pow")
    pow_node.input[0] = "r"  # the FP16 Relu output straight into the energy's square
    assert fp16_inputs_in_fp32_region(converted, region) == ["pow <- r"]


def test_cli_onnx_fp16_reports_cosine_and_converts_the_backbone(reid, tmp_path, checkpoints):
    out = tmp_path / "sta_fp16.onnx"
    run = reid("export", "--model", checkpoints["sta_tiny"], "--format", "onnx-fp16", "--out", out)
    assert run.code == 0, run.err
    cosine = float(re.search(r"min cosine ([0-9.]+) vs PyTorch FP32", run.out).group(1))
    assert cosine >= 0.999
    assert re.search(r"frame selections: (all \d+ \(clip, region\) agree|\d+ of \d+ .* near-ties, accepted)", run.out)
    assert f"wrote {out}" in run.out and "fp16" in run.out
    info = read_info(out)
    assert info.precision == "fp16" and info.seq_lengths_verified == [1, 2, 3, 4, 7, 8, 16]
    graph = onnx.load(str(out))
    types = {init.name: init.data_type for init in graph.graph.initializer}
    conv_weights = [node.input[1] for node in graph.graph.node if node.op_type == "Conv"]
    assert conv_weights and all(types[w] == TensorProto.FLOAT16 for w in conv_weights)
    gemm_weights = [node.input[1] for node in graph.graph.node if node.op_type == "Gemm"]
    assert gemm_weights and all(types[w] == TensorProto.FLOAT for w in gemm_weights)  # head stays FP32
    assert [i.type.tensor_type.elem_type for i in graph.graph.input] == [TensorProto.FLOAT]
    assert [o.type.tensor_type.elem_type for o in graph.graph.output] == [TensorProto.FLOAT]
    # no FP16 tensor reaches the score path: energy, scores, argmax and fusion read FP32 only
    inferred = onnx.shape_inference.infer_shapes(graph).graph
    types = {v.name: v.type.tensor_type.elem_type for v in list(inferred.value_info) + list(inferred.input)}
    head = set(fp32_nodes(graph))
    assert {"Pow", "ArgMax", "GatherElements", "Gemm"} <= {node.op_type for node in inferred.node if node.name in head}
    fp16_into_head = [node.name for node in inferred.node if node.name in head
                      and any(types.get(name) == TensorProto.FLOAT16 for name in node.input)]
    assert fp16_into_head == []
    # Eq. 4 (the scores' normalisation over frames) feeds the ArgMax in FP32
    producers = {name: node for node in inferred.node for name in node.output}
    argmax = next(node for node in inferred.node if node.op_type == "ArgMax")
    assert producers[argmax.input[0]].op_type == "Div" and types[argmax.input[0]] == TensorProto.FLOAT


def test_fp16_export_with_a_broken_weight_is_refused(tmp_path, full_exports, checkpoints):
    """One weight of the graph changed (the first convolution's, by 40x its spread): a real error, not rounding.
    It shows as frames selected far beyond a near-tie and embeddings off; nothing is written."""
    from onnx import numpy_helper

    model, _ = load_model(checkpoints["sta_tiny"])
    graph = onnx.load(str(full_exports["sta_tiny"][0]))
    weights = {tensor.name: tensor for tensor in graph.graph.initializer}
    name = next(node for node in graph.graph.node if node.op_type == "Conv").input[1]
    broken = numpy_helper.to_array(weights[name]).copy()
    broken.flat[0] += 40 * broken.std()
    weights[name].CopyFrom(numpy_helper.from_array(broken, name))
    out = tmp_path / "broken_fp16.onnx"
    with pytest.raises(VerificationError, match="does not match PyTorch") as refused:
        finish_export(model, {"full": graph}, out, precision="fp16", seq_lengths=(2, 8), batch_sizes=(2,))
    assert "NO embedding off" in str(refused.value) and not out.exists()


@pytest.fixture(scope="module")
def int8_export(tmp_path_factory, full_exports, checkpoints, synth_mars):
    model, _ = load_model(checkpoints["sta_tiny"])
    graphs = {"full": onnx.load(str(full_exports["sta_tiny"][0]))}
    out = tmp_path_factory.mktemp("int8") / "sta_int8.onnx"
    return out, finish_export(model, graphs, out, precision="int8", calib=synth_mars / "bbox_train")


def test_int8_quantizes_every_conv_and_not_the_score_path(int8_export):
    out, _ = int8_export
    graph = onnx.load(str(out)).graph
    ops = [node.op_type for node in graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops and "ArgMax" in ops
    producers = {name: node.op_type for node in graph.node for name in node.output}
    quantized_weights = {node.input[1] for node in graph.node if node.op_type == "Conv"
                         and producers.get(node.input[1]) == "DequantizeLinear"}
    assert len(quantized_weights) == ops.count("Conv")
    score_path = [node for node in graph.node
                  if node.op_type in ("Pow", "ReduceSum", "ReduceMean", "ArgMax", "GatherElements", "Gemm")]
    assert score_path and not [node.name for node in score_path
                               if any(producers.get(name) == "DequantizeLinear" for name in node.input)]


def test_int8_agrees_with_fp32_on_held_out_clips(int8_export):
    out, result = int8_export
    note = next(n for n in result.notes if n.startswith("INT8 vs PyTorch FP32"))
    assert float(re.search(r"min cosine ([0-9.]+)", note).group(1)) >= 0.98
    assert result.verification.passed
    assert {case.source for case in result.verification.cases} == {"calib-holdout"}
    assert read_info(out).precision == "int8"


def test_split_int8_quantizes_the_backbone_only(tmp_path, split_exports, checkpoints, synth_mars):
    model, _ = load_model(checkpoints["tp_tiny"])
    backbone_path, head_path = split_exports["tp_tiny"][1].files
    graphs = {"backbone": onnx.load(str(backbone_path)), "head": onnx.load(str(head_path))}
    result = finish_export(model, graphs, tmp_path / "tp.onnx", precision="int8", calib=synth_mars / "bbox_train",
                           seq_lengths=(1, 6), batch_sizes=(2,))
    backbone_info, head_info = (read_info(path) for path in result.files)
    assert (backbone_info.precision, head_info.precision) == ("int8", "fp32")
    assert result.verification.passed


def test_int8_verification_needs_real_frames(checkpoints):
    model, _ = load_model(checkpoints["sta_tiny"])
    with pytest.raises(ReidError, match="--data-root"):
        verify(model, lambda frames: None, precision="int8")


def test_too_few_calibration_images_is_reported(tmp_path, full_exports, checkpoints, synth_mars):
    import shutil

    folder = tmp_path / "calib"
    folder.mkdir()
    for image in sorted((synth_mars / "bbox_train").rglob("*.jpg"))[:5]:
        shutil.copy(image, folder / image.name)
    model, _ = load_model(checkpoints["sta_tiny"])
    with pytest.raises(ReidError, match="5 usable images make 1 clip"):
        finish_export(model, {"full": onnx.load(str(full_exports["sta_tiny"][0]))}, tmp_path / "m.onnx",
                      precision="int8", calib=folder)
