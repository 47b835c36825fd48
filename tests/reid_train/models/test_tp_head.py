"""Temporal pooling baseline: the pooled feature, the BNNeck, clip-length invariance."""

from __future__ import annotations

import pytest
import torch

from reid_train.models import create_model
from reid_train.models.tp import TemporalPoolingHead


def test_embedding_is_the_mean_over_space_and_time() -> None:
    feats = torch.relu(torch.randn(2, 3, 8, 4, 2))
    head = TemporalPoolingHead(8, 5, neck_feat="before").eval()
    torch.testing.assert_close(head(feats), feats.mean(dim=(1, 3, 4)))
    head.train()
    out = head(feats)
    torch.testing.assert_close(out["embedding"], feats.mean(dim=(1, 3, 4)))
    assert out["logits"].shape == (2, 5)


def test_eval_after_neck_returns_the_batchnorm_output() -> None:
    feats = torch.relu(torch.randn(4, 2, 8, 4, 2))
    head = TemporalPoolingHead(8, 5)
    bn = head.neck.bn
    bn.running_mean.uniform_(0, 1)
    bn.running_var.uniform_(0.5, 2)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2)
    head.eval()
    pooled = feats.mean(dim=(1, 3, 4))
    expected = (pooled - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight
    torch.testing.assert_close(head(feats), expected)
    assert not bn.bias.requires_grad and torch.all(bn.bias == 0)
    assert head.neck.classifier.bias is None
    with pytest.raises(ValueError, match="neck_feat"):
        TemporalPoolingHead(8, 5, neck_feat="middle")


@pytest.mark.parametrize("neck_feat", ["before", "after"])
def test_repeated_frames_give_the_single_frame_embedding(neck_feat: str) -> None:
    model = create_model("tp_tiny", num_classes=3, input_size=(64, 32), width=8, neck_feat=neck_feat).eval()
    assert model.embedding_dim == model.backbone.out_channels == 64 and model.metric == "cosine"
    frame = torch.rand(2, 1, 3, 64, 32) * 255
    with torch.no_grad():
        single = model(frame)
        assert single.shape == (2, 64)
        for frames in (2, 3):
            torch.testing.assert_close(model(frame.repeat(1, frames, 1, 1, 1)), single, atol=1e-5, rtol=1e-4)
        assert model(torch.rand(1, 6, 3, 64, 32) * 255).shape == (1, 64)
