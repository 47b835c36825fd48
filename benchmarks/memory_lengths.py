"""Peak memory of embedding one tracklet of 300 vs 3,000 frames (goal: within 10%), ``sta_tiny`` at 128x64.

    python -m benchmarks.memory_lengths [--lengths 300,3000] [--threads 1] [--out DIR]

Writes 3,000 synthetic 128x64 JPEG crops once to runs/benchmarks/memory_lengths/frames (decoding is part of the
measured path) and exports the untrained registry model ``sta_tiny`` at 128x64 as a split ONNX pair. Then, for the
split export (onnxruntime) and the same model on the PyTorch backend, for sampling ``all`` and ``dense`` (T = 4) and
for each length, one fresh process (``reid_runtime.bench.worker``) loads the model, embeds a 16-frame tracklet (first
call setup), then one tracklet of the first N crops from disk; the row's figure is that process's peak RSS (VmHWM).
Ratio = peak at the longest length / peak at the shortest, per model and sampling. Writes
benchmarks/results/memory_lengths.json and memory_lengths.md (command, machine, table).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.run import RESULTS, WORK, reid

MODEL, SIZE = "sta_tiny", (128, 64)
TASK = "benchmarks.memory_lengths:peak_task"


def peak_task(job: dict[str, Any]) -> dict[str, Any]:
    """Worker task: load, warm up on 16 frames, embed one tracklet of ``length`` crops; the process's peak RSS."""
    import reid_runtime
    from reid_runtime.timing import current_peak_rss_mb

    options = {"input_size": tuple(job["input_size"])} if not Path(job["model"]).exists() else {}
    model = reid_runtime.load(job["model"], threads=job["threads"], **options)
    paths = sorted(Path(job["frames"]).glob("*.jpg"))[: job["length"]]
    model.embed([paths[:16]], sampling=job["sampling"], seq_len=4)
    warm = current_peak_rss_mb()
    started = time.perf_counter()
    embedding = model.embed([paths], sampling=job["sampling"], seq_len=4)
    return {"peak_mb": current_peak_rss_mb(), "warm_mb": warm, "seconds": time.perf_counter() - started,
            "frames": len(paths), "finite": bool(np.isfinite(embedding).all())}


def _frames(folder: Path, count: int) -> Path:
    """``count`` 128x64 JPEG crops (a person-sized blob over noise, moving a little per frame), written once."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("*.jpg"))) >= count:
        return folder
    rng = np.random.default_rng(0)
    height, width = SIZE
    for i in range(count):
        frame = rng.integers(60, 120, (height, width, 3), dtype=np.uint8)
        top = 10 + (i % 20)
        frame[top:top + 90, 16:48] = (200, 40 + i % 100, 60)
        Image.fromarray(frame).save(folder / f"{i:06d}.jpg", quality=90)
    return folder


def main(argv: list[str] | None = None) -> None:
    from reid_runtime.bench.machine import describe_machine
    from reid_runtime.bench.report import write_report
    from reid_runtime.bench.worker import run_isolated

    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory_lengths")
    parser.add_argument("--lengths", default="300,3000")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    lengths = sorted(int(n) for n in args.lengths.split(","))
    machine = describe_machine()
    work = WORK / "memory_lengths"
    frames = _frames(work / "frames", lengths[-1])
    split = work / "sta_tiny_split.onnx"
    reid("export", "--model", MODEL, "--size", f"{SIZE[0]}x{SIZE[1]}", "--format", "onnx", "--split", "--out", split,
         "--no-verify")
    models = {"split ONNX (onnxruntime)": str(split.with_name(f"{split.stem}.backbone.onnx")),
              "PyTorch (torch backend)": MODEL}
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for label, model in models.items():
            for sampling in ("all", "dense"):
                peaks = {}
                for length in lengths:
                    job = {"model": model, "input_size": list(SIZE), "frames": str(frames), "length": length,
                           "sampling": sampling, "threads": args.threads}
                    peaks[length] = run_isolated(TASK, job, folder, name=f"{label} {sampling} {length}")
                    print(f"{label:<26} {sampling:<6} {length:>5} frames: peak RSS {peaks[length]['peak_mb']:.0f} MB",
                          flush=True)
                short, long = peaks[lengths[0]], peaks[lengths[-1]]
                rows.append({"model": label, "file": model, "sampling": sampling, "runs": peaks,
                             "ratio": long["peak_mb"] / short["peak_mb"],
                             "growth_mb": long["peak_mb"] - short["peak_mb"]})
    header = " | ".join(f"peak MB @{n}" for n in lengths)
    table = [f"| model | sampling | {header} | ratio {lengths[-1]}/{lengths[0]} | growth MB | s @{lengths[-1]} |",
             "|---|---|" + "---:|" * (len(lengths) + 3)]
    for row in rows:
        peaks = " | ".join(f"{row['runs'][n]['peak_mb']:.0f}" for n in lengths)
        table.append(f"| {row['model']} | {row['sampling']} | {peaks} | {row['ratio']:.3f} | {row['growth_mb']:.1f} "
                     f"| {row['runs'][lengths[-1]]['seconds']:.1f} |")
    notes = [
        f"{MODEL} (untrained, registry defaults) at {SIZE[0]}x{SIZE[1]}, seq_len 4, batch_size 16 (64 frames per "
        f"backbone call), {args.threads} thread(s); crops decoded from JPEG files on disk.",
        "Peak RSS is the whole process's high-water mark (libraries and model included), one fresh process per cell.",
        "Goal: ratio within 1.10. Before streaming (issue #12; commit 3da856d, same cells and machine), peak RSS at "
        "300 / 3,000 frames was 244 / 1037 MB (split, all and dense), 566 / 3181 MB (PyTorch, all) and "
        "438 / 1200 MB (PyTorch, dense).",
    ]
    command = shlex.join(["python", "-m", "benchmarks.memory_lengths", *(sys.argv[1:] if argv is None else argv)])
    written = write_report(args.out, "memory_lengths", title="Peak memory vs tracklet length", command=command,
                           machine=machine, table="\n".join(table), payload={"lengths": lengths, "rows": rows},
                           notes=notes)
    for path in written.files:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
