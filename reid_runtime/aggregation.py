"""The parameter-free temporal aggregation of split exports and streaming, in numpy.

Mirrors ``STAHead.fuse`` (Eq. 4 + Algorithm 1 + GAP) and the temporal mean of TP, so a runtime can pack frames of
many tracklets into one backbone call and aggregate each tracklet afterwards, for any number of frames.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-12  # the clamp of STAHead's score normalization


def sta_fuse(scores: np.ndarray, strips: np.ndarray, fusion: bool = True) -> np.ndarray:
    """``scores`` (B, T, K) un-normalised ``s_{n,k}``, ``strips`` (B, T, K, C) -> fused (B, 2C) or (B, C).

    The first half is the strip of the max-score frame per region (first frame on ties), averaged over regions;
    the second half the score-weighted mean over frames (Eq. 4 weights), averaged over regions.
    """
    scores = np.asarray(scores, dtype=np.float32)
    strips = np.asarray(strips, dtype=np.float32)
    if scores.ndim != 3 or strips.ndim != 4 or scores.shape != strips.shape[:3]:
        raise ValueError(f"expected scores (B, T, K) and strips (B, T, K, C), got {scores.shape} and {strips.shape}")
    weights = scores / np.maximum(scores.sum(axis=1, keepdims=True), EPS)
    weighted = (weights[..., None] * strips).sum(axis=1).mean(axis=1)
    if not fusion:
        return weighted
    best = weights.argmax(axis=1)  # (B, K); numpy's argmax also takes the first maximum
    selected = np.take_along_axis(strips, best[:, None, :, None], axis=1)[:, 0].mean(axis=1)
    return np.concatenate([selected, weighted], axis=1)


def mean_fuse(strips: np.ndarray) -> np.ndarray:
    """TP: ``strips`` (B, T, K, C) -> mean over frames and regions (B, C)."""
    strips = np.asarray(strips, dtype=np.float32)
    if strips.ndim != 4:
        raise ValueError(f"expected strips (B, T, K, C), got {strips.shape}")
    return strips.mean(axis=(1, 2))


def fuse(aggregation: str, scores: np.ndarray, strips: np.ndarray, fusion: bool = True) -> np.ndarray:
    """Dispatch on the model metadata's ``aggregation`` (``sta`` or ``mean``)."""
    if aggregation == "sta":
        return sta_fuse(scores, strips, fusion=fusion)
    if aggregation == "mean":
        return mean_fuse(strips)
    raise ValueError(f"aggregation {aggregation!r} cannot run outside the graph (expected 'sta' or 'mean')")
