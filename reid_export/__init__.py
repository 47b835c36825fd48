"""Export of trained video re-ID models: ONNX (dynamic batch and seq axes, full or split, FP32/FP16/INT8),
verification against PyTorch, TensorRT engines and Triton repository entries.

Modules: ``formats`` (the formats table), ``onnx_export``, ``split_export``, ``fp16``, ``int8``, ``verify``,
``tensorrt_build``, ``triton`` and ``cli`` (``reid export``). Importing this package imports no torch.
"""
