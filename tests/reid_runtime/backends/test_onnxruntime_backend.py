"""ONNX Runtime backend: full and split graphs, providers actually in use, threads, TensorRT EP profiles, errors."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from reid_runtime.aggregation import fuse
from reid_runtime.backends.onnxruntime_backend import (
    OnnxRuntimeBackend,
    envelope,
    resolve_providers,
    trt_profile_shapes,
)
from reid_runtime.errors import ReidError
from reid_runtime.tensorrt_profiles import parse_profiles


def test_full_graph(sta_onnx):
    backend = OnnxRuntimeBackend(sta_onnx, threads=1)
    assert backend.mode == "full" and not backend.has_frame_terms
    assert backend.providers == ["CPUExecutionProvider"]
    assert backend.full.get_session_options().intra_op_num_threads == 1
    assert backend.info.input_size == (64, 32) and backend.info.embedding_dim == 32
    out = backend.run_full(np.random.default_rng(0).uniform(0, 255, (2, 3, 3, 64, 32)))
    assert out.shape == (2, 32) and out.dtype == np.float32


@pytest.mark.parametrize("which", ["backbone", "head"])
def test_split_pair_loads_from_either_file(sta_split, which):
    path = sta_split if which == "backbone" else sta_split.with_name("sta.head.onnx")
    backend = OnnxRuntimeBackend(path)
    assert backend.mode == "split" and backend.has_frame_terms and backend.fusion
    assert backend.info.role == "backbone" and backend.info.aggregation == "sta"
    frames = np.random.default_rng(1).uniform(0, 255, (5, 3, 64, 32)).astype(np.float32)
    scores, strips = backend.run_backbone(frames)
    assert scores.shape == (5, 4) and strips.shape[:2] == (5, 4)
    embedding = backend.run_head(fuse("sta", scores[None], strips[None]))
    assert embedding.shape == (1, 32)


def test_split_graphs_reproduce_the_full_graph(sta_onnx, sta_split):
    full, split = OnnxRuntimeBackend(sta_onnx), OnnxRuntimeBackend(sta_split)
    clip = np.random.default_rng(2).uniform(0, 255, (1, 6, 3, 64, 32)).astype(np.float32)
    scores, strips = split.run_backbone(clip[0])
    fused = fuse("sta", scores[None], strips[None], fusion=split.fusion)
    np.testing.assert_allclose(split.run_head(fused), full.run_full(clip), rtol=1e-4, atol=1e-4)


def test_missing_companion_is_named(sta_split, tmp_path):
    lonely = tmp_path / "sta.backbone.onnx"
    lonely.write_bytes(sta_split.read_bytes())
    with pytest.raises(ReidError, match="companion 'sta.head.onnx'"):
        OnnxRuntimeBackend(lonely)


def test_foreign_and_broken_files(tmp_path):
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10),
              tmp_path / "plain.onnx")
    with pytest.raises(ReidError, match="plain.onnx: not a reid-toolkit export"):
        OnnxRuntimeBackend(tmp_path / "plain.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not protobuf at all")
    with pytest.raises(ReidError, match="junk.onnx: not a loadable ONNX model"):
        OnnxRuntimeBackend(tmp_path / "junk.onnx")


def test_provider_resolution():
    available = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert resolve_providers(None, available) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert resolve_providers(None, ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert resolve_providers(["trt", "cuda"], available) == [
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(ReidError, match="'CUDAExecutionProvider' is not in this onnxruntime build"):
        resolve_providers(["cuda"], ["CPUExecutionProvider"])


def test_tensorrt_ep_profile_covers_every_dynamic_input(sta_onnx, sta_split):
    profile = envelope(parse_profiles("1-32x1-4,1-16x5-8@8x8"))
    assert (profile.min_batch, profile.max_batch, profile.min_seq, profile.max_seq) == (1, 32, 1, 8)
    assert (profile.opt_batch, profile.opt_seq) == (32, 4)  # tuned for the shortest bucket
    full = trt_profile_shapes(OnnxRuntimeBackend(sta_onnx).full, profile)
    assert full == {"trt_profile_min_shapes": "frames:1x1x3x64x32", "trt_profile_opt_shapes": "frames:32x4x3x64x32",
                    "trt_profile_max_shapes": "frames:32x8x3x64x32"}
    split = OnnxRuntimeBackend(sta_split)
    assert trt_profile_shapes(split.backbone, profile)["trt_profile_max_shapes"] == "frames:256x3x64x32"
    assert trt_profile_shapes(split.head, profile)["trt_profile_opt_shapes"] == "fused:128x256"


# --- hostile or damaged models: one ReidError naming the file and what was expected ------------------------------

F = TensorProto.FLOAT


def _props(path):
    return {p.key: p.value for p in onnx.load(path).metadata_props}


def _tiny(path, inputs, outputs, props):
    """A graph with the given inputs and outputs ((name, shape, type)); outputs are constants, inputs unused."""
    nodes, constants = [], []
    for name, shape, _ in outputs:
        value = np.zeros([d if isinstance(d, int) else 1 for d in shape], np.float32)
        constants.append(onnx.numpy_helper.from_array(value, f"c_{name}"))
        nodes.append(helper.make_node("Identity", [f"c_{name}"], [name]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, s, t in inputs],
                              [helper.make_tensor_value_info(n, t, s) for n, s, t in outputs], constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, path)
    return path


FULL_IN = [("frames", ["batch", "seq", 3, 64, 32], F)]
FULL_OUT = [("embedding", ["batch", 32], F)]
BACKBONE_IN = [("frames", ["n", 3, 64, 32], F)]
BACKBONE_OUT = [("scores", ["n", 4], F), ("strips", ["n", 4, 16], F)]


@pytest.mark.parametrize(("inputs", "outputs", "props", "message"), [
    ([("frames", ["n", 3, 64, 32], F)], FULL_OUT, {},
     r"input 'frames' has rank 4 \[n, 3, 64, 32\]; expected rank 5 \(batch, seq, 3, H, W\) for a role=full graph"),
    ([("images", ["batch", "seq", 3, 64, 32], F)], FULL_OUT, {},
     r"expected one input 'frames' \(batch, seq, 3, H, W\) for a role=full graph; this graph takes 'images'"),
    (FULL_IN + [("extra", [1], F)], FULL_OUT, {}, "expected one input 'frames'"),
    (FULL_IN, [("features", ["batch", 32], F)], {}, "expected an output 'embedding' .* this graph outputs 'features'"),
    (FULL_IN, [("embedding", ["batch", 4, 32], F)], {}, r"output 'embedding' has rank 3 .* expected rank 2"),
    ([("frames", ["batch", "seq", 3, 64, 32], TensorProto.INT64)], FULL_OUT, {},
     "input 'frames' is tensor.int64.; expected tensor.float"),
    ([("frames", ["batch", "seq", 1, 64, 32], F)], FULL_OUT, {}, "input 'frames' has 1 channels"),
    (FULL_IN, FULL_OUT, {"reid.input_size": "128x64"},
     r"the graph takes 64x32 frames but its metadata says 128x64 \(reid.input_size\)"),
    ([("frames", ["batch", "seq", 3, 64, "w"], F)], FULL_OUT, {"reid.input_size": "128x32"},
     "frames of height 64 but its metadata says 128x32"),
    (FULL_IN, FULL_OUT, {"reid.embedding_dim": "64"},
     "output 'embedding' is 32-d but its metadata says reid.embedding_dim 64"),
    (FULL_IN, FULL_OUT, {"reid.input_size": "64by32"}, "metadata reid.input_size is '64by32', expected HxW"),
    (FULL_IN, FULL_OUT, {"reid.embedding_dim": "-3"}, "metadata reid.embedding_dim is '-3', expected a positive"),
    (FULL_IN, FULL_OUT, {"reid.model_config": "{broken"}, "metadata reid.model_config is '{broken', expected a JSON"),
    (FULL_IN, FULL_OUT, {"reid.metric": "manhattan"}, "metadata reid.metric is 'manhattan', expected one of"),
    (FULL_IN, FULL_OUT, {"reid.aggregation": "max"}, "metadata reid.aggregation is 'max', expected one of"),
    (FULL_IN, FULL_OUT, {"reid.role": "backbone"}, "input 'frames' has rank 5 .* expected rank 4 .* role=backbone"),
    (BACKBONE_IN, BACKBONE_OUT, {"reid.role": "backbone", "reid.companion": ""}, "names no companion graph"),
    (BACKBONE_IN, BACKBONE_OUT, {"reid.role": "backbone", "reid.companion": "../elsewhere/head.onnx"},
     "metadata reid.companion is '../elsewhere/head.onnx'; expected the file name"),
    ([("frames", ["n", 3, 64, 32], F)], [("scores", ["n", 2], F), ("strips", ["n", 2, 16], F)],
     {"reid.role": "backbone", "reid.companion": "x.onnx"}, "output 'scores' has 2 regions .* reid.num_regions 4"),
])
def test_a_graph_that_breaks_the_contract_is_one_line(sta_onnx, tmp_path, inputs, outputs, props, message):
    path = _tiny(tmp_path / "bad.onnx", inputs, outputs, _props(sta_onnx) | props)
    with pytest.raises(ReidError, match=message) as error:
        OnnxRuntimeBackend(path)
    assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)


def test_outputs_are_checked_when_the_graph_runs(sta_onnx, tmp_path):
    path = _tiny(tmp_path / "const.onnx", FULL_IN, [("embedding", ["batch", 32], F)], _props(sta_onnx))
    backend = OnnxRuntimeBackend(path)  # loads: the declared shapes match; the constant has one row only
    with pytest.raises(ReidError, match=r"const.onnx: output 'embedding' of the full graph has shape \[1, 32\] for 2"):
        backend.run_full(np.zeros((2, 2, 3, 64, 32), np.float32))


def test_truncated_and_non_onnx_files(sta_onnx, tmp_path):
    (tmp_path / "cut.onnx").write_bytes(sta_onnx.read_bytes()[:5000])
    (tmp_path / "text.onnx").write_text("hello")
    for name in ("cut.onnx", "text.onnx"):
        with pytest.raises(ReidError, match=f"{name}: not a loadable ONNX model, the file is not ONNX, truncated"):
            OnnxRuntimeBackend(tmp_path / name)


def _set(path, **props):
    model = onnx.load(path)
    for prop in model.metadata_props:
        if prop.key in props:
            prop.value = props[prop.key]
    onnx.save(model, path)


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d, full: _set(d / "sta.head.onnx", **{"reid.architecture": "tp_tiny"}),
     "sta.head.onnx: not the head of sta.backbone.onnx: their metadata differ in reid.architecture"),
    (lambda d, full: _set(d / "sta.head.onnx", **{"reid.companion": "other.backbone.onnx"}),
     "sta.head.onnx: not the head of sta.backbone.onnx: it names 'other.backbone.onnx'"),
    (lambda d, full: (d / "sta.head.onnx").write_bytes(full.read_bytes()),
     "sta.head.onnx: expected the head graph of sta.backbone.onnx, found role 'full'"),
    (lambda d, full: (d / "sta.head.onnx").write_bytes(b"\x08\x07"),
     "sta.head.onnx: not a loadable ONNX model"),
])
def test_a_companion_of_another_model_is_refused(sta_split, sta_onnx, tmp_path, damage, message):
    for name in ("sta.backbone.onnx", "sta.head.onnx"):
        (tmp_path / name).write_bytes(sta_split.with_name(name).read_bytes())
    damage(tmp_path, sta_onnx)
    with pytest.raises(ReidError, match=message):
        OnnxRuntimeBackend(tmp_path / "sta.backbone.onnx")
