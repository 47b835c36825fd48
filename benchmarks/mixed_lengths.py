"""Mixed-length workload on ResNet-50 STA (256x128): naive padding vs length bucketing vs frame packing.

Usage:
    python -m benchmarks.mixed_lengths --out benchmarks/results [--tracklets 24]

Tracklet lengths are drawn from the real MARS test table (/work/shared/data/mars-info/tracks_test_info.mat when
present, else the log-normal fitted to it), each tracklet embedded with all its frames up to a cap of 64. Frames/s of
each strategy is compared with the best fixed-length frames/s measured in the same run; target: within 10%.
Waits for a quiet machine like benchmarks.latency_cpu. Writes mixed_lengths.json, .md and .png.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from benchmarks.machine import quiet_exporter_logs, script_command

MARS_TABLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "mars-info" / "tracks_test_info.mat"
TARGET = 0.9  # mixed-length frames/s >= 90% of the best fixed-length frames/s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--tracklets", type=int, default=24)
    parser.add_argument("--cap", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--pack-frames", type=int, default=64)
    parser.add_argument("--tracks-table", type=Path, default=MARS_TABLE if MARS_TABLE.is_file() else None)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--max-wait", type=float, default=600.0)
    args = parser.parse_args(argv)

    from benchmarks.latency_cpu import resnet50_checkpoint, wait_for_quiet
    from reid_export.bench.latency import mixed_lengths
    from reid_export.bench.peak import machine_markdown
    from reid_export.bench.plots import plot_mixed
    from reid_runtime.io import write_json_atomic, write_text_atomic

    quiet_exporter_logs()
    command = script_command("benchmarks.mixed_lengths", argv)
    with tempfile.TemporaryDirectory(prefix="mixed-lengths-") as tmp:
        work = Path(tmp)
        load, waited = wait_for_quiet(max_wait=args.max_wait)
        checkpoint = resnet50_checkpoint(work / "sta_resnet50.pt", work)
        report = mixed_lengths(checkpoint, tracklets=args.tracklets, cap=args.cap, batch=args.batch,
                               pack_frames=args.pack_frames, tracks_table=args.tracks_table, threads=args.threads,
                               work_dir=work / "exports", log=lambda line: print(line, flush=True))
    report.command = command
    load_at_end = [round(v, 2) for v in os.getloadavg()]
    payload = {"command": command, "load_when_started": load, "load_at_end": load_at_end, "waited_s": waited,
               "target_vs_best_fixed": TARGET, "report": report.to_dict()}
    lengths = report.lengths
    verdicts = [f"- {s.name}: {100 * s.vs_best_fixed:.0f}% of the best fixed-length frames/s: "
                + ("meets the 90% target" if s.vs_best_fixed >= TARGET
                   else f"misses the 90% target by {100 * (TARGET - s.vs_best_fixed):.0f} points")
                for s in report.strategies]
    lines = [
        "# Mixed-length workload: ResNet-50 STA, 256x128 (CPU)",
        "",
        f"Command: `{command}`",
        "",
        machine_markdown(report.machine),
        f"- Waited {waited} s for the 1-minute load to drop below 1.0; load at start, before this script's own "
        f"work: {', '.join(str(v) for v in load)}; at the end: {', '.join(str(v) for v in load_at_end)}",
        f"- Model: sta_resnet50, random init with BatchNorm statistics re-estimated on synthetic crops; ONNX Runtime "
        f"CPU, {report.threads} threads",
        f"- Tracklets: {lengths['count']}, lengths {lengths['source']}; capped at {lengths['cap']}: "
        f"{lengths['total_frames']} frames, mean {lengths['mean']:.1f} (uncapped mean {lengths['mean_uncapped']:.1f}), "
        f"median {lengths['median']:.0f}, range {lengths['min']}..{lengths['max']}",
        f"- Batches of {report.batch} tracklets; packing sends up to {report.pack_frames} frames per backbone call",
        "",
        report.markdown(),
        "",
        "Against the target (>= 90% of the best fixed-length frames/s):",
        *verdicts,
        "",
        "Notes:",
        *[f"- {note}" for note in report.notes],
        "",
    ]
    write_json_atomic(args.out / "mixed_lengths.json", payload)
    write_text_atomic(args.out / "mixed_lengths.md", "\n".join(lines))
    plot_mixed(payload["report"], args.out / "mixed_lengths.png")
    print(report.table())


if __name__ == "__main__":
    main()
