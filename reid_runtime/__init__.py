"""Light runtime of the video re-ID toolkit: datasets, sampling, metrics, backends, search.

Depends on numpy, pillow, scipy and onnxruntime only; torch is imported inside the PyTorch backend alone.
``reid_runtime.load(path)`` loads a model (imported on first use, so ``import reid_runtime`` stays cheap).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {"load": "reid_runtime.model", "ReidModel": "reid_runtime.model", "TrackletStream": "reid_runtime.stream"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'reid_runtime' has no attribute {name!r}")
