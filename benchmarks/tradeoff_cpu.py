"""The computation-performance picture (the AITL paper's Fig. 8) for the backbones a user can pick, on this CPU.

    python -m benchmarks.tradeoff_cpu [reid bench tradeoff options]

1. ``reid data synth`` (MARS layout, 40 identities, 128x64): the synthetic benchmark.
2. Equal training budget: per model ``reid train --config demo`` with only ``model.name`` changed (same data, seed,
   recipe, 16 clips of 4 frames per step, 80 steps, from random weights: no pretrained file can be downloaded here),
   then ``reid bench tradeoff`` on the checkpoints with the synthetic test split: GMACs per clip, parameters, clips/s
   per format (ONNX FP32, INT8 for CPUs) and backend (ONNX Runtime, OpenVINO), and mAP per format, at 128x64.
3. The deployment size: ``reid bench tradeoff`` of the untrained registry models at 256x128 (speed and cost only),
   B=1, T=4, 2 threads: the figures the issue's 4x INT8 target is read from.

Writes benchmarks/results/tradeoff_cpu/{trained_128x64,deploy_256x128}/tradeoff.json|md|png.
"""

from __future__ import annotations

from benchmarks.run import RESULTS, WORK, extra, reid

MODELS = ["sta_resnet50", "sta_resnet18", "sta_osnet_x1_0", "sta_osnet_x0_25", "sta_mobilenetv3_large",
          "sta_mobilenetv3_small"]
STEPS_PER_EPOCH, EPOCHS = 10, 8  # 80 steps of P=4 identities x K=4 clips
OUT = f"{RESULTS}/tradeoff_cpu"
COMMON = ["--formats", "onnx,onnx-int8-cpu", "--backends", "auto,openvino", "--seq-lens", "4", "--threads", "2"]


def synth(folder) -> None:
    reid("data", "synth", "--layout", "mars", "--ids", "40", "--seed", "0", "--size", "128x64", "--out", folder)


def train(model: str, data, out) -> None:
    """The demo recipe with only the model changed: the equal training budget of every row."""
    sets = [f"model.name={model}", "data.p=4", "data.k=4", f"optim.epochs={EPOCHS}",
            f"optim.milestones=[{EPOCHS - 2}]", f"train.max_steps_per_epoch={STEPS_PER_EPOCH}", "train.eval_every=0",
            "train.threads=2"]
    reid("train", "--config", "demo", "--data-root", data, "--out", out, *[a for s in sets for a in ("--set", s)],
         "--no-progress", "--overwrite")


def trained(argv: list[str] | None = None) -> None:
    work = WORK / "tradeoff_cpu"
    synth(work / "synth_mars")
    for model in MODELS:
        train(model, work / "synth_mars", work / model)
    checkpoints = [a for m in MODELS for a in ("--model", work / m / "last.pt")]
    reid("bench", "tradeoff", *checkpoints, "--data-root", work / "synth_mars", "--dataset", "mars", *COMMON,
         "--calib", work / "synth_mars", "--work", work / "exports_128x64", "--out", f"{OUT}/trained_128x64",
         *extra(argv))


def deploy(argv: list[str] | None = None) -> None:
    work = WORK / "tradeoff_cpu"
    reid("data", "synth", "--layout", "mars", "--ids", "4", "--seed", "0", "--size", "256x128", "--out",
         work / "synth_256x128")
    reid("bench", "tradeoff", *[a for m in MODELS for a in ("--model", m)], "--size", "256x128", *COMMON,
         "--calib", work / "synth_256x128", "--work", work / "exports_256x128", "--out", f"{OUT}/deploy_256x128",
         *extra(argv))


def main(argv: list[str] | None = None) -> None:
    trained(argv)
    deploy(argv)


if __name__ == "__main__":
    main()
