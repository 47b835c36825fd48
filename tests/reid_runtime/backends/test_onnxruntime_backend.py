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
