"""Light runtime of the video re-ID toolkit: datasets, sampling, metrics, backends, search, and the service layer.

Depends on numpy, pillow, scipy and onnxruntime only; torch comes with the PyTorch backend of ``reid_train``.
Every name below is imported on first use, so ``import reid_runtime`` stays cheap:

- ``load(model, backend="auto", ...)`` -> ``ReidModel`` (``embed`` tracklets); ``TrackletStream`` (streaming);
- ``evaluate(...)`` -> ``EvalReport``, ``embed(...)`` -> ``EmbedReport``, ``inspect_model(model)`` ->
  ``ModelDescription``: the jobs behind ``reid eval``, ``reid embed`` and ``reid info``
  (``reid search`` is ``reid_runtime.services.search.search``; ``reid_runtime.search`` is the ranking module);
- ``ReidError``: every user-facing error (one line naming the file or value and what was expected).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load": "reid_runtime.model",
    "ReidModel": "reid_runtime.model",
    "TrackletStream": "reid_runtime.stream",
    "evaluate": "reid_runtime.services.evaluate",
    "EvalReport": "reid_runtime.services.evaluate",
    "embed": "reid_runtime.services.embed",
    "EmbedReport": "reid_runtime.services.embed",
    "SearchReport": "reid_runtime.services.search",
    "inspect_model": "reid_runtime.services.info",
    "ModelDescription": "reid_runtime.services.info",
    "ReidError": "reid_runtime.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'reid_runtime' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
