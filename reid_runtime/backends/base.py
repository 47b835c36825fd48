"""The interface every inference backend implements: whole clips, and per-frame terms + head for split models.

Arrays in and out are numpy: frames are raw RGB float32 in 0..255, ``(B, T, 3, H, W)`` for whole clips and
``(N, 3, H, W)`` for the per-frame backbone of a split model. Backends sub-batch internally when a request exceeds
what the engine accepts, so callers may pass any batch size.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reid_runtime.errors import ReidError
from reid_runtime.model_format import ModelInfo

NOT_PROFILED = "{path}: loaded without profile=True, so no operator times were recorded"


@dataclass(frozen=True)
class OpTime:
    """The time one graph node took in one inference call (a backend loaded with ``profile=True``)."""

    call: int  # which inference call of the graph since loading, from 0
    graph: str  # full, backbone or head
    node: str
    op: str  # as the engine names it: onnxruntime the ONNX op after its fusions, OpenVINO its layer type
    kernel: str  # what ran it: OpenVINO's exec type (e.g. brgconv_avx512_1x1_I8), onnxruntime's provider
    ms: float


class Backend(ABC):
    """One loaded model on one inference engine.

    ``mode`` is how batched embedding runs: ``"full"`` (one graph maps clips to embeddings) or ``"split"`` (a
    per-frame backbone, the numpy aggregation of ``info.aggregation``, then a head). ``has_frame_terms`` says whether
    ``run_backbone`` / ``run_head`` exist, which streaming needs even when ``mode`` is ``"full"``.
    """

    name: str = ""
    path: Path
    info: ModelInfo
    mode: str
    has_frame_terms: bool = False
    fusion: bool = True  # STA split models: whether the head takes [selected, weighted] (2C) or only weighted (C)

    @property
    def providers(self) -> list[str]:
        """The devices or execution providers actually in use."""
        return ["CPU"]

    def run_full(self, frames: np.ndarray) -> np.ndarray:
        """``(B, T, 3, H, W)`` -> ``(B, D)`` float32."""
        raise ReidError(f"{self.path}: this {self.name} model has no whole-clip graph")

    def run_backbone(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(N, 3, H, W)`` -> un-normalised scores ``(N, K)`` and strips ``(N, K, C)``, float32."""
        raise ReidError(self.frame_terms_missing())

    def run_head(self, fused: np.ndarray) -> np.ndarray:
        """Aggregated ``(B, F)`` -> ``(B, D)`` float32."""
        raise ReidError(self.frame_terms_missing())

    def frame_terms_missing(self) -> str:
        return (
            f"{self.path}: {self.info.architecture} loaded with the {self.name} backend has no per-frame terms "
            f"(aggregation {self.info.aggregation!r}); streaming and split batching need a split export "
            "(backbone + head graphs, `reid export --format onnx --split`) of an STA or TP model"
        )

    def op_times(self) -> list[OpTime]:
        """Per-node times of every call since loading, for a backend loaded with ``profile=True``."""
        raise ReidError(f"{self.path}: the {self.name} backend does not profile operators "
                        "(onnxruntime and openvino do, on exported .onnx files)")

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Backend-specific facts for ``ReidModel.describe``."""


def as_frames(frames: np.ndarray, ndim: int) -> np.ndarray:
    """C-contiguous float32 of the given rank; a clear error otherwise."""
    frames = np.ascontiguousarray(frames, dtype=np.float32)
    if frames.ndim != ndim or frames.shape[-3] != 3:
        layout = "(B, T, 3, H, W)" if ndim == 5 else "(N, 3, H, W)"
        raise ValueError(f"frames must be shaped {layout}, got {frames.shape}")
    return frames
