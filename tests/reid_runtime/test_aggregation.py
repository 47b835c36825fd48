"""The numpy aggregation equals the PyTorch STA / TP heads on the same per-frame terms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reid_runtime.aggregation import mean_fuse, sta_fuse
from reid_train.models import create_model


@pytest.mark.parametrize("fusion", [True, False])
@pytest.mark.parametrize("t", [1, 2, 5])
def test_sta_fuse_matches_torch_head(t, fusion):
    torch.manual_seed(t)
    kwargs = {"attention": "sta", "fusion": fusion}
    model = create_model("sta_tiny", num_classes=3, input_size=(64, 32), width=16, **kwargs).eval()
    feats = torch.relu(torch.randn(3, t, model.head.fc.in_features // (2 if fusion else 1), 4, 2))
    scores, strips = model.head.frame_terms(feats)
    expected = model.head.fuse(scores, strips).detach().numpy()
    got = sta_fuse(scores.numpy(), strips.detach().numpy(), fusion=fusion)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_sta_fuse_ties_pick_the_first_frame():
    scores = np.ones((1, 3, 1), np.float32)
    strips = np.arange(3, dtype=np.float32).reshape(1, 3, 1, 1)
    fused = sta_fuse(scores, strips)
    assert fused[0, 0] == 0.0 and fused[0, 1] == pytest.approx(1.0)


def test_mean_fuse_and_shape_errors():
    strips = np.random.default_rng(0).random((2, 4, 1, 8)).astype(np.float32)
    np.testing.assert_allclose(mean_fuse(strips), strips.mean(axis=(1, 2)))
    with pytest.raises(ValueError, match="scores"):
        sta_fuse(np.ones((2, 3)), strips)
