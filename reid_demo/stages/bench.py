"""Stage 8: latency and throughput of the checkpoint (PyTorch eager) and of the export (ONNX Runtime) on the same
clips, each in a fresh process (``reid bench latency``)."""

from __future__ import annotations

from pathlib import Path

from reid_demo.plan import BENCH_BATCH_SIZES, REF_SEQ_LEN
from reid_demo.runner import Stage, StageOutput
from reid_runtime.errors import ReidError


def run(stage: Stage, done: dict[str, dict]) -> StageOutput:
    plan = stage.plan
    checkpoint = stage.demo.at(done["train"]["results"]["runs"]["sta"]["checkpoint"])
    model = stage.demo.at(done["export"]["results"]["exports"]["full"]["files"][0])
    report = stage.reid("bench", "latency", "--model", checkpoint, "--model", model,
                        "--batch-sizes", ",".join(map(str, BENCH_BATCH_SIZES)), "--seq-lens", REF_SEQ_LEN,
                        "--min-seconds", plan.bench_seconds, "--out", stage.folder, "--json").json()
    failed = [f"{entry['label']}: {entry['reason']}" for entry in report["entries"] if entry["status"] != "ok"]
    if failed:
        raise ReidError(f"reid bench latency could not time {'; '.join(failed)}")
    rows = [{"label": entry["label"], "backend": entry["backend"], **row}
            for entry in report["entries"] for row in entry["rows"]]
    parts = []
    for batch in BENCH_BATCH_SIZES:
        at = [row for row in rows if row["batch"] == batch and row["seq"] == REF_SEQ_LEN]
        parts.append(f"(B, T) = ({batch}, {REF_SEQ_LEN}): "
                     + " vs ".join(f"{row['tracklets_per_s']:.0f}" for row in at) + " tracklets/s")
    labels = " vs ".join(entry["label"] for entry in report["entries"])
    files = [stage.demo.rel(stage.folder / name) for name in ("latency.json", "latency.md", "latency.png")
             if (stage.folder / name).is_file()]
    picture = next((f for f in files if Path(f).suffix == ".png"), None)
    return StageOutput(summary=f"{labels}: " + "; ".join(parts) + f" -> {stage.folder}",
                       results={"rows": rows, "machine": report["machine"], "notes": report["notes"],
                                "files": files, "picture": picture},
                       outputs=files)
