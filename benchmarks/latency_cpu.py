"""ResNet-50 STA (256x128, last stride 1) latency and throughput per backend on this CPU, against the targets.

Usage:
    python -m benchmarks.latency_cpu --out benchmarks/results [--batch 1,4] [--seq 2,4,8,16]

The model is randomly initialised with its BatchNorm statistics re-estimated on synthetic person crops, so that
activations (and INT8 ranges) look like a trained network's; timings do not depend on the weights. Waits (up to
--max-wait seconds) for the 1-minute load average to drop below 1.0 and records the load at start either way.
Writes latency_cpu.json, latency_cpu.md and latency_cpu.png.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.machine import quiet_exporter_logs, script_command

BACKENDS = "torch,onnxruntime,onnxruntime-fp16,onnxruntime-int8,onnxruntime-split,onnxruntime-cuda,tensorrt"
TARGET_BACKENDS = ["torch", "onnxruntime", "onnxruntime-int8"]
# name -> (what, target, how it is read off the report at B=1, T=4)
TARGETS = {
    "ort_peak": ("ORT FP32 achieved GFLOP/s as a fraction of the measured FP32 matmul peak", 0.85),
    "ort_vs_torch": ("ORT FP32 throughput / PyTorch eager FP32 throughput", 1.5),
    "int8_vs_fp32": ("ORT INT8 throughput / ORT FP32 throughput", 1.8),
    "int8_cosine": ("ORT INT8 min embedding cosine vs PyTorch FP32 (synthetic crops)", 0.99),
}


def wait_for_quiet(threshold: float = 1.0, max_wait: float = 600.0, step: float = 30.0) -> tuple[list[float], float]:
    """Wait until the 1-minute load is below ``threshold`` (at most ``max_wait`` s); (load now, seconds waited)."""
    started = time.monotonic()
    while os.getloadavg()[0] > threshold and time.monotonic() - started < max_wait:
        print(f"load {os.getloadavg()[0]:.2f} > {threshold}: waiting", flush=True)
        time.sleep(step)
    return [round(v, 2) for v in os.getloadavg()], round(time.monotonic() - started, 1)


def resnet50_checkpoint(path: Path, work: Path, name: str = "sta_resnet50", crops: int = 64) -> Path:
    """A ``name`` checkpoint at 256x128: random init, BatchNorm statistics re-estimated on synthetic crops."""
    import numpy as np
    import torch

    from reid_export.int8 import load_calibration_clips
    from reid_runtime.data.synth import SynthConfig, synthesize
    from reid_train.engine.checkpoint import save_checkpoint
    from reid_train.models import create_model

    torch.manual_seed(0)
    model = create_model(name, num_classes=625, input_size=(256, 128))
    root = work / "bn_crops"
    synthesize(SynthConfig(layout="mars", ids=4, cameras=2, size=(256, 128), min_len=8, max_len=16, seed=1), root)
    clips = load_calibration_clips(root / "bbox_train", (256, 128), 4, max_images=crops)
    for module in model.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the batches below
    model.train()
    with torch.no_grad():
        for start in range(0, len(clips), 4):
            model(torch.from_numpy(np.ascontiguousarray(clips[start:start + 4])))
    model.eval()
    recipe = {"recipe": f"benchmark: random init, BatchNorm statistics re-estimated on {len(clips) * 4} "
                        "synthetic crops"}
    save_checkpoint(path, {"model": model.state_dict(), "model_config": model.model_config, "config": recipe})
    return path


def target_rows(report, batch: int = 1, seq: int = 4) -> list[dict]:
    """Each target: measured value, met or not, and the shortfall (from the interleaved rounds at B=1, T=4)."""
    ort = report.backend("onnxruntime")
    int8 = report.backend("onnxruntime-int8")
    ort_row = ort.row(batch, seq) if ort else None
    values = {
        "ort_peak": ort_row.peak_fraction if ort_row else None,
        "ort_vs_torch": report.speedup("onnxruntime", "torch", batch, seq),
        "int8_vs_fp32": report.speedup("onnxruntime-int8", "onnxruntime", batch, seq),
        "int8_cosine": int8.cosine_min if int8 and int8.status == "ok" else None,
    }
    rows = []
    for key, (what, target) in TARGETS.items():
        value = values[key]
        rows.append({"target": key, "what": what, "goal": target, "value": value,
                     "met": value is not None and value >= target,
                     "shortfall": None if value is None else max(0.0, target - value)})
    return rows


def to_markdown(payload: dict, report) -> str:
    from reid_export.bench.peak import GemmPeak, machine_markdown, peak_table

    lines = [
        "# ResNet-50 STA latency and throughput per backend (CPU)",
        "",
        f"Command: `{payload['command']}`",
        "",
        machine_markdown(payload["report"]["machine"]),
        f"- Waited {payload['waited_s']} s for the 1-minute load to drop below 1.0; load at start, before this "
        f"script's own work: {', '.join(str(v) for v in payload['load_when_started'])} (the load above was taken "
        "after the checkpoint was built, so it includes this script); load at the end: "
        f"{', '.join(str(v) for v in payload['load_at_end'])}",
        f"- Model: {payload['model']}",
        "",
        "## Targets (B=1, T=4)",
        "",
        f"Measured apart from the grid below: {payload['targets_report']['settings']['rounds']} rounds of PyTorch, "
        "ORT FP32 and ORT INT8 in rotated order, each backend in a fresh process per round, the FP32 matmul peak "
        "after every round; each figure is the median round.",
        "",
        "| target | goal | measured | met | short by |",
        "|---|---|---|---|---|",
    ]
    for t in payload["targets"]:
        value = "-" if t["value"] is None else f"{t['value']:.3f}"
        short = "-" if t["met"] or t["shortfall"] is None else f"{t['shortfall']:.3f}"
        met = "n/a" if t["value"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['what']} | >= {t['goal']} | {value} | {met} | {short} |")
    lines += ["", "| backend (B=1, T=4) | p50 ms per round | median | % of FP32 peak | min cosine |",
              "|---|---|---|---|---|"]
    for b in payload["targets_report"]["backends"]:
        for r in b["rows"]:
            rounds = ", ".join(f"{v:.1f}" for v in r["p50_rounds"])
            frac = f"{100 * r['peak_fraction']:.0f}%" if r["peak_fraction"] else "-"
            cosine = f"{b['cosine_min']:.5f}" if b["cosine_min"] is not None else "-"
            lines.append(f"| {b['name']} | {rounds} | {r['p50_ms']:.1f} | {frac} | {cosine} |")
    lines += [
        "",
        f"FP32 matmul peak of the target rounds: {payload['targets_report']['fp32_peak_gflops']:.1f} GFLOP/s.",
        "",
        "## Matrix-multiply peak (grid run)",
        "",
        "```",
        peak_table([GemmPeak(**p) for p in payload["report"]["peak"]]),
        "```",
        "",
        "## Per backend and (B, T)",
        "",
        report.markdown(),
        "",
        "Notes:",
        *[f"- {note}" for note in report.notes],
        "- Backends: " + "; ".join(f"{b.name}: {b.description}" for b in report.backends) + ".",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--backends", default=BACKENDS)
    parser.add_argument("--batch", default="1,4")
    parser.add_argument("--seq", default="2,4,8,16")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved rounds of the target measurement.")
    parser.add_argument("--max-wait", type=float, default=600.0)
    args = parser.parse_args(argv)

    from reid_export.bench.latency import compare_backends
    from reid_export.bench.plots import plot_latency
    from reid_runtime.io import write_json_atomic, write_text_atomic

    quiet_exporter_logs()
    command = script_command("benchmarks.latency_cpu", argv)
    with tempfile.TemporaryDirectory(prefix="latency-cpu-") as tmp:
        work = Path(tmp)
        load, waited = wait_for_quiet(max_wait=args.max_wait)
        checkpoint = resnet50_checkpoint(work / "sta_resnet50.pt", work)
        log = lambda line: print(line, flush=True)  # noqa: E731
        report = compare_backends(
            checkpoint, args.backends.split(","), batch_sizes=[int(b) for b in args.batch.split(",")],
            seq_lens=[int(t) for t in args.seq.split(",")], threads=args.threads, work_dir=work / "exports",
            min_runs=args.runs, min_seconds=args.min_seconds, log=log)
        targets = compare_backends(
            checkpoint, TARGET_BACKENDS, batch_sizes=[1], seq_lens=[4], threads=args.threads,
            work_dir=work / "exports", min_runs=args.runs, min_seconds=args.min_seconds, rounds=args.rounds, log=log)
    report.command = command
    load_at_end = [round(v, 2) for v in os.getloadavg()]
    payload = {"command": command, "load_when_started": load, "load_at_end": load_at_end, "waited_s": waited,
               "model": "sta_resnet50 (ResNet-50, last stride 1, STA K=4, D=1024), 256x128, random init with "
                        "BatchNorm statistics re-estimated on 64 synthetic crops",
               "targets": target_rows(targets), "targets_report": targets.to_dict(), "report": report.to_dict()}
    write_json_atomic(args.out / "latency_cpu.json", payload)
    write_text_atomic(args.out / "latency_cpu.md", to_markdown(payload, report))
    plot_latency(payload["report"], args.out / "latency_cpu.png")
    print(report.table())


if __name__ == "__main__":
    main()
