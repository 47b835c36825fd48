"""STA: parameter-free spatial-temporal attention with feature fusion (Fu et al., AAAI 2019, Eq. 1-4, Algorithm 1).

With ``f_n`` the ``(C, h, w)`` map of frame n (after ReLU, so non-negative):

- Eq. 1: ``g_n(h, w) = sum_d f_n(h, w, d)^2 / sum_{h,w} sum_d f_n(h, w, d)^2``. The paper writes ``||.||_2`` around the
  channel sum of squares; the norm of a non-negative scalar is the scalar itself, so we read Eq. 1 as "energy map
  normalised to sum 1 over the map".
- Eq. 2-3: the maps are cut into K horizontal blocks of ``h / K`` rows; ``s_{n,k}`` is the sum of ``g_n`` over block k
  (the ``||.||_1`` of non-negative values is the plain sum).
- Eq. 4: ``S(n, k) = s_{n,k} / sum_n s_{n,k}``: the scores of a block sum to 1 over the frames.
- Algorithm 1: ``F1`` takes block k from the frame ``argmax_n S(n, k)`` (the first frame on ties); ``F2`` is the
  ``S``-weighted sum of block k over frames (Algorithm 1 writes ``s_nk`` in the update; the text calls the entries of
  the normalised matrix S ``s_{n,k}`` too, and only the normalised weights make ``F2`` a weighted average, so we use
  ``S``). ``F_fuse = [F1, F2]`` on channels, then global average pooling and one FC layer give the representation X.
  Algorithm 1's ``H_s = floor(H / 4)`` is ``floor(h / K)`` for general K: block k is rows ``[(k-1) H_s, k H_s)``,
  and ``F1``, ``F2`` start as zeros of the full map, so when K does not divide h the last ``h - K H_s`` rows stay
  zero ("floor and pad", as written): they are in neither the scores nor the blocks, and global average pooling still
  divides by ``h w``. Any map at least K rows high works.

Global average pooling is linear, so ``GAP(F1) = mean_k pool(f_{m_k,k})`` and ``GAP(F2) = mean_k sum_n S(n,k)
pool(f_{n,k})`` with ``pool`` a block's sum divided by ``h w / K`` (its spatial mean when K divides h). The head is
therefore split into per-frame terms (``frame_terms``: un-normalised scores and block-pooled strips, computable frame
by frame) and ``fuse`` (the only step that looks across frames), which equals the literal algorithm on full maps.

The classifier sits directly on X with no BatchNorm in between: the paper trains the softmax loss on X (Eq. 10) and
uses X, the output of the first FC layer, as the tracklet representation.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor, nn

from reid_train.models.video_model import BNNeck, VideoReIDModel, check_input_size, full_precision, reid_backbone

_EPS = 1e-12


class STAHead(nn.Module):
    """STA attention, fusion, FC to the embedding X and the ID classifier on X.

    ``attention="avg"`` replaces the STA scores by equal weights (plain average over frames and regions, the "Avg" row
    of the paper's Table 1); ``fusion=False`` keeps only the weighted-sum half F2 (C channels instead of 2C).
    ``neck=True`` (not in the paper) puts a BNNeck between X and the classifier, as the TP and ASTA heads have: the
    classifier then reads BN(X), eval mode returns BN(X) and retrieval uses the cosine distance, so an ablation can
    give every head the same neck and compare the attention alone.
    """

    def __init__(self, in_channels: int, num_classes: int, *, num_regions: int = 4, embedding_dim: int = 1024,
                 attention: str = "sta", fusion: bool = True, neck: bool = False) -> None:
        super().__init__()
        if attention not in ("sta", "avg"):
            raise ValueError(f"attention must be 'sta' or 'avg', got {attention!r}")
        if attention == "avg" and fusion:
            raise ValueError("fusion=True needs STA scores to select the best frame per region; "
                             "use attention='sta' or fusion=False")
        if num_regions < 1:
            raise ValueError(f"num_regions must be >= 1, got {num_regions}")
        self.num_regions = num_regions
        self.attention = attention
        self.fusion = fusion
        self.embedding_dim = embedding_dim
        self.fc = nn.Linear(in_channels * (2 if fusion else 1), embedding_dim)
        self.metric = "cosine" if neck else "euclidean"
        self.neck = BNNeck(embedding_dim, num_classes) if neck else None
        self.classifier = None if neck else nn.Linear(embedding_dim, num_classes, bias=False)

    @property
    def aggregation(self) -> str:
        """What the head does across frames: ``sta`` (Eq. 4 + Algorithm 1), or ``mean`` for the avg ablation, whose
        scores are all ones, so its weighted sum over frames is exactly the mean."""
        return "sta" if self.attention == "sta" else "mean"

    @property
    def fused_dim(self) -> int:
        """Width of the fused feature ``forward_fused`` takes: 2C with fusion, C without."""
        return self.fc.in_features

    def forward_fused(self, fused: Tensor) -> Tensor:
        """The learned part after the aggregation: fused ``(B, F)`` -> embedding X ``(B, D)`` (BN(X) with a neck)."""
        embedding = self.fc(fused)
        return embedding if self.neck is None else self.neck.bn(embedding)

    def attention_maps(self, feats: Tensor) -> Tensor:
        """Eq. 1: ``(B, T, C, h, w)`` -> ``g`` ``(B, T, h, w)`` in fp32, each map summing to 1."""
        with full_precision(feats.device.type):
            energy = feats.float().pow(2).sum(dim=2)
            return energy / energy.sum(dim=(-2, -1), keepdim=True).clamp_min(_EPS)

    def block_scores(self, attention: Tensor) -> Tensor:
        """Eq. 2-3: ``g`` ``(B, T, h, w)`` -> un-normalised block scores ``s`` ``(B, T, K)`` over the ``K H_s`` top
        rows (Algorithm 1's blocks)."""
        return self._blocks(attention).sum(dim=(-2, -1))

    def strips(self, feats: Tensor) -> Tensor:
        """Each block pooled for the GAP of Algorithm 1's padded map: ``(B, T, C, h, w)`` -> ``(B, T, K, C)``; the
        spatial mean of the block when K divides h, else its sum over ``h w / K``."""
        height, width = feats.shape[-2:]
        if height % self.num_regions == 0:
            return feats.unflatten(-2, (self.num_regions, -1)).mean(dim=(-2, -1)).transpose(-1, -2)
        sums = self._blocks(feats).sum(dim=(-2, -1)).transpose(-1, -2)
        return sums * (self.num_regions / (height * width))

    def frame_terms(self, feats: Tensor) -> tuple[Tensor, Tensor]:
        """Per-frame terms: scores ``(B, T, K)`` (``s_{n,k}``, fp32, before Eq. 4) and strips ``(B, T, K, C)``.

        With ``attention="avg"`` the scores are all ones, so ``fuse`` averages the frames.
        """
        scores, strips, _ = self._terms(feats)
        return scores, strips

    def normalize_scores(self, scores: Tensor) -> Tensor:
        """Eq. 4: ``S(n, k) = s_{n,k} / sum_n s_{n,k}`` over the frame axis of ``(B, T, K)``, in fp32."""
        with full_precision(scores.device.type):
            weights = scores.float()
            return weights / weights.sum(dim=1, keepdim=True).clamp_min(_EPS)

    def fuse(self, scores: Tensor, strips: Tensor) -> Tensor:
        """Eq. 4 + Algorithm 1 + GAP: ``(B, T, K)``, ``(B, T, K, C)`` -> ``(B, 2C)`` (``(B, C)`` without fusion)."""
        with full_precision(strips.device.type):
            weights = self.normalize_scores(scores)
            values = strips.float()
            weighted = (weights.unsqueeze(-1) * values).sum(dim=1).mean(dim=1)  # GAP(F2)
            if not self.fusion:
                return weighted.to(strips.dtype)
            best = weights.argmax(dim=1, keepdim=True)  # (B, 1, K): first maximum on ties
            index = best.unsqueeze(-1).expand(-1, -1, -1, values.shape[-1])
            selected = values.gather(1, index).squeeze(1).mean(dim=1)  # GAP(F1)
            return torch.cat([selected, weighted], dim=1).to(strips.dtype)

    def forward(self, feats: Tensor) -> Tensor | dict[str, Any]:
        scores, strips, attention = self._terms(feats)
        embedding = self.fc(self.fuse(scores, strips))
        if self.neck is None:
            if not self.training:
                return embedding
            logits = self.classifier(embedding)
        else:
            normed, logits = self.neck(embedding)
            if not self.training:
                return normed
        return {"embedding": embedding, "logits": logits, "attention": attention}

    def _terms(self, feats: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        attention = self.attention_maps(feats)
        strips = self.strips(feats)
        if self.attention == "avg":
            return torch.ones_like(strips[..., 0], dtype=torch.float32), strips, attention
        return self.block_scores(attention), strips, attention

    def _blocks(self, maps: Tensor) -> Tensor:
        """``(..., h, w)`` -> ``(..., K, H_s, w)``: Algorithm 1's blocks of ``H_s = floor(h / K)`` rows from the top."""
        height = maps.shape[-2]
        rows = height // self.num_regions
        if rows < 1:
            raise ValueError(f"STA cuts the feature map into num_regions={self.num_regions} horizontal blocks of "
                             f"floor(height / {self.num_regions}) rows; a map of height {height} has too few rows")
        return maps[..., : rows * self.num_regions, :].unflatten(-2, (self.num_regions, rows))


def build_sta(
    backbone: str,
    *,
    num_classes: int,
    input_size: tuple[int, int] = (256, 128),
    last_stride: int = 1,
    width: int | None = None,
    pretrained: str | os.PathLike[str] | None = None,
    num_regions: int = 4,
    embedding_dim: int = 1024,
    attention: str = "sta",
    fusion: bool = True,
    neck: bool = False,
) -> VideoReIDModel:
    """STA on a backbone (the paper: ResNet-50, last stride 1, 256x128, K=4, D=1024)."""
    input_size = check_input_size(input_size)
    net = reid_backbone(backbone, last_stride=last_stride, width=width, pretrained=pretrained)
    height, width_ = net.feature_size(input_size)
    if height < num_regions:
        raise ValueError(
            f"STA cuts the feature map into num_regions={num_regions} blocks of at least one row, but input_size "
            f"{input_size} with last_stride {last_stride} gives a {height}x{width_} map"
        )
    head = STAHead(net.out_channels, num_classes, num_regions=num_regions, embedding_dim=embedding_dim,
                   attention=attention, fusion=fusion, neck=neck)
    return VideoReIDModel(net, head, input_size=input_size)
