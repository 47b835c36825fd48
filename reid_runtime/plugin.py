"""What the base package itself registers: its commands, its ``reid bench`` commands and its backends.

Imports nothing heavy; the targets are imported only when a command runs or a backend is used.
"""

from __future__ import annotations

from reid_runtime.plugins import BackendSpec, CommandSpec, Requirement

_ORT = Requirement(("onnxruntime",), "cpu")

COMMANDS = [
    CommandSpec("data", "reid_runtime.cli.data:data",
                "Synthesize datasets in the real layouts and summarize dataset folders."),
    CommandSpec("eval", "reid_runtime.cli.eval:eval_command",
                "Evaluate a model on a dataset: CMC / mAP / mINP per sequence length, under a named protocol."),
    CommandSpec("probe", "reid_runtime.cli.probe:probe",
                "Attention probe: STA's region scores on frames with labelled events (occlusions ...) vs clean ones."),
    CommandSpec("embed", "reid_runtime.cli.embed:embed",
                "Embed tracklets (dataset split, tracklet folders, MOT sequence) into an embeddings file."),
    CommandSpec("search", "reid_runtime.cli.search:search",
                "Rank a gallery embeddings file for each query (top-k, re-ranking, scores when ids are known)."),
    CommandSpec("info", "reid_runtime.cli.info:info",
                "Describe a model file: architecture, input, dynamic axes, verified (B, T), precision, metric."),
    CommandSpec("bench", "reid_runtime.cli.bench:bench",
                "Benchmarks: latency / throughput / memory per backend, and what the installed extras add."),
]

BENCH_COMMANDS = [
    CommandSpec("latency", "reid_runtime.cli.bench:latency",
                "Latency, throughput and peak memory of model files per backend and (B, T), side by side."),
    CommandSpec("seeds", "reid_runtime.cli.bench:seeds",
                "Mean ± std of eval results per variant over its runs (seeds): an ablation table."),
    CommandSpec("ops", "reid_runtime.cli.bench:ops",
                "Where a call's time goes: per operator type and kernel, per model file and backend."),
]

BACKENDS = [
    BackendSpec("onnxruntime", "reid_runtime.backends.onnxruntime_backend:OnnxRuntimeBackend", (".onnx",),
                "ONNX Runtime (CPU, CUDA or TensorRT execution providers).", requirement=_ORT),
    BackendSpec("tensorrt", "reid_runtime.backends.tensorrt_backend:TensorRTBackend", (".engine", ".plan"),
                "Native TensorRT engine with its JSON sidecar (NVIDIA GPU).",
                requirement=Requirement(("tensorrt",), "tensorrt")),
    # No suffix of its own: `auto` gives .onnx files to onnxruntime; backend="openvino" runs them on OpenVINO.
    BackendSpec("openvino", "reid_runtime.backends.openvino_backend:OpenVINOBackend", (),
                "OpenVINO on the exported .onnx files (FP32, FP16, INT8 in u8; Intel CPUs), chosen by name.",
                requirement=Requirement(("openvino",), "openvino"), also_runs=(".onnx",)),
]
