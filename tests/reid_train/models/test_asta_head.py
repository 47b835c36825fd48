"""ASTA: attribute streams, spatio-temporal attention, the 3C Re-ID feature, detached attribute gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reid_train.models import create_model
from reid_train.models.asta import SpatioTemporalAttention


def tiny_asta(**kwargs):
    return create_model("asta_tiny", num_classes=3, input_size=(64, 32), width=8, **kwargs)


@pytest.mark.parametrize("frames", [1, 2, 5])
def test_output_shapes_for_any_clip_length(frames: int) -> None:
    model = tiny_asta().train()
    out = model(torch.rand(2, frames, 3, 64, 32) * 255)
    assert out["embedding"].shape == (2, 3 * 64) and out["logits"].shape == (2, 3)
    assert [t.shape for t in out["attr_logits"]] == [(2, 25), (2, 41)]
    for attention in out["attr_attention"]:
        assert attention.shape == (2, frames, 4, 2)
        assert torch.all((attention > 0) & (attention < 1))
    model.eval()
    with torch.no_grad():
        assert model(torch.rand(3, frames, 3, 64, 32) * 255).shape == (3, 192)
    assert model.embedding_dim == 192 and model.metric == "cosine"


def test_duke_schema_sets_the_attribute_widths() -> None:
    out = tiny_asta(attribute_schema="dukev").train()(torch.rand(2, 2, 3, 64, 32) * 255)
    assert [t.shape[1] for t in out["attr_logits"]] == [25, 33]
    with pytest.raises(ValueError, match="attribute_schema 'market'"):
        tiny_asta(attribute_schema="market")


def test_reid_feature_is_original_and_both_reweighted_maps_pooled() -> None:
    model = tiny_asta().train()
    frames = torch.rand(2, 3, 3, 64, 32) * 255
    feats = model.forward_features(frames)
    out = model.forward_head(feats)
    irrelevant, relevant = out["attr_attention"]
    expected = torch.cat([
        feats.mean(dim=(1, 3, 4)),
        (feats * irrelevant.unsqueeze(2)).mean(dim=(1, 3, 4)),
        (feats * relevant.unsqueeze(2)).mean(dim=(1, 3, 4)),
    ], dim=1)
    torch.testing.assert_close(out["embedding"], expected)


def test_temporal_conv_sees_only_neighbouring_frames() -> None:
    attention = SpatioTemporalAttention(4, (4, 2)).eval()
    assert attention.temporal.in_channels == attention.temporal.out_channels == 8
    assert attention.temporal.kernel_size == (3,)
    clip = torch.rand(1, 5, 4, 4, 2)
    changed = clip.clone()
    changed[:, 4] += 1.0
    a, b = attention(clip), attention(changed)
    torch.testing.assert_close(a[:, :3], b[:, :3])  # frames 0-2 do not see frame 4
    assert not torch.allclose(a[:, 3:], b[:, 3:])


def test_positions_come_from_the_input_size() -> None:
    model = create_model("asta_tiny", num_classes=3, input_size=(128, 64), width=8)
    assert model.head.relevant.attention.temporal.in_channels == 8 * 4


def test_wrong_input_size_names_the_expected_positions() -> None:
    model = tiny_asta().eval()
    with pytest.raises(ValueError, match=r"4x2 = 8 spatial positions \(input size 64x32\).*8x2 feature map \(16"):
        model(torch.rand(1, 2, 3, 128, 32) * 255)


@pytest.mark.parametrize("detach", [True, False])
def test_attribute_loss_reaches_backbone_only_when_not_detached(detach: bool) -> None:
    torch.manual_seed(0)
    model = tiny_asta(detach_attributes=detach).train()
    out = model(torch.rand(2, 2, 3, 64, 32) * 255)
    sum(logits.sum() for logits in out["attr_logits"]).backward()
    stream_grad = model.head.relevant.conv[0].weight.grad
    assert stream_grad is not None and stream_grad.abs().sum() > 0
    backbone_grad = model.backbone.conv1.weight.grad
    reached = backbone_grad is not None and backbone_grad.abs().sum() > 0
    assert reached is not detach


def test_reid_loss_trains_backbone_and_attention_streams() -> None:
    torch.manual_seed(0)
    model = tiny_asta().train()
    out = model(torch.rand(2, 3, 3, 64, 32) * 255)
    (out["embedding"].pow(2).sum() + out["logits"].sum()).backward()
    for module in (model.backbone.conv1, model.head.irrelevant.attention.temporal, model.head.relevant.conv[0]):
        assert module.weight.grad is not None and module.weight.grad.abs().sum() > 0
    assert model.head.irrelevant.classifier.weight.grad is None  # attribute classifiers learn from attributes only


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_legacy_onnx_export_keeps_batch_and_sequence_dynamic(tmp_path) -> None:
    # The legacy exporter bakes B or T into reshapes that read them from intermediate tensors; ASTA must avoid that.
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = tiny_asta().eval()
    path = tmp_path / "asta_tiny.onnx"
    torch.onnx.export(model, (torch.rand(2, 3, 3, 64, 32) * 255,), str(path), dynamo=False, input_names=["frames"],
                      output_names=["embedding"], dynamic_axes={"frames": {0: "batch", 1: "seq"}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch, frames in [(1, 1), (3, 5)]:
        x = torch.rand(batch, frames, 3, 64, 32) * 255
        with torch.no_grad():
            expected = model(x).numpy()
        got = session.run(None, {"frames": x.numpy()})[0]
        np.testing.assert_allclose(got, expected, atol=1e-4 * max(1.0, np.abs(expected).max()))
