"""ResNet-50 STA (256x128) latency, throughput and peak memory per format and backend on this machine, side by side.

    python -m benchmarks.latency_cpu [reid bench latency options]

Exports the untrained registry model ``sta_resnet50`` to ONNX FP32, FP16, INT8 (calibrated on synthetic crops) and
a split pair (plus a TensorRT engine where the tensorrt package is installed), counts its MACs, then times PyTorch and
every export in one ``reid bench latency`` run: 3 rotated rounds, the matrix-multiply peak before and after each.
Timings do not depend on the weights; the exports are not verified (an untrained network's INT8 cosine says nothing:
the accuracy of each format on a trained model is formats_cpu's job). Writes benchmarks/results/latency.json,
latency.md and latency.png.
"""

from __future__ import annotations

import importlib.util

from benchmarks.run import RESULTS, WORK, extra, reid

MODEL = "sta_resnet50"


def main(argv: list[str] | None = None) -> None:
    work = WORK / "latency_cpu"
    reid("data", "synth", "--layout", "mars", "--out", work / "crops", "--ids", "4", "--cameras", "2",
         "--size", "256x128")
    reid("export", "--model", MODEL, "--format", "onnx", "--out", work / "sta.onnx", "--no-verify")
    reid("export", "--model", MODEL, "--format", "onnx-fp16", "--out", work / "sta_fp16.onnx", "--no-verify")
    reid("export", "--model", MODEL, "--format", "onnx-int8", "--out", work / "sta_int8.onnx", "--no-verify",
         "--calib", work / "crops" / "bbox_train", "--calib-max-images", "64")
    reid("export", "--model", MODEL, "--format", "onnx", "--split", "--out", work / "sta_split.onnx", "--no-verify")
    models = [MODEL, work / "sta.onnx", work / "sta_fp16.onnx", work / "sta_int8.onnx",
              work / "sta_split.backbone.onnx"]
    if importlib.util.find_spec("tensorrt") is not None:
        reid("export", "--model", work / "sta.onnx", "--format", "tensorrt", "--out", work / "sta.engine",
             "--profiles", "1-4x1-16")
        models.append(work / "sta.engine")
    reid("bench", "flops", "--model", MODEL, "--seq-lens", "2,4,8,16", "--size", "256x128", "--no-onnx-check",
         "--out", work)
    reid("bench", "latency", *[arg for model in models for arg in ("--model", model)], "--batch-sizes", "1,4",
         "--seq-lens", "2,4,8,16", "--rounds", "3", "--peak", "--macs", work / "flops.json", "--out", RESULTS,
         *extra(argv))


if __name__ == "__main__":
    main()
