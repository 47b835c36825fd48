"""Softmax cross entropy with label smoothing (STA Eq. 10 when ``epsilon == 0``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class CrossEntropyLabelSmooth(nn.Module):
    """Cross entropy against the smoothed target ``q = (1 - epsilon) * onehot(y) + epsilon / C``.

    Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016. The loss is averaged over the batch (STA Eq. 10
    writes a sum over the P*K samples; the mean keeps the scale independent of the batch size).
    """

    def __init__(self, num_classes: int, epsilon: float = 0.1) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.num_classes = num_classes
        self.epsilon = epsilon

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        """logits (B, C) raw scores, targets (B,) class indices in [0, C)."""
        if logits.dim() != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(f"expected logits of shape (B, {self.num_classes}), got {tuple(logits.shape)}")
        if targets.shape != logits.shape[:1]:
            raise ValueError(f"expected targets of shape ({logits.shape[0]},), got {tuple(targets.shape)}")
        if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= self.num_classes):
            raise ValueError(f"targets must lie in [0, {self.num_classes}), got range "
                             f"[{int(targets.min())}, {int(targets.max())}]")
        log_probs = torch.log_softmax(logits, dim=1)
        nll = -log_probs.gather(1, targets.long().unsqueeze(1)).squeeze(1)
        uniform = -log_probs.mean(dim=1)
        return ((1.0 - self.epsilon) * nll + self.epsilon * uniform).mean()

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, epsilon={self.epsilon}"
