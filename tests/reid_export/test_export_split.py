"""Split export: backbone graph -> numpy aggregation -> head graph reproduces the monolithic model."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from reid_export.onnx_export import graph_dims, read_info
from reid_export.split_export import FrameBackbone, FusedHead, SplitError, check_splittable, split_paths
from reid_export.verification import open_onnx
from reid_runtime.aggregation import fuse
from reid_train.engine.checkpoint import load_model
from reid_train.models import create_model


def _tracklets(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0, 255, size=(t, 3, 64, 32)).astype(np.float32) for t in lengths]


@pytest.mark.parametrize("name", ["sta_tiny", "tp_tiny"])
def test_split_reproduces_monolithic_for_different_lengths(split_exports, full_exports, name):
    path, result = split_exports[name]
    assert result.files == list(split_paths(path)) and all(p.is_file() for p in result.files)
    runner, info = open_onnx(result.files[1])  # opening the head file finds its backbone companion
    full = ort.InferenceSession(str(full_exports[name][0]), providers=["CPUExecutionProvider"])
    tracklets = _tracklets([1, 3, 7, 16])
    packed = runner.embed_tracklets(tracklets)  # all 27 frames in ONE backbone call
    for tracklet, row in zip(tracklets, packed):
        monolithic = full.run(None, {"frames": tracklet[None]})[0][0]
        np.testing.assert_allclose(row, monolithic, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(runner(tracklet[None])[0], row, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name, regions, fused", [("sta_tiny", 4, 256), ("tp_tiny", 1, 128)])
def test_split_graphs_io_and_metadata(split_exports, name, regions, fused):
    backbone_path, head_path = split_exports[name][1].files
    backbone, head = onnx.load(str(backbone_path)), onnx.load(str(head_path))
    assert graph_dims(backbone) == {"frames": ["frames", 3, 64, 32], "scores": ["frames", regions],
                                    "strips": ["frames", regions, 128]}
    assert graph_dims(head)["fused"] == ["batch", fused]
    backbone_info, head_info = read_info(backbone_path), read_info(head_path)
    assert (backbone_info.role, backbone_info.companion) == ("backbone", head_path.name)
    assert (head_info.role, head_info.companion) == ("head", backbone_path.name)
    assert backbone_info.aggregation == ("sta" if name == "sta_tiny" else "mean")
    assert backbone_info.num_regions == regions
    assert backbone_info.seq_lengths_verified == [1, 2, 3, 4, 7, 8, 16]


def test_tp_backbone_scores_are_ones(split_exports):
    backbone = ort.InferenceSession(str(split_exports["tp_tiny"][1].files[0]), providers=["CPUExecutionProvider"])
    scores, strips = backbone.run(None, {"frames": _tracklets([5])[0]})
    assert scores.shape == (5, 1) and np.all(scores == 1) and strips.shape == (5, 1, 128)


@pytest.mark.parametrize("kwargs, aggregation", [
    ({"attention": "sta", "fusion": False}, "sta"),
    ({"attention": "avg", "fusion": False}, "mean"),
    ({"num_regions": 2}, "sta"),
])
def test_split_modules_match_sta_ablations(kwargs, aggregation):
    """The torch halves + numpy aggregation equal the model for the STA variants (no export needed)."""
    from reid_export.onnx_export import aggregation_of

    torch.manual_seed(0)
    model = create_model("sta_tiny", num_classes=5, input_size=(64, 32), width=16, **kwargs).eval()
    assert aggregation_of(model) == aggregation
    frames = torch.from_numpy(np.stack(_tracklets([6, 6]))).float()
    with torch.no_grad():
        scores, strips = FrameBackbone(model)(frames.flatten(0, 1))
        fused = fuse(aggregation, scores.unflatten(0, (2, 6)).numpy(), strips.unflatten(0, (2, 6)).numpy(),
                     fusion=model.model_config["fusion"])
        embedding = FusedHead(model)(torch.from_numpy(fused))
        np.testing.assert_allclose(embedding.numpy(), model(frames).numpy(), rtol=1e-4, atol=1e-5)


def test_tp_neck_before_split_head_is_identity():
    torch.manual_seed(0)
    model = create_model("tp_tiny", num_classes=5, input_size=(64, 32), width=16, neck_feat="before").eval()
    fused = torch.randn(3, 128)
    assert torch.equal(FusedHead(model)(fused), fused)


def test_asta_cannot_be_split(checkpoints):
    model, _ = load_model(checkpoints["asta_tiny"])
    with pytest.raises(SplitError, match="temporal convolution"):
        check_splittable(model)


def test_split_file_without_companion_is_reported(tmp_path, split_exports):
    lone = tmp_path / "lone.backbone.onnx"
    lone.write_bytes(split_exports["sta_tiny"][1].files[0].read_bytes())
    with pytest.raises(Exception, match="companion"):
        open_onnx(lone)



def test_a_map_height_k_does_not_divide_exports_and_splits(tmp_path):
    """Algorithm 1's floor-and-pad (88x32 frames -> 6x2 maps, K=4: 1-row blocks, 2 rows padded): the full graph and
    the split pair are verified against PyTorch (export_checkpoint raises otherwise) and agree with each other."""
    from reid_export.onnx_export import export_checkpoint
    from reid_train.engine.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model("sta_tiny", num_classes=5, input_size=(88, 32), width=8)
    assert model.backbone.feature_size((88, 32)) == (6, 2)
    checkpoint = save_checkpoint(tmp_path / "sta88.pt", {"model": model.state_dict(),
                                                         "model_config": model.model_config, "config": {}})
    full = export_checkpoint(checkpoint, tmp_path / "full.onnx")
    split = export_checkpoint(checkpoint, tmp_path / "split.onnx", split=True)
    assert full.verification.passed and split.verification.passed
    runner, _ = open_onnx(split.files[1])
    session = ort.InferenceSession(str(full.files[0]), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for length in (1, 5):
        clip = rng.uniform(0, 255, size=(1, length, 3, 88, 32)).astype(np.float32)
        np.testing.assert_allclose(runner(clip), session.run(None, {"frames": clip})[0], rtol=1e-4, atol=1e-4)
