"""ResNet-50 STA (256x128) per precision and engine on this CPU, side by side: PyTorch eager, ONNX Runtime FP32 / FP16
/ INT8 (both INT8 formats), OpenVINO on the same files, at (B, T) in {1, 8} x {4, 8} with 2 threads.

    python -m benchmarks.precision_cpu [reid bench latency options]

1. ``reid data synth`` (MARS layout, 256x128, 8 identities): the train split calibrates INT8 (and holds the real
   frames the INT8 exports are checked on; query and gallery are never read for it).
2. ``reid export`` of the untrained registry model ``sta_resnet50`` to ``onnx``, ``onnx-fp16`` (not verified: their
   cosine vs PyTorch is the latency table's), ``onnx-int8`` (TensorRT-ready) and ``onnx-int8-cpu``: each INT8 export
   prints its cosine vs FP32 on held-out training clips and is verified against PyTorch on them (real frames).
3. ``reid bench latency`` of PyTorch first (every ratio and cosine of the table is vs it), then every export, each on
   its own engine (auto) and on OpenVINO where the ``openvino`` extra is installed: 2 rounds in rotated order.
4. Accuracy on a trained model: ``reid train`` of a small STA (sta_tiny, demo recipe, 10 epochs, 128x64, 40
   identities), then ``reid bench formats`` on it with the synthetic test split: mAP per format (INT8 target: at most
   1 point lost).

Writes benchmarks/results/precision_cpu/latency.json|md|png and formats.json|md.
"""

from __future__ import annotations

import importlib.util

from benchmarks.run import RESULTS, WORK, extra, reid
from benchmarks.train_compare import synth_mars, train

MODEL = "sta_resnet50"
OUT = f"{RESULTS}/precision_cpu"
FORMATS = {"onnx": "sta.onnx", "onnx-fp16": "sta_fp16.onnx", "onnx-int8": "sta_int8.onnx",
           "onnx-int8-cpu": "sta_int8_cpu.onnx"}


def main(argv: list[str] | None = None) -> None:
    work = WORK / "precision_cpu"
    reid("data", "synth", "--layout", "mars", "--out", work / "synth256", "--ids", "8", "--size", "256x128")
    for name, file in FORMATS.items():
        calib = ["--calib", work / "synth256"] if name.startswith("onnx-int8") else ["--no-verify"]
        reid("export", "--model", MODEL, "--size", "256x128", "--format", name, "--out", work / file, *calib)
    backends = "auto,openvino" if importlib.util.find_spec("openvino") is not None else "auto"
    models = [MODEL] + [work / file for file in FORMATS.values()]
    reid("bench", "latency", *[arg for model in models for arg in ("--model", model)], "--backends", backends,
         "--batch-sizes", "1,8", "--seq-lens", "4,8", "--threads", "2", "--rounds", "2", "--runs", "3", "--warmup",
         "1", "--out", OUT, *extra(argv))
    synth_mars(work / "synth_mars")
    train("sta", work / "synth_mars", work / "sta", epochs=10)
    reid("bench", "formats", "--model", work / "sta" / "last.pt", "--formats", ",".join(FORMATS), "--data-root",
         work / "synth_mars", "--dataset", "mars", "--calib", work / "synth_mars", "--seq-lens", "4", "--threads",
         "2", "--work", work / "exports", "--out", OUT)


if __name__ == "__main__":
    main()
