"""PyTorch checkpoint backend: the one place in ``reid_runtime`` that imports torch (lazily, when it is built).

Runs a ``reid train`` checkpoint as is. STA and TP heads also expose their per-frame terms (block scores and
strips) and the learned part after aggregation, so streaming works with a checkpoint as it does with a split export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from reid_runtime.backends.base import Backend, as_frames
from reid_runtime.errors import ReidError
from reid_runtime.model_format import ModelInfo


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, path: str | Path, threads: int | None = None, device: str | None = None) -> None:
        try:
            import torch
        except ImportError as exc:
            raise ReidError(f"{path}: the torch backend needs PyTorch: pip install 'reid-toolkit[train]'") from exc
        from reid_train.engine.checkpoint import load_model
        from reid_train.models.sta import STAHead
        from reid_train.models.tp import TemporalPoolingHead

        self._torch = torch
        self.path = Path(path)
        if threads is not None:
            torch.set_num_threads(threads)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model, ckpt = load_model(self.path, map_location="cpu")
        self.model = model.to(self.device).eval()
        head = self.model.head
        self._sta = isinstance(head, STAHead)
        if self._sta:
            # the "avg" ablation's scores are all ones: its weighted sum is the plain mean (as in the split export)
            aggregation, regions = ("sta" if head.attention == "sta" else "mean"), head.num_regions
            self.fusion = head.fusion
        elif isinstance(head, TemporalPoolingHead):
            aggregation, regions = "mean", 1
        else:
            aggregation, regions = "none", 1
        self.has_frame_terms = aggregation != "none"
        self.mode = "full"
        self.info = ModelInfo(
            role="full",
            architecture=str(model.model_config.get("name", type(model).__name__)),
            input_size=tuple(model.input_size),
            embedding_dim=int(model.embedding_dim),
            metric=model.metric,
            aggregation=aggregation,
            num_regions=regions,
            model_config=dict(model.model_config),
            toolkit_version=str(ckpt.get("toolkit_version", "")),
        )

    @property
    def providers(self) -> list[str]:
        return [str(self.device)]

    def _tensor(self, array: np.ndarray) -> Any:
        return self._torch.from_numpy(array).to(self.device)

    def run_full(self, frames: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            out = self.model(self._tensor(as_frames(frames, 5)))
        return out.float().cpu().numpy()

    def run_backbone(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.has_frame_terms:
            raise ReidError(self.frame_terms_missing())
        with self._torch.inference_mode():
            feats = self.model.forward_features(self._tensor(as_frames(frames, 4))[None])  # (1, N, C, h, w)
            if self._sta:
                scores, strips = self.model.head.frame_terms(feats)
                scores, strips = scores[0], strips[0]
            else:
                strips = feats[0].mean(dim=(-2, -1))[:, None]
                scores = self._torch.ones(strips.shape[:2], device=strips.device)
        return scores.float().cpu().numpy(), strips.float().cpu().numpy()

    def run_head(self, fused: np.ndarray) -> np.ndarray:
        if not self.has_frame_terms:
            raise ReidError(self.frame_terms_missing())
        head = self.model.head
        with self._torch.inference_mode():
            x = self._tensor(np.ascontiguousarray(fused, dtype=np.float32))
            if self._sta:
                out = head.fc(x)
            elif head.neck_feat == "before":
                out = x
            else:
                out = head.neck.bn(x)
        return out.float().cpu().numpy()

    def describe(self) -> dict[str, Any]:
        return {"device": str(self.device), "torch": self._torch.__version__}
