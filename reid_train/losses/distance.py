"""Pairwise Euclidean and cosine distances between two sets of embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

METRICS: tuple[str, ...] = ("euclidean", "cosine")


def _check_pair(x: Tensor, y: Tensor) -> None:
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"expected embeddings of shapes (M, D) and (N, D), got {tuple(x.shape)} and {tuple(y.shape)}")


def euclidean_distance(x: Tensor, y: Tensor, squared: bool = False, eps: float = 1e-12) -> Tensor:
    """(M, D), (N, D) -> (M, N) Euclidean distances.

    Squared distances are clamped at ``eps`` before the square root, so the gradient stays finite when two embeddings
    coincide (a zero distance then reads as ``sqrt(eps)``).
    """
    _check_pair(x, y)
    squared_dist = x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1).unsqueeze(0) - 2.0 * (x @ y.T)
    if squared:
        # The expansion can go slightly negative through cancellation.
        return squared_dist.clamp_min(0.0)
    # In half precision 1e-12 underflows to 0, where the sqrt's derivative is infinite.
    return squared_dist.clamp_min(max(eps, torch.finfo(squared_dist.dtype).tiny)).sqrt()


def cosine_distance(x: Tensor, y: Tensor, eps: float = 1e-12) -> Tensor:
    """(M, D), (N, D) -> (M, N) cosine distances ``1 - cos``, in [0, 2]."""
    _check_pair(x, y)
    return 1.0 - F.normalize(x, dim=1, eps=eps) @ F.normalize(y, dim=1, eps=eps).T


def pairwise_distance(x: Tensor, y: Tensor, metric: str = "euclidean") -> Tensor:
    """Distance matrix for ``metric`` in :data:`METRICS`."""
    check_metric(metric)
    return euclidean_distance(x, y) if metric == "euclidean" else cosine_distance(x, y)


def check_metric(metric: str) -> None:
    """Raise ValueError unless ``metric`` is one of :data:`METRICS`."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
