"""The parameter-free temporal aggregation of split exports and streaming, in numpy.

Mirrors ``STAHead.fuse`` (Eq. 4 + Algorithm 1 + GAP) and the temporal mean of TP, so a runtime can pack frames of
many tracklets into one backbone call and aggregate each tracklet afterwards, for any number of frames:
``fuse`` of whole clips at once, or ``RunningFusion`` fed a clip's frames in pieces (O(K * C) state, so a tracklet of
any length streams through the backbone in bounded chunks).
"""

from __future__ import annotations

import numpy as np

EPS = 1e-12  # the clamp of STAHead's score normalization


def sta_weights(scores: np.ndarray, axis: int) -> np.ndarray:
    """Eq. 4: each region's scores normalised over the frames (along ``axis``), clamped as STAHead clamps."""
    return scores / np.maximum(scores.sum(axis=axis, keepdims=True), EPS)


def sta_fuse(scores: np.ndarray, strips: np.ndarray, fusion: bool = True) -> np.ndarray:
    """``scores`` (B, T, K) un-normalised ``s_{n,k}``, ``strips`` (B, T, K, C) -> fused (B, 2C) or (B, C).

    The first half is the strip of the max-score frame per region (first frame on ties), averaged over regions;
    the second half the score-weighted mean over frames (Eq. 4 weights), averaged over regions.
    """
    scores = np.asarray(scores, dtype=np.float32)
    strips = np.asarray(strips, dtype=np.float32)
    if scores.ndim != 3 or strips.ndim != 4 or scores.shape != strips.shape[:3]:
        raise ValueError(f"expected scores (B, T, K) and strips (B, T, K, C), got {scores.shape} and {strips.shape}")
    weights = sta_weights(scores, axis=1)
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


class RunningFusion:
    """The fused feature of any number of frames, fed in pieces, from O(K * C) running state.

    ``add(scores, strips)`` takes per-frame terms ``(n, K)`` and ``(n, K, C)`` of the next frames; ``fused()`` returns
    what :func:`fuse` gives for all frames added so far as one clip. For STA (``aggregation="sta"``) Eq. 4 normalises
    the scores over all frames, but both halves of the fused feature are running sums of raw scores:

    - weighted half: ``sum_n S(n,k) strip_{n,k} = sum_n s_{n,k} strip_{n,k} / sum_n s_{n,k}``, so keep
      ``sum_n s_{n,k} strip_{n,k}`` and ``sum_n s_{n,k}`` per region k (float64);
    - selected half: ``argmax_n S(n,k) = argmax_n s_{n,k}`` (one positive divisor for all n), so keep the best raw
      score and its strip, replaced only by a strictly greater score, which keeps the first maximum as the offline
      argmax does.

    For temporal pooling (``aggregation="mean"``) a running sum of strips and the frame count suffice. The result
    equals :func:`fuse` of all frames up to float rounding (in the rare case where two different raw scores round to
    the same normalised weight, the offline argmax may take the earlier frame). Used by ``TrackletStream`` (one per
    open track) and by ``ReidModel.embed`` (a long tracklet with ``sampling="all"`` streamed in chunks).
    """

    def __init__(self, aggregation: str, fusion: bool = True) -> None:
        if aggregation not in ("sta", "mean"):
            raise ValueError(f"aggregation {aggregation!r} cannot run outside the graph (expected 'sta' or 'mean')")
        self.aggregation = aggregation
        self.fusion = fusion
        self.frames = 0
        self.weighted: np.ndarray | None = None    # (K, C) float64: sum_n s_nk strip_nk (sta) or sum_n strip_nk (mean)
        self.score_sum: np.ndarray | None = None   # (K,) float64: sum_n s_nk
        self.best_score: np.ndarray | None = None  # (K,) float32: max_n s_nk
        self.best_strip: np.ndarray | None = None  # (K, C) float32: strip of the first frame reaching it

    def add(self, scores: np.ndarray, strips: np.ndarray) -> None:
        """Add the terms of ``n`` more frames: ``scores`` (n, K) un-normalised, ``strips`` (n, K, C)."""
        scores = np.asarray(scores, dtype=np.float32)
        strips = np.asarray(strips, dtype=np.float32)
        if scores.ndim != 2 or strips.ndim != 3 or scores.shape != strips.shape[:2]:
            raise ValueError(f"expected scores (n, K) and strips (n, K, C), got {scores.shape} and {strips.shape}")
        if len(scores) == 0:
            return
        if self.weighted is None:
            self.weighted = np.zeros(strips.shape[1:], dtype=np.float64)
            self.score_sum = np.zeros(scores.shape[1:], dtype=np.float64)
            self.best_score = np.full(scores.shape[1:], -np.inf, dtype=np.float32)
            self.best_strip = np.zeros(strips.shape[1:], dtype=np.float32)
        elif strips.shape[1:] != self.weighted.shape:
            raise ValueError(f"strips of shape (n, K, C) = {strips.shape} after {self.weighted.shape} per frame")
        self.frames += len(scores)
        if self.aggregation == "mean":
            self.weighted += strips.sum(axis=0, dtype=np.float64)
            return
        self.weighted += np.einsum("nk,nkc->kc", scores.astype(np.float64), strips.astype(np.float64))
        self.score_sum += scores.sum(axis=0, dtype=np.float64)
        best = scores.argmax(axis=0)  # first maximum within these frames
        top = scores[best, np.arange(scores.shape[1])]
        better = top > self.best_score
        self.best_score[better] = top[better]
        self.best_strip[better] = strips[best[better], np.flatnonzero(better)]

    def fused(self) -> np.ndarray:
        """``(F,)`` float32: the fused feature of every frame added so far (``F`` = 2C with STA fusion, else C)."""
        if self.weighted is None:
            raise ValueError("no frames were added")
        if self.aggregation == "mean":
            return (self.weighted.mean(axis=0) / self.frames).astype(np.float32)
        weighted = (self.weighted / np.maximum(self.score_sum, EPS)[:, None]).mean(axis=0)
        if not self.fusion:
            return weighted.astype(np.float32)
        return np.concatenate([self.best_strip.mean(axis=0), weighted]).astype(np.float32)
