"""Full-graph ONNX export: dynamic axes, opset, metadata contract, verification at unseen (B, T)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from reid_export.onnx_export import ExportError, check_opset, export_checkpoint, finish_export, graph_dims, read_info
from reid_export.verification import VerificationError
from reid_runtime.model_format import ModelInfo
from reid_train.engine.checkpoint import load_model

EXPECTED = {  # name -> (aggregation, num_regions, embedding_dim, metric)
    "sta_tiny": ("sta", 4, 1024, "euclidean"),
    "tp_tiny": ("mean", 1, 128, "cosine"),
    "asta_tiny": ("none", 1, 384, "cosine"),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_graph_has_symbolic_batch_and_seq_and_one_file(full_exports, name):
    path, _ = full_exports[name]
    model = onnx.load(str(path))
    dims = graph_dims(model)
    assert dims["frames"] == ["batch", "seq", 3, 64, 32]
    assert dims["embedding"] == ["batch", EXPECTED[name][2]]
    assert {entry.domain or "ai.onnx": entry.version for entry in model.opset_import}["ai.onnx"] == 20
    assert not list(path.parent.glob(f"{path.name}.data")), "graph must be self-contained"
    assert not [t for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_metadata_round_trips_through_onnxruntime(full_exports, checkpoints, name):
    path, result = full_exports[name]
    props = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    info = ModelInfo.from_props(props, source=str(path))
    aggregation, regions, dim, metric = EXPECTED[name]
    assert (info.role, info.architecture, info.input_size) == ("full", name, (64, 32))
    assert (info.aggregation, info.num_regions, info.embedding_dim, info.metric) == (aggregation, regions, dim, metric)
    assert info.precision == "fp32"
    assert info.seq_lengths_verified == [1, 2, 3, 4, 7, 8, 16]
    assert info.batch_sizes_verified == [1, 2, 5]
    assert info.recipe == {"recipe": "test"}
    assert info.model_config["name"] == name and info.model_config["input_size"] == [64, 32]
    assert result.verification.passed and result.files == [path]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_onnxruntime_matches_pytorch_at_unseen_shapes(full_exports, checkpoints, name):
    path, _ = full_exports[name]
    model, _ = load_model(checkpoints[name])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(7)
    for batch, seq in [(3, 5), (6, 11), (1, 32)]:
        frames = rng.uniform(0, 255, size=(batch, seq, 3, 64, 32)).astype(np.float32)
        with torch.no_grad():
            reference = model(torch.from_numpy(frames)).numpy()
        np.testing.assert_allclose(session.run(None, {"frames": frames})[0], reference, rtol=1e-4, atol=1e-4)


def test_opset_below_18_is_rejected_before_exporting():
    with pytest.raises(ExportError, match="cannot go below opset 18"):
        check_opset(17)


def test_failed_verification_writes_nothing(tmp_path, full_exports, checkpoints):
    model, _ = load_model(checkpoints["tp_tiny"])
    graphs = {"full": onnx.load(str(full_exports["tp_tiny"][0]))}
    out = tmp_path / "tp.onnx"
    with pytest.raises(VerificationError, match="nothing was written") as info:
        finish_export(model, graphs, out, max_abs=0.0, seq_lengths=(2,), batch_sizes=(3,))
    assert "random" in str(info.value)  # the per-case table is part of the message
    assert not list(tmp_path.iterdir())


def test_unverified_export_lists_no_verified_shapes(tmp_path, full_exports, checkpoints):
    model, _ = load_model(checkpoints["tp_tiny"])
    graphs = {"full": onnx.load(str(full_exports["tp_tiny"][0]))}
    result = finish_export(model, graphs, tmp_path / "tp.onnx", verify=False)
    info = read_info(tmp_path / "tp.onnx")
    assert result.verification is None
    assert info.seq_lengths_verified == [] and info.batch_sizes_verified == []


def test_int8_without_calibration_images_is_rejected(tmp_path, checkpoints):
    with pytest.raises(ExportError, match="--calib"):
        export_checkpoint(checkpoints["sta_tiny"], tmp_path / "m.onnx", precision="int8")


def test_model_config_in_metadata_rebuilds_the_architecture(full_exports):
    from reid_train.models import create_model

    path, _ = full_exports["sta_tiny"]
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    config = json.loads(props["reid.model_config"])
    config["input_size"] = tuple(config["input_size"])
    assert create_model(**config).embedding_dim == 1024
