"""Inter-frame regularization of STA (Fu et al., AAAI 2019, Eq. 6)."""

from __future__ import annotations

import torch
from torch import Tensor


def inter_frame_regularization(attention: Tensor, generator: torch.Generator | None = None,
                               squared: bool = False) -> Tensor:
    """``Reg = ||g_i - g_j||_F`` for two random distinct frames i != j of each video, averaged over the batch.

    ``attention`` is (B, T, h, w): the per-frame attention maps g_n of STA Eq. 1. The paper's text says "square
    Frobenius norm" but Eq. 6 writes the norm with the square root; the default follows Eq. 6, ``squared=True`` gives
    the squared norm. Frames are drawn independently per video from ``generator`` (a CPU generator, or one on the
    attention's device). T == 1 gives 0. The weight lambda (STA Eq. 7) is applied by the caller.
    """
    if attention.dim() != 4:
        raise ValueError(f"expected attention maps of shape (B, T, h, w), got {tuple(attention.shape)}")
    batch, frames = attention.shape[:2]
    if frames < 2 or batch == 0:
        return attention.sum() * 0.0
    device = generator.device if generator is not None else attention.device
    first = torch.randint(frames, (batch,), generator=generator, device=device)
    # Draw the second frame among the T - 1 others, so that i != j with uniform probability.
    second = torch.randint(frames - 1, (batch,), generator=generator, device=device)
    second = second + (second >= first).long()
    rows = torch.arange(batch, device=attention.device)
    diff = attention[rows, first.to(attention.device)] - attention[rows, second.to(attention.device)]
    squared_norm = diff.pow(2).flatten(1).sum(dim=1)
    if squared:
        return squared_norm.mean()
    # sqrt has an infinite derivative at 0: evaluate it away from 0 and select an exact 0 for identical maps.
    positive = squared_norm > 0
    norm = torch.where(positive, squared_norm.clamp_min(torch.finfo(squared_norm.dtype).tiny).sqrt(),
                       torch.zeros_like(squared_norm))
    return norm.mean()
