"""Tracklet embeddings from a PyTorch model: clips sampled deterministically, clip features averaged per tracklet."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from reid_runtime.data.tracklet import Tracklet
from reid_train.data.video_dataset import VideoTestDataset


@torch.no_grad()
def extract_features(
    model: torch.nn.Module,
    tracklets: Sequence[Tracklet],
    *,
    seq_len: int,
    sampling: str = "dense",
    size: tuple[int, int],
    batch_size: int = 16,
    max_clips: int | None = None,
    num_workers: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """(len(tracklets), D) float32: the mean of the embeddings of each tracklet's test clips."""
    dataset = VideoTestDataset(list(tracklets), seq_len=seq_len, mode=sampling, size=size, max_clips=max_clips)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    was_training = model.training
    model.eval()
    sums: np.ndarray | None = None
    counts = np.zeros(len(tracklets), dtype=np.int64)
    if progress:
        from tqdm import tqdm

        loader = tqdm(loader, desc="features", unit="batch", leave=False)
    for batch in loader:
        frames = batch["frames"].to(device, non_blocking=True)
        emb = model(frames).float().cpu().numpy()
        owners = batch["tracklet"].numpy()
        if sums is None:
            sums = np.zeros((len(tracklets), emb.shape[1]), dtype=np.float64)
        np.add.at(sums, owners, emb)
        np.add.at(counts, owners, 1)
    model.train(was_training)
    if sums is None:
        raise ValueError("no tracklets to embed")
    return (sums / counts[:, None]).astype(np.float32)
