"""Temporal pooling baseline (Gao & Nevatia 2018; the baseline of the AITL paper): frame GAP, then the mean over T.

The pooled C-d feature is the embedding the triplet loss sees. A BNNeck (BatchNorm1d with a frozen zero bias) sits
between it and the bias-free ID classifier, as in AITL's released baseline. ``neck_feat`` picks what eval mode returns
for retrieval: ``"after"`` (default, AITL's test setting) the BN output, ``"before"`` the pooled feature itself; both
are compared with the cosine distance.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor, nn

from reid_train.models.video_model import BNNeck, VideoReIDModel, check_input_size, check_neck_feat, reid_backbone


class TemporalPoolingHead(nn.Module):
    """``(B, T, C, h, w)`` -> spatial mean per frame -> mean over frames -> ``(B, C)``."""

    metric = "cosine"
    aggregation = "mean"
    num_regions = 1
    fusion = False

    def __init__(self, in_channels: int, num_classes: int, *, neck_feat: str = "after") -> None:
        super().__init__()
        check_neck_feat(neck_feat)
        self.embedding_dim = in_channels
        self.fused_dim = in_channels
        self.neck_feat = neck_feat
        self.neck = BNNeck(in_channels, num_classes)

    def frame_terms(self, feats: Tensor) -> tuple[Tensor, Tensor]:
        """Per-frame terms: scores of one ``(B, T, 1)`` and the frame GAP as one strip ``(B, T, 1, C)``."""
        strips = feats.mean(dim=(-2, -1)).unsqueeze(-2)
        return torch.ones_like(strips[..., 0]), strips

    def forward_fused(self, fused: Tensor) -> Tensor:
        """The learned part after the temporal mean: ``(B, C)`` -> the retrieval embedding (eval mode)."""
        if self.neck_feat == "before":
            return fused
        return self.neck.bn(fused)

    def forward(self, feats: Tensor) -> Tensor | dict[str, Any]:
        feature = feats.mean(dim=(-2, -1)).mean(dim=1)
        if not self.training and self.neck_feat == "before":
            return feature
        normed, logits = self.neck(feature)
        if not self.training:
            return normed
        return {"embedding": feature, "logits": logits}


def build_tp(
    backbone: str,
    *,
    num_classes: int,
    input_size: tuple[int, int] = (256, 128),
    last_stride: int = 1,
    width: int | None = None,
    pretrained: str | os.PathLike[str] | None = None,
    neck_feat: str = "after",
) -> VideoReIDModel:
    """Temporal pooling on a backbone; the embedding has its channel count (2048 for ResNet-50, 512 for OSNet x1.0)."""
    input_size = check_input_size(input_size)
    net = reid_backbone(backbone, last_stride=last_stride, width=width, pretrained=pretrained)
    head = TemporalPoolingHead(net.out_channels, num_classes, neck_feat=neck_feat)
    return VideoReIDModel(net, head, input_size=input_size)
