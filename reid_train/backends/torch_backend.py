"""PyTorch backend: runs a ``reid train`` checkpoint, or an untrained model built from a registry name.

Registered with the runtime through the ``reid.backends`` entry point (``reid_train.plugin``), so
``reid_runtime.load("runs/x/best.pt")`` and ``reid_runtime.load("sta_resnet50")`` work wherever torch is installed,
while the runtime itself never imports torch. Models with per-frame terms (STA, TP) also expose them and the learned
part after aggregation, so streaming and split batching work with a checkpoint as with a split export.

Checkpoints load through :func:`reid_train.engine.checkpoint.load_model`, i.e. ``torch.load(weights_only=True)``:
a file whose pickle names anything but tensors and plain values is refused in one line and nothing of it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from reid_runtime import __version__
from reid_runtime.backends.base import Backend, as_frames
from reid_runtime.errors import ReidError
from reid_runtime.model_format import ModelInfo
from reid_train.engine.checkpoint import load_model
from reid_train.models import create_model, list_models

MARS_TRAIN_IDS = 625  # classifier width of a model built from a name (unused by the embedding)


def build_named_model(name: str, input_size: tuple[int, int] | None = None,
                      num_classes: int = MARS_TRAIN_IDS) -> torch.nn.Module:
    """An untrained (randomly initialised, seed 0) registry model in eval mode; a clear error for an unknown name."""
    if name not in list_models():
        raise ReidError(f"{name!r} is neither a model file nor a registered model name "
                        f"(names: {', '.join(list_models())})")
    kwargs = {"input_size": tuple(input_size)} if input_size is not None else {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = create_model(name, num_classes=num_classes, **kwargs)
    return model.eval()


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, path: str | Path, threads: int | None = None, device: str | None = None,
                 input_size: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        if threads is not None:
            torch.set_num_threads(threads)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.path.exists():
            if input_size is not None:
                raise ReidError(f"{path}: a checkpoint has its own input size; --size applies to model names only")
            model, ckpt = load_model(self.path, map_location="cpu")
            version, recipe = str(ckpt.get("toolkit_version", "")), dict(ckpt.get("config", {}) or {})
        else:
            model, version, recipe = build_named_model(str(path), input_size), __version__, {}
        self.model = model.to(self.device).eval()
        self.has_frame_terms = model.has_frame_terms
        self.fusion = model.fusion
        self.mode = "full"
        self.info = ModelInfo(
            role="full",
            architecture=str(model.model_config.get("name", type(model).__name__)),
            input_size=tuple(model.input_size),
            embedding_dim=int(model.embedding_dim),
            metric=model.metric,
            aggregation=model.aggregation,
            num_regions=model.num_regions,
            model_config=dict(model.model_config),
            recipe=recipe,
            toolkit_version=version,
        )

    @property
    def providers(self) -> list[str]:
        return [str(self.device)]

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array).to(self.device)

    def run_full(self, frames: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = self.model(self._tensor(as_frames(frames, 5)))
        return out.float().cpu().numpy()

    def run_backbone(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.has_frame_terms:
            raise ReidError(self.frame_terms_missing())
        with torch.inference_mode():
            feats = self.model.forward_features(self._tensor(as_frames(frames, 4))[None])  # (1, N, C, h, w)
            scores, strips = self.model.frame_terms(feats)
        return scores[0].float().cpu().numpy(), strips[0].float().cpu().numpy()

    def run_head(self, fused: np.ndarray) -> np.ndarray:
        if not self.has_frame_terms:
            raise ReidError(self.frame_terms_missing())
        with torch.inference_mode():
            out = self.model.forward_fused(self._tensor(np.ascontiguousarray(fused, dtype=np.float32)))
        return out.float().cpu().numpy()

    def describe(self) -> dict[str, Any]:
        return {"device": str(self.device), "torch": torch.__version__}
