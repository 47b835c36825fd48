"""Export a checkpoint to every format available here, check each against PyTorch, time it: one table.

Formats: the PyTorch checkpoint itself, ONNX FP32, FP16, INT8 (QDQ, calibrated on ``calib`` crops or synthetic ones),
the split pair (backbone + head) and a TensorRT engine when the ``tensorrt`` package and a GPU are there. A format
that cannot be produced here is a row with its reason. Each row gives the files' size, the minimum cosine of its
embeddings vs PyTorch FP32 on held-out clips, optionally mAP on a dataset (``reid_runtime.evaluation.score``, standard
protocol), and the p50 latency of one tracklet (B=1, T=``seq_len``) with its frames/s, measured like
``reid bench latency`` (each format in a fresh process).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from reid_export.bench.latency import (
    CALIB_MAX_IMAGES,
    Exporter,
    bench_worker,
    check_clips,
    cosine_stats,
    run_isolated,
    synthetic_crops,
)
from reid_runtime.errors import ReidError

FORMATS: dict[str, str] = {
    "pytorch": "the checkpoint, PyTorch eager FP32",
    "onnx": "ONNX FP32 full graph (dynamic batch and seq)",
    "onnx-fp16": "ONNX FP16 (attention scores, reductions and head FP32)",
    "onnx-int8": "ONNX QDQ INT8, per-channel symmetric",
    "onnx-split": "ONNX backbone + head pair, numpy aggregation",
    "tensorrt": "TensorRT engine from the FP32 graph",
}


@dataclass
class FormatRow:
    format: str
    status: str  # ok, skipped or failed
    reason: str = ""
    files: list[str] = field(default_factory=list)
    size_mb: float | None = None
    export_s: float | None = None
    cosine_min: float | None = None
    mAP: float | None = None
    R1: float | None = None
    ms_per_tracklet: float | None = None
    frames_per_s: float | None = None
    providers: list[str] = field(default_factory=list)


@dataclass
class FormatReport:
    checkpoint: str
    architecture: str
    input_size: tuple[int, int]
    seq_len: int
    threads: int
    dataset: str | None
    rows: list[FormatRow]
    machine: dict
    notes: list[str] = field(default_factory=list)
    command: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        head = (f"{'format':<12}{'status':<9}{'size MB':>9}{'min cos':>10}{'mAP':>7}{'ms/tracklet':>13}"
                f"{'frames/s':>10}")
        lines = [head, "-" * len(head)]
        for r in self.rows:
            if r.status != "ok":
                lines.append(f"{r.format:<12}{r.status:<9}{r.reason}")
                continue
            lines.append(f"{r.format:<12}{r.status:<9}{_num(r.size_mb, 9, 1)}{_num(r.cosine_min, 10, 5)}"
                         f"{_num(r.mAP, 7, 1)}{_num(r.ms_per_tracklet, 13, 2)}{_num(r.frames_per_s, 10, 1)}")
        lines.append(f"ms/tracklet: p50 of one call at B=1, T={self.seq_len}, {self.threads} threads; min cos: vs "
                     "PyTorch FP32" + (f"; mAP: {self.dataset}, standard protocol" if self.dataset else ""))
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = ["| format | status | size MB | min cosine vs PyTorch | mAP | R1 | ms/tracklet | frames/s |",
                 "|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            if r.status != "ok":
                lines.append(f"| {r.format} | {r.status}: {r.reason} | | | | | | |")
                continue
            lines.append(f"| {r.format} | ok | {_cell(r.size_mb, 1)} | {_cell(r.cosine_min, 5)} | {_cell(r.mAP, 1)} | "
                         f"{_cell(r.R1, 1)} | {_cell(r.ms_per_tracklet, 2)} | {_cell(r.frames_per_s, 1)} |")
        return "\n".join(lines)


def _num(value: float | None, width: int, digits: int) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def _cell(value: float | None, digits: int) -> str:
    return f"{value:.{digits}f}" if value is not None else "-"


def _format_worker(spec: dict) -> dict:
    """Child process: the latency worker's check + timing, then mAP on the dataset when one is given."""
    result = bench_worker(spec)
    if result["status"] != "ok" or not spec.get("dataset"):
        return result
    import reid_runtime
    from reid_runtime.data.registry import load_dataset
    from reid_runtime.evaluation import score

    options = {"providers": spec["providers"]} if spec.get("providers") else {}
    model = reid_runtime.load(spec["path"], backend=spec["runtime"], threads=spec["threads"], **options)
    splits = load_dataset(spec["dataset"], spec["data_root"], protocol="standard", attributes=False)
    unique: dict = {}
    for tracklet in [*splits.query, *splits.gallery]:
        unique.setdefault(tracklet.key, tracklet)
    position = {key: i for i, key in enumerate(unique)}
    emb = model.embed(list(unique.values()), seq_len=spec["grid"][0][1], strict=True)
    scores = score(emb[[position[t.key] for t in splits.query]], emb[[position[t.key] for t in splits.gallery]],
                   splits.query, splits.gallery, metric=model.metric, protocol="standard")
    result["eval"] = {"mAP": scores["mAP"], "R1": scores["R1"], "num_valid_queries": scores["num_valid_queries"]}
    return result


def _exports(exporter: Exporter, checkpoint: Path, work: Path, calib: Path | None,
             log: Callable[[str], None]) -> dict[str, tuple[str, list[Path], float, str]]:
    """format -> (runtime, files, export seconds, skip reason)."""
    import importlib.util

    input_size = tuple(exporter.model.input_size)
    plans: dict[str, tuple[str, list[Path], float, str]] = {"pytorch": ("torch", [checkpoint], 0.0, "")}
    options = {
        "onnx": {},
        "onnx-fp16": {"precision": "fp16"},
        "onnx-int8": {"precision": "int8", "calib": calib or synthetic_crops(work, input_size) / "bbox_train",
                      "calib_max_images": CALIB_MAX_IMAGES},
        "onnx-split": {"split": True},
    }
    for name, kwargs in options.items():
        started = time.perf_counter()
        try:
            files = exporter.export(work / f"model_{name.replace('-', '_')}.onnx", **kwargs)
        except ReidError as exc:
            plans[name] = ("", [], 0.0, str(exc).splitlines()[0])
            continue
        plans[name] = ("onnxruntime", files, time.perf_counter() - started, "")
    if importlib.util.find_spec("tensorrt") is None:
        plans["tensorrt"] = ("", [], 0.0, "the tensorrt package is not installed (needs an NVIDIA GPU)")
    elif plans["onnx"][3]:
        plans["tensorrt"] = ("", [], 0.0, "no FP32 ONNX to build from")
    else:
        from reid_export.tensorrt_build import build_engine

        started = time.perf_counter()
        engine = work / "model.engine"
        try:
            build_engine(plans["onnx"][1][0], engine, log=log)
        except ReidError as exc:
            plans["tensorrt"] = ("", [], 0.0, f"no engine: {str(exc).splitlines()[0]}")
        else:
            plans["tensorrt"] = ("tensorrt", [engine], time.perf_counter() - started, "")
    return plans


def format_table(
    checkpoint: str | Path,
    *,
    work_dir: str | Path | None = None,
    data_root: str | Path | None = None,
    dataset: str | None = None,
    calib: str | Path | None = None,
    seq_len: int = 4,
    threads: int | None = None,
    num_check_clips: int = 8,
    min_runs: int = 5,
    min_seconds: float = 1.0,
    log: Callable[[str], None] = lambda line: None,
) -> FormatReport:
    """Export ``checkpoint`` to every format, check, (score,) time; see the module docstring."""
    import torch

    from reid_export.bench.peak import machine_summary

    machine = machine_summary()
    checkpoint = Path(checkpoint)
    if (data_root is None) != (dataset is None):
        raise ReidError("give --data-root and --dataset together (mAP per format), or neither")
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    threads = threads or os.cpu_count() or 1
    exporter = Exporter(checkpoint, log)
    model = exporter.model
    input_size = tuple(model.input_size)
    rows = []
    with tempfile.TemporaryDirectory(prefix="reid-formats-") as tmp:
        work = Path(work_dir) if work_dir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        clips = check_clips(work, input_size, num_check_clips, seq_len)
        with torch.no_grad():
            reference = model(torch.from_numpy(clips)).numpy()
        check_path = work / "check_clips.npy"
        np.save(check_path, clips)
        plans = _exports(exporter, checkpoint, work, Path(calib) if calib else None, log)
        for name in FORMATS:
            runtime, files, seconds, reason = plans[name]
            if reason:
                rows.append(FormatRow(name, "skipped", reason))
                log(f"{name}: skipped: {reason}")
                continue
            row = FormatRow(name, "ok", files=[str(p) for p in files], export_s=seconds,
                            size_mb=sum(p.stat().st_size for p in files) / 2**20)
            log(f"{name}: checking and timing in a fresh process")
            spec = {"name": name, "runtime": runtime, "path": str(files[0]), "threads": threads, "providers": None,
                    "grid": [(1, seq_len)], "warmup": 2, "min_runs": min_runs, "max_runs": 100,
                    "min_seconds": min_seconds, "check": str(check_path), "seed": 0, "dataset": dataset,
                    "data_root": str(data_root) if data_root else None}
            try:
                out = run_isolated(_format_worker, spec)
            except ReidError as exc:
                row.status, row.reason = "failed", str(exc).splitlines()[0]
                rows.append(row)
                continue
            timing = out["rows"][0]
            row.providers = out["providers"]
            row.cosine_min = cosine_stats(reference, out["check"])[0]
            row.ms_per_tracklet = timing["p50_ms"]
            row.frames_per_s = seq_len / (timing["p50_ms"] * 1e-3)
            if "eval" in out:
                row.mAP, row.R1 = out["eval"]["mAP"], out["eval"]["R1"]
            rows.append(row)
    notes = [f"min cos: {num_check_clips} held-out synthetic clips of T={seq_len} (never used for INT8 "
             "calibration) vs the PyTorch FP32 checkpoint.",
             "INT8 calibration: " + (str(calib) if calib else f"{CALIB_MAX_IMAGES} synthetic person crops "
                                                                "(reid data synth at the model size)") + "."]
    if dataset:
        notes.append(f"mAP / R1: {dataset} at {data_root}, standard protocol, dense test clips of T={seq_len}.")
    return FormatReport(str(checkpoint), str(model.model_config.get("name", "")), input_size, seq_len, threads,
                        dataset, rows, machine, notes)
