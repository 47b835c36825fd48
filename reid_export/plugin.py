"""What ``reid_export`` registers: ``reid export``, ``reid verify`` and the torch/onnx ``reid bench`` commands."""

from __future__ import annotations

from reid_runtime.plugins import CommandSpec, Requirement

EXPORT = Requirement(("torch", "onnx", "onnxscript", "yaml"), "export")

COMMANDS = [
    CommandSpec("export", "reid_export.cli:export",
                "Export a checkpoint or model name to a deployment format (ONNX fp32/fp16/int8, split, TensorRT, "
                "Triton), verified against PyTorch.", EXPORT),
    CommandSpec("verify", "reid_export.cli:verify",
                "Check an exported model against the checkpoint it came from (max |diff|, cosine per (B, T)).",
                EXPORT),
]

BENCH_COMMANDS = [
    CommandSpec("flops", "reid_export.bench.cli:flops",
                "MACs per clip (backbone, head, attention) counted on the PyTorch model, recounted on ONNX.", EXPORT),
    CommandSpec("formats", "reid_export.bench.cli:formats",
                "Export to every format, verify, time and score each: format x size x cosine x mAP x latency.",
                EXPORT),
    CommandSpec("mixed", "reid_export.bench.cli:mixed",
                "Mixed-length workload: naive padding vs length bucketing vs frame packing.", EXPORT),
    CommandSpec("tradeoff", "reid_export.bench.cli:tradeoff",
                "Models side by side: GMACs, parameters, size, speed and mAP per format and backend.", EXPORT),
]
