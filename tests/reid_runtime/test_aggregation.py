"""The numpy aggregation equals the PyTorch STA / TP heads on the same per-frame terms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reid_runtime.aggregation import RunningFusion, fuse, mean_fuse, sta_fuse
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


@pytest.mark.parametrize("aggregation,fusion", [("sta", True), ("sta", False), ("mean", True)])
def test_running_fusion_fed_in_pieces_equals_the_whole_clip(aggregation, fusion):
    rng = np.random.default_rng(1)
    scores = rng.random((1, 23, 4)).astype(np.float32) + 0.01
    strips = rng.standard_normal((1, 23, 4, 8)).astype(np.float32)
    state = RunningFusion(aggregation, fusion)
    for start, stop in [(0, 1), (1, 8), (8, 8), (8, 9), (9, 23)]:
        state.add(scores[0, start:stop], strips[0, start:stop])
    assert state.frames == 23
    np.testing.assert_allclose(state.fused(), fuse(aggregation, scores, strips, fusion)[0], rtol=1e-5, atol=1e-6)


def test_running_fusion_keeps_the_first_max_frame_across_pieces_and_refuses_what_it_cannot_do():
    state = RunningFusion("sta")
    strips = np.arange(4, dtype=np.float32).reshape(4, 1, 1)
    state.add(np.ones((2, 1), np.float32), strips[:2])
    state.add(np.ones((2, 1), np.float32), strips[2:])
    assert state.fused()[0] == 0.0 and state.fused()[1] == pytest.approx(1.5)
    with pytest.raises(ValueError, match="strips"):
        state.add(np.ones((1, 1), np.float32), np.ones((1, 2, 1), np.float32))
    with pytest.raises(ValueError, match="no frames"):
        RunningFusion("mean").fused()
    with pytest.raises(ValueError, match="'none'"):
        RunningFusion("none")
