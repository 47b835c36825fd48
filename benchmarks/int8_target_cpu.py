"""OSNet x1.0 STA vs ResNet-50 STA on the CPU INT8 paths, B=1, T=4, 2 threads, 256x128: the speed ratio read in one
run, and where each model's time goes, per operator and kernel.

    python -m benchmarks.int8_target_cpu [reid bench ops options]

1. ``reid data synth`` (MARS layout, 4 identities, 256x128): the train split calibrates INT8.
2. ``reid export`` of the untrained registry models ``sta_resnet50`` and ``sta_osnet_x1_0`` at 256x128 to ``onnx``
   and ``onnx-int8-cpu`` (calibrated on the train split, checked on held-out training clips).
3. ``reid bench latency`` of the four files on ONNX Runtime and OpenVINO, B=1, T=4, 2 threads, 3 rounds in rotated
   order, each (file, backend) in a fresh process: clips/s side by side (ResNet-50 INT8 first, so every row's ratio
   is vs it).
4. ``reid bench ops`` of both INT8 files on OpenVINO and ONNX Runtime: time per operator type and kernel.

Writes benchmarks/results/int8_target_cpu/latency.json|md|png and ops.json|md. Run it on an otherwise idle machine:
the load average at the start is recorded with each result.
"""

from __future__ import annotations

from benchmarks.run import RESULTS, WORK, extra, reid

OUT = f"{RESULTS}/int8_target_cpu"
MODELS = ("sta_resnet50", "sta_osnet_x1_0")


def main(argv: list[str] | None = None) -> None:
    work = WORK / "int8_target_cpu"
    reid("data", "synth", "--layout", "mars", "--ids", "4", "--seed", "0", "--size", "256x128", "--out",
         work / "synth_256x128")
    files = {}
    for model in MODELS:
        files[model, "int8"] = work / f"{model}_int8_cpu.onnx"
        files[model, "fp32"] = work / f"{model}.onnx"
        reid("export", "--model", model, "--size", "256x128", "--format", "onnx-int8-cpu", "--calib",
             work / "synth_256x128", "--out", files[model, "int8"])
        reid("export", "--model", model, "--size", "256x128", "--format", "onnx", "--out", files[model, "fp32"])
    timed = [files[m, p] for p in ("int8", "fp32") for m in MODELS]
    reid("bench", "latency", *[a for f in timed for a in ("--model", f)], "--backends", "auto,openvino",
         "--batch-sizes", "1", "--seq-lens", "4", "--threads", "2", "--rounds", "3", "--out", OUT)
    reid("bench", "ops", *[a for m in MODELS for a in ("--model", files[m, "int8"])], "--backends",
         "openvino,onnxruntime", "--batch-sizes", "1", "--seq-lens", "4", "--threads", "2", "--runs", "30", "--out",
         OUT, *extra(argv))


if __name__ == "__main__":
    main()
