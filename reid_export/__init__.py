"""Export of trained video re-ID models: ONNX (dynamic batch and seq axes, full or split, FP32/FP16/INT8),
verification against PyTorch, TensorRT engines and Triton repository entries.

Python API (the ``reid export`` / ``reid verify`` commands call the same functions)::

    from reid_export import export, verify
    result = export("runs/demo/best.pt", format="onnx", out="sta.onnx")   # or a registry name, or an nn.Module
    report = verify("sta.onnx", reference="runs/demo/best.pt")

Modules: ``api`` (``export``, ``verify``), ``formats`` (the formats table), ``onnx_export``, ``split_export``,
``fp16``, ``int8``, ``verification``, ``tensorrt_build``, ``triton`` and ``cli``. Importing this package imports no
torch: ``export``, ``verify`` and ``ExportResult`` are loaded on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ExportResult", "export", "verify"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from reid_export import api

        return getattr(api, name)
    raise AttributeError(f"module 'reid_export' has no attribute {name!r}")
