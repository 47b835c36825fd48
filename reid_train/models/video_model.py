"""The video re-ID model shared by all heads: pixel normalisation, a per-frame backbone and a clip-level head.

Input frames are raw RGB floats in 0..255 shaped ``(B, T, 3, H, W)``; normalisation lives inside the model so exported
graphs take the same input. B and T are never read as Python numbers, so the model exports with dynamic batch and
sequence axes.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch
from torch import Tensor, nn

from reid_train.models.backbones import create_backbone, load_pretrained

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VideoReIDModel(nn.Module):
    """``backbone`` maps frames to ``(C, h, w)`` maps; ``head`` maps ``(B, T, C, h, w)`` to the clip embedding.

    The head returns the embedding ``(B, D)`` in eval mode and a dict with at least ``"embedding"`` and ``"logits"`` in
    training mode. ``model_config`` is filled by ``create_model`` so that ``create_model(**model.model_config)``
    rebuilds the same architecture.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, *, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).mul(255.0).view(3, 1, 1))
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).mul(255.0).view(3, 1, 1))
        self.backbone = backbone
        self.head = head
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.model_config: dict[str, Any] = {}

    @property
    def embedding_dim(self) -> int:
        return self.head.embedding_dim

    @property
    def metric(self) -> str:
        """Distance retrieval should use with these embeddings: ``"euclidean"`` or ``"cosine"``."""
        return self.head.metric

    # What the head declares (timm-style capabilities): callers ask the model instead of testing its class.

    @property
    def aggregation(self) -> str:
        """How the head combines frames: ``sta`` (per-frame scores and strips, Eq. 4 + Algorithm 1), ``mean``
        (uniform weights) or ``none`` (frames mixed inside the head: no per-frame terms, no split export)."""
        return getattr(self.head, "aggregation", "none")

    @property
    def num_regions(self) -> int:
        """K: horizontal regions of the per-frame terms (1 without regions)."""
        return int(getattr(self.head, "num_regions", 1))

    @property
    def fusion(self) -> bool:
        """STA: whether the fused feature is ``[selected, weighted]`` (2C) or only ``weighted`` (C)."""
        return bool(getattr(self.head, "fusion", False))

    @property
    def has_frame_terms(self) -> bool:
        """Whether the head splits into per-frame terms + a parameter-free fusion + ``forward_fused``."""
        return self.aggregation != "none"

    @property
    def fused_dim(self) -> int:
        """Width F of the fused feature that ``forward_fused`` takes."""
        self._need_frame_terms()
        return int(self.head.fused_dim)

    def capabilities(self) -> dict[str, Any]:
        """What the model declares, for metadata, export and runtimes."""
        return {"aggregation": self.aggregation, "num_regions": self.num_regions, "fusion": self.fusion,
                "metric": self.metric, "embedding_dim": self.embedding_dim, "has_frame_terms": self.has_frame_terms}

    def frame_terms(self, feats: Tensor) -> tuple[Tensor, Tensor]:
        """Per-frame maps ``(B, T, C, h, w)`` -> scores ``(B, T, K)`` and region strips ``(B, T, K, C)``."""
        self._need_frame_terms()
        return self.head.frame_terms(feats)

    def forward_fused(self, fused: Tensor) -> Tensor:
        """Fused ``(B, F)`` (the numpy aggregation of the frame terms) -> embedding ``(B, D)``, eval mode."""
        self._need_frame_terms()
        return self.head.forward_fused(fused)

    def _need_frame_terms(self) -> None:
        if not self.has_frame_terms:
            name = self.model_config.get("name", type(self.head).__name__)
            raise ValueError(f"{name}: its {type(self.head).__name__} mixes frames inside the network, so it has no "
                             "per-frame terms (no split export, no streaming); use the whole-clip graph")

    def forward_features(self, frames: Tensor) -> Tensor:
        """``(B, T, 3, H, W)`` raw RGB 0..255 -> per-frame backbone maps ``(B, T, C, h, w)``."""
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise ValueError(f"frames must be shaped (B, T, 3, H, W), got {tuple(frames.shape)}")
        if not frames.is_floating_point():
            raise ValueError(f"frames must be a float tensor of raw RGB values in 0..255, got {frames.dtype}")
        x = (frames - self.pixel_mean) / self.pixel_std
        feats = self.backbone.forward_features(x.flatten(0, 1))
        return feats.unflatten(0, (frames.shape[0], -1))

    def forward_head(self, feats: Tensor) -> Tensor | dict[str, Any]:
        return self.head(feats)

    def forward(self, frames: Tensor) -> Tensor | dict[str, Any]:
        return self.forward_head(self.forward_features(frames))


class BNNeck(nn.Module):
    """BatchNorm1d with a frozen zero bias followed by a bias-free ID classifier."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(channels)
        self.bn.bias.requires_grad_(False)
        self.classifier = nn.Linear(channels, num_classes, bias=False)

    def forward(self, feature: Tensor) -> tuple[Tensor, Tensor]:
        """Returns the normalised feature and the logits."""
        normed = self.bn(feature)
        return normed, self.classifier(normed)


def check_neck_feat(neck_feat: str) -> None:
    if neck_feat not in ("before", "after"):
        raise ValueError(f"neck_feat must be 'before' or 'after' the BNNeck, got {neck_feat!r}")


def reid_backbone(name: str, *, last_stride: int, width: int | None,
                  pretrained: str | os.PathLike[str] | None) -> nn.Module:
    """A backbone for re-ID (see ``backbones.BACKBONES``): built, loaded from an upstream weight file if given, then
    stripped of its image classifier."""
    backbone = create_backbone(name, last_stride=last_stride, width=width)
    if pretrained is not None:
        load_pretrained(backbone, pretrained)
    backbone.reset_classifier(0)
    return backbone


def check_input_size(input_size: tuple[int, int] | list[int]) -> tuple[int, int]:
    """Validate ``(H, W)`` and return it as a tuple of ints."""
    size = tuple(input_size)
    if len(size) != 2 or not all(isinstance(s, int) and s >= 32 for s in size):
        raise ValueError(f"input_size must be (height, width) with both >= 32 pixels, got {input_size!r}")
    return size[0], size[1]


def full_precision(device_type: str) -> contextlib.AbstractContextManager[None]:
    """Disable autocast inside the block when it is on (AMP-safe sums); a no-op otherwise, which keeps exports clean."""
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()
