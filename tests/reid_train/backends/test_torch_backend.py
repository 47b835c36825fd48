"""PyTorch checkpoint backend: metadata from the checkpoint, whole clips, and per-frame terms for STA / TP."""

from __future__ import annotations

import numpy as np
import pytest

from reid_runtime.aggregation import fuse
from reid_runtime.errors import ReidError

pytest.importorskip("torch")

from reid_train.backends.torch_backend import TorchBackend


@pytest.mark.parametrize("fixture, aggregation, metric", [
    ("sta_checkpoint", "sta", "euclidean"), ("tp_checkpoint", "mean", "cosine"),
])
def test_frame_terms_reproduce_the_whole_clip(request, fixture, aggregation, metric):
    backend = TorchBackend(request.getfixturevalue(fixture), threads=1)
    assert backend.info.aggregation == aggregation and backend.info.metric == metric and backend.has_frame_terms
    clip = np.random.default_rng(0).uniform(0, 255, (1, 5, 3, 64, 32)).astype(np.float32)
    scores, strips = backend.run_backbone(clip[0])
    fused = fuse(aggregation, scores[None], strips[None], fusion=backend.fusion)
    np.testing.assert_allclose(backend.run_head(fused), backend.run_full(clip), rtol=1e-4, atol=1e-4)


def test_asta_runs_whole_clips_only(asta_checkpoint):
    backend = TorchBackend(asta_checkpoint, threads=1)
    assert backend.info.aggregation == "none" and not backend.has_frame_terms
    assert backend.run_full(np.zeros((2, 3, 3, 64, 32), np.float32)).shape == (2, backend.info.embedding_dim)
    with pytest.raises(ReidError, match="split export"):
        backend.run_backbone(np.zeros((1, 3, 64, 32), np.float32))


def test_foreign_checkpoint_is_named(tmp_path):
    import torch

    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ReidError, match="other.pt: not a reid-toolkit checkpoint"):
        TorchBackend(tmp_path / "other.pt")
