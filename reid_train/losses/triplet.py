"""Batch-hard triplet loss (Hermans et al. 2017; STA Eq. 9)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reid_train.losses.distance import check_metric, pairwise_distance


def check_embeddings_labels(embeddings: Tensor, labels: Tensor) -> None:
    if embeddings.dim() != 2:
        raise ValueError(f"expected embeddings of shape (B, D), got {tuple(embeddings.shape)}")
    if labels.shape != embeddings.shape[:1]:
        raise ValueError(f"expected labels of shape ({embeddings.shape[0]},), got {tuple(labels.shape)}")


def batch_hard_mining(dist: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Hardest positive and negative of every anchor (row) of a (B, B) distance matrix.

    Positives: same label, j != a; the hardest is the farthest. Negatives: other label; the hardest is the nearest.
    Returns ``(d_ap, d_an, pos_idx, neg_idx, valid)`` where ``valid`` marks anchors that have both a positive and a
    negative; the other entries of invalid anchors are meaningless (infinite distances).
    """
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive = same & ~eye
    negative = ~same
    d_ap, pos_idx = dist.masked_fill(~positive, float("-inf")).max(dim=1)
    d_an, neg_idx = dist.masked_fill(~negative, float("inf")).min(dim=1)
    valid = positive.any(dim=1) & negative.any(dim=1)
    return d_ap, d_an, pos_idx, neg_idx, valid


class BatchHardTripletLoss(nn.Module):
    """``mean_a [margin + max_p D(a, p) - min_n D(a, n)]_+`` over the anchors of a P x K batch (STA Eq. 9).

    - The paper sums over the P*K anchors; we average, so the scale does not depend on the batch size.
    - Anchors without a positive (a singleton identity) or without a negative (single-identity batch) are left out of
      the mean; a batch where every anchor is left out gives 0 (with a graph, so ``backward()`` still works).
    - ``metric="cosine"`` uses ``D = 1 - cos``; ``"euclidean"`` the (non-squared) L2 distance.
    - ``soft=True`` replaces the hinge by ``softplus(d_ap - d_an)`` (Hermans et al.'s soft margin); ``margin`` is
      unused.
    """

    def __init__(self, margin: float = 0.3, metric: str = "euclidean", soft: bool = False) -> None:
        super().__init__()
        check_metric(metric)
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.margin = margin
        self.metric = metric
        self.soft = soft

    def mine(self, embeddings: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Indices of each anchor's hardest positive and negative, and the mask of anchors that have both."""
        check_embeddings_labels(embeddings, labels)
        with torch.no_grad():
            _, _, pos_idx, neg_idx, valid = batch_hard_mining(pairwise_distance(embeddings, embeddings, self.metric),
                                                              labels)
        return pos_idx, neg_idx, valid

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """embeddings (B, D), labels (B,) identity labels -> scalar loss."""
        check_embeddings_labels(embeddings, labels)
        dist = pairwise_distance(embeddings, embeddings, self.metric)
        d_ap, d_an, _, _, valid = batch_hard_mining(dist, labels)
        if not bool(valid.any()):
            return embeddings.sum() * 0.0
        gap = d_ap[valid] - d_an[valid]
        losses = F.softplus(gap) if self.soft else F.relu(gap + self.margin)
        return losses.mean()

    def extra_repr(self) -> str:
        return f"margin={self.margin}, metric={self.metric!r}, soft={self.soft}"
