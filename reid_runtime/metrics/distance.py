"""Pairwise distances between embedding sets, computed in row chunks so large galleries fit in memory."""

from __future__ import annotations

import numpy as np

METRICS = ("euclidean", "cosine")


def _as_float_matrix(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (num_items, dim), got shape {x.shape}")
    if x.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be numeric, got dtype {x.dtype}")
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Scale vectors to unit L2 norm along ``axis``; zero vectors stay zero.

    Floating inputs keep their dtype, other inputs become float32.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    norm[norm == 0] = 1
    return x / norm


def pairwise_distance(
    a: np.ndarray,
    b: np.ndarray,
    metric: str = "euclidean",
    chunk_size: int = 4096,
    squared: bool = False,
) -> np.ndarray:
    """Distance matrix of shape ``(len(a), len(b))`` as float32, smaller = more similar.

    ``euclidean``: ``sqrt(max(||a||^2 + ||b||^2 - 2 a.b, 0))`` on both sets shifted by the mean of ``b``, or the
    value before the square root with ``squared=True``. ``cosine``: ``1 - cos(a, b)`` in ``[0, 2]``; a zero vector
    has cosine 0 to everything (distance 1). Rows of ``a`` are processed ``chunk_size`` at a time, so besides the
    output only a ``(chunk_size, len(b))`` temporary is held.
    Arithmetic runs in float64 when an input is float64, else float32.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if squared and metric != "euclidean":
        raise ValueError("squared=True applies to the euclidean metric only")
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    a = _as_float_matrix(a, "a")
    b = _as_float_matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same embedding size, got {a.shape[1]} and {b.shape[1]}")

    dtype = np.result_type(a.dtype, b.dtype, np.float32)
    a = a.astype(dtype, copy=False)
    b = b.astype(dtype, copy=False)
    out = np.empty((a.shape[0], b.shape[0]), dtype=np.float32)
    if out.size == 0:
        return out

    if metric == "cosine":
        b_unit = l2_normalize(b)
        for start in range(0, a.shape[0], chunk_size):
            sim = l2_normalize(a[start:start + chunk_size]) @ b_unit.T
            out[start:start + chunk_size] = np.clip(1.0 - sim, 0.0, 2.0)
        return out

    # Distances do not change under a shared shift; centring on b's mean shrinks the norms and with them the
    # cancellation error of the expansion (large for ReLU features, which share a big positive mean).
    shift = b.mean(axis=0)
    b = b - shift
    b_sq = np.einsum("ij,ij->i", b, b)
    for start in range(0, a.shape[0], chunk_size):
        chunk = a[start:start + chunk_size] - shift
        dist = chunk @ b.T
        dist *= -2.0
        dist += np.einsum("ij,ij->i", chunk, chunk)[:, None]
        dist += b_sq[None, :]
        np.maximum(dist, 0.0, out=dist)
        if not squared:
            np.sqrt(dist, out=dist)
        out[start:start + chunk_size] = dist
    return out
