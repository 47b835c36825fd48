"""The export-format table of a small STA trained on synthetic MARS-layout data: cosine, mAP and speed per format.

Usage:
    python -m benchmarks.formats_cpu --out benchmarks/results [--epochs 40]

Trains sta_tiny with the `demo` recipe (the `sta` variant of benchmarks.train_compare: 40 identities, 128x64,
seed 0), then runs `reid bench formats` on its last checkpoint with the synthetic test split: the mAP of each format
(INT8 target: drop <= 1 point vs FP32) next to its cosine vs PyTorch and its latency. Waits for a quiet machine
before timing. Writes formats_cpu.json and formats_cpu.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from benchmarks.machine import quiet_exporter_logs, script_command

MAP_DROP_TARGET = 1.0  # points


def train_tiny_sta(root: Path, work: Path, epochs: int) -> Path:
    """Train the train_compare `sta` variant on ``root``; its last.pt."""
    import torch

    from benchmarks.train_compare import VARIANTS
    from reid_train.engine.config import load_config
    from reid_train.engine.trainer import Trainer

    overrides = [f"data.root={root}", f"optim.epochs={epochs}", f"optim.milestones=[{int(epochs * 0.75)}]",
                 "train.eval_every=0", *VARIANTS["sta"]]
    torch.manual_seed(0)
    trainer = Trainer(load_config("demo", overrides), work / "sta", progress=False)
    trainer.fit()
    return work / "sta" / "last.pt"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--ids", type=int, default=40)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--max-wait", type=float, default=600.0)
    args = parser.parse_args(argv)

    from benchmarks.latency_cpu import wait_for_quiet
    from reid_export.bench.format_table import format_table
    from reid_export.bench.peak import machine_markdown
    from reid_runtime.data.synth import SynthConfig, synthesize
    from reid_runtime.io import write_json_atomic, write_text_atomic

    quiet_exporter_logs()
    command = script_command("benchmarks.formats_cpu", argv)
    with tempfile.TemporaryDirectory(prefix="formats-cpu-") as tmp:
        work = Path(tmp)
        root = work / "synth_mars"
        synthesize(SynthConfig(layout="mars", ids=args.ids, seed=0, size=(128, 64)), root)
        checkpoint = train_tiny_sta(root, work, args.epochs)
        load, waited = wait_for_quiet(max_wait=args.max_wait)
        report = format_table(checkpoint, work_dir=work / "exports", data_root=root, dataset="mars", seq_len=4,
                              threads=args.threads, log=lambda line: print(line, flush=True))
    report.command = command
    load_at_end = [round(v, 2) for v in os.getloadavg()]
    rows = {r.format: r for r in report.rows}
    fp32, int8 = rows["onnx"], rows["onnx-int8"]
    verdict = "INT8 mAP vs ONNX FP32: not available"
    if fp32.mAP is not None and int8.mAP is not None:
        drop = fp32.mAP - int8.mAP
        verdict = (f"INT8 mAP vs ONNX FP32: {int8.mAP:.2f} vs {fp32.mAP:.2f}, a drop of {drop:.2f} points: "
                   + ("meets" if drop <= MAP_DROP_TARGET else "misses") + f" the <= {MAP_DROP_TARGET:g} target")
        if int8.ms_per_tracklet and fp32.ms_per_tracklet:
            verdict += (f"; INT8 runs at {fp32.ms_per_tracklet / int8.ms_per_tracklet:.2f}x the FP32 throughput "
                        "on this tiny model")
    payload = {"command": command, "load_when_started": load, "load_at_end": load_at_end, "waited_s": waited,
               "model": f"sta_tiny trained {args.epochs} epochs (demo recipe) on synthetic MARS-layout data, "
                        f"{args.ids} identities, 128x64",
               "map_drop_target": MAP_DROP_TARGET, "report": report.to_dict()}
    lines = [
        "# Export formats of a small STA trained on synthetic data (CPU)",
        "",
        f"Command: `{command}`",
        "",
        machine_markdown(report.machine),
        f"- Waited {waited} s for the 1-minute load to drop below 1.0; load before timing: "
        f"{', '.join(str(v) for v in load)}; at the end: {', '.join(str(v) for v in load_at_end)}",
        f"- Model: {payload['model']} (the `sta` variant of benchmarks/train_compare.py); {report.threads} threads",
        "",
        report.markdown(),
        "",
        f"- {verdict}.",
        "",
        "Notes:",
        *[f"- {note}" for note in report.notes],
        "- Synthetic data: these mAP figures test that each format keeps the ranking of the PyTorch model; they say "
        "nothing about accuracy on real MARS. The ResNet-50 INT8 speed and cosine are in latency_cpu.md.",
        "",
    ]
    write_json_atomic(args.out / "formats_cpu.json", payload)
    write_text_atomic(args.out / "formats_cpu.md", "\n".join(lines))
    print(report.table())
    print(verdict)


if __name__ == "__main__":
    main()
