"""The export-format table of a small STA trained on synthetic MARS-layout data: verification, mAP and speed.

    python -m benchmarks.formats_cpu [reid bench formats options]

Trains the `sta` variant of benchmarks.train_compare (sta_tiny, demo recipe, 40 epochs, 40 identities, 128x64,
seed 0), then ``reid bench formats`` on its last checkpoint with the synthetic test split: the mAP of each format
(INT8 target: a drop of at most 1 point vs FP32) next to its verification against PyTorch and its latency. Writes
benchmarks/results/formats.json and formats.md.
"""

from __future__ import annotations

from benchmarks.run import RESULTS, WORK, extra, reid
from benchmarks.train_compare import synth_mars, train


def main(argv: list[str] | None = None) -> None:
    work = WORK / "formats_cpu"
    synth_mars(work / "synth_mars")
    train("sta", work / "synth_mars", work / "sta")
    reid("bench", "formats", "--model", work / "sta" / "last.pt", "--formats", "onnx,onnx-fp16,onnx-int8,tensorrt",
         "--data-root", work / "synth_mars", "--dataset", "mars", "--seq-lens", "4",
         "--calib", work / "synth_mars" / "bbox_train", "--work", work / "exports", "--out", RESULTS, *extra(argv))


if __name__ == "__main__":
    main()
