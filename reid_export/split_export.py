"""Split export: a per-frame backbone graph and a head graph, with the temporal aggregation in numpy between them.

The backbone graph takes frames of any tracklets packed on one axis, so a runtime can batch frames across tracklets
of different lengths (and stream frames as they arrive), then aggregate each tracklet with
``reid_runtime.aggregation.fuse`` and run the head on the fused rows.

* STA: ``scores`` are the un-normalised block scores ``s_{n,k}`` (Eq. 1-3), ``strips`` the block-pooled features;
  ``aggregation="sta"`` (``fusion`` from ``model_config``) or ``"mean"`` for the ``attention="avg"`` ablation, whose
  scores are all ones so its weighted sum is the plain mean.
* TP: K=1, scores of ones, strips the frame GAP; ``aggregation="mean"``.
* ASTA cannot be split: its temporal convolution mixes neighbouring frames before any pooling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from torch import Tensor, nn

from reid_runtime import model_format as mf
from reid_runtime.aggregation import fuse
from reid_runtime.errors import ReidError

TRACE_FRAMES = 6   # example frame count of the backbone trace (>= 2, see onnx_export.TRACE_SHAPE)
TRACE_BATCH = 2


class SplitError(ReidError):
    """The model cannot be exported as backbone + head."""


class FrameBackbone(nn.Module):
    """``frames`` (N, 3, H, W) raw RGB -> ``scores`` (N, K), ``strips`` (N, K, C): the per-frame half of the model."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        check_splittable(model)
        self.model = model

    def forward(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        feats = self.model.forward_features(frames.unsqueeze(1))  # (N, 1, C, h, w): each frame its own clip
        scores, strips = self.model.frame_terms(feats)
        return scores.squeeze(1), strips.squeeze(1)


class FusedHead(nn.Module):
    """``fused`` (B, F) -> ``embedding`` (B, D): the learned layers after the parameter-free aggregation."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        check_splittable(model)
        self.model = model

    def forward(self, fused: Tensor) -> Tensor:
        return self.model.forward_fused(fused)  # TP with neck_feat "before": exported as an Identity node


def check_splittable(model: nn.Module) -> None:
    if not model.has_frame_terms:
        name = model.model_config.get("name", type(model.head).__name__)
        raise SplitError(
            f"{name} cannot be split into backbone + head: its {type(model.head).__name__} mixes frames inside the "
            "network (ASTA's temporal convolution runs across neighbouring frames before pooling); export it without "
            "--split, the full graph has dynamic batch and seq axes"
        )


def fused_dim(model: nn.Module) -> int:
    """Width F of the head input: 2C for STA with fusion, C otherwise."""
    return model.fused_dim


def split_paths(out: str | Path) -> tuple[Path, Path]:
    """``model.onnx`` -> ``model.backbone.onnx``, ``model.head.onnx``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.backbone.onnx"), out.with_name(f"{out.stem}.head.onnx")


def export_split(model: nn.Module, opset: int) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """Dynamo-export the backbone (dynamic frame axis) and the head (dynamic batch axis); dims checked."""
    from torch.export import Dim

    from reid_export.onnx_export import MAX_DIM, check_dims, dynamo_export

    check_splittable(model)
    height, width = model.input_size
    backbone = FrameBackbone(model).eval()
    head = FusedHead(model).eval()
    frames = torch.rand(TRACE_FRAMES, 3, height, width) * 255
    with torch.no_grad():
        scores, strips = backbone(frames)
    num_regions, channels = strips.shape[1], strips.shape[2]
    backbone_proto = dynamo_export(
        backbone, (frames,), input_names=[mf.INPUT_FRAMES], output_names=[mf.OUTPUT_SCORES, mf.OUTPUT_STRIPS],
        dynamic_shapes={"frames": {0: Dim("frames", min=1, max=MAX_DIM * 16)}}, opset=opset,
    )
    check_dims(backbone_proto, {
        mf.INPUT_FRAMES: ("frames", 3, height, width),
        mf.OUTPUT_SCORES: ("frames", num_regions),
        mf.OUTPUT_STRIPS: ("frames", num_regions, channels),
    }, "split backbone")
    fused = torch.randn(TRACE_BATCH, fused_dim(model))
    head_proto = dynamo_export(
        head, (fused,), input_names=[mf.INPUT_FUSED], output_names=[mf.OUTPUT_EMBEDDING],
        dynamic_shapes={"fused": {0: Dim("batch", min=1, max=MAX_DIM)}}, opset=opset,
    )
    check_dims(head_proto, {
        mf.INPUT_FUSED: ("batch", fused_dim(model)),
        mf.OUTPUT_EMBEDDING: ("batch", model.embedding_dim),
    }, "split head")
    return backbone_proto, head_proto


class SplitRunner:
    """Backbone session -> numpy aggregation -> head session; the split pipeline a runtime runs."""

    def __init__(self, backbone, head, aggregation: str, fusion: bool = True) -> None:
        if aggregation not in ("sta", "mean"):
            raise SplitError(f"aggregation {aggregation!r} cannot run outside the graph (expected 'sta' or 'mean')")
        self.backbone = backbone
        self.head = head
        self.aggregation = aggregation
        self.fusion = fusion

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """``(B, T, 3, H, W)`` -> ``(B, D)``: all B*T frames in one backbone call."""
        frames = np.asarray(frames, dtype=np.float32)
        batch, seq = frames.shape[:2]
        scores, strips = self.backbone.run(None, {mf.INPUT_FRAMES: frames.reshape(batch * seq, *frames.shape[2:])})
        fused = fuse(self.aggregation, scores.reshape(batch, seq, -1), strips.reshape(batch, seq, *strips.shape[1:]),
                     fusion=self.fusion)
        return self.head.run(None, {mf.INPUT_FUSED: fused.astype(np.float32)})[0]

    def embed_tracklets(self, tracklets: list[np.ndarray]) -> np.ndarray:
        """Tracklets of different lengths, each ``(T_i, 3, H, W)``: one backbone call for all frames -> ``(N, D)``."""
        if not tracklets:
            raise ValueError("embed_tracklets needs at least one tracklet")
        lengths = [len(t) for t in tracklets]
        frames = np.concatenate([np.asarray(t, dtype=np.float32) for t in tracklets])
        scores, strips = self.backbone.run(None, {mf.INPUT_FRAMES: frames})
        bounds = np.cumsum([0] + lengths)
        fused = np.concatenate([
            fuse(self.aggregation, scores[None, a:b], strips[None, a:b], fusion=self.fusion)
            for a, b in zip(bounds[:-1], bounds[1:])
        ])
        return self.head.run(None, {mf.INPUT_FUSED: fused.astype(np.float32)})[0]
