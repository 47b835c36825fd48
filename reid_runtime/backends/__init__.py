"""Inference backends (onnxruntime, TensorRT, PyTorch); each engine's package is imported only when it is used."""

from reid_runtime.backends.base import Backend

__all__ = ["Backend"]
