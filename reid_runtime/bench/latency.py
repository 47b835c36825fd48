"""Latency, throughput and peak memory of models per backend and (B, T), side by side in one run.

What is timed: one inference call on ``(B, T, 3, H, W)`` float32 frames of random pixels generated in memory before
the timing -- model compute plus the backend's input conversion, no decoding, no I/O -- with
:func:`reid_runtime.timing.measure` (warm-up, enough runs, sigma clipping). Each (model, backend) runs in a fresh
process of its own (:mod:`reid_runtime.bench.worker`), so no thread pool of one runtime spins while another is timed
and a row's peak RSS is that of a process holding only that runtime, its model and the activations of that (B, T)
(Linux: the high-water mark is reset per row). With ``rounds`` > 1 every entry is timed that many times in a rotated
order and each row is its median round, so a slow spell of the machine hits every entry alike. Every row is compared
with the same (B, T) of the first measured entry (throughput ratio), and every entry's embeddings of the same random
clips with the first entry's (cosine).

Models load through ``reid_runtime.load(model, backend=...)``: ONNX files on onnxruntime, engines on TensorRT, and
checkpoints or registry names on the PyTorch backend where ``reid-toolkit[train]`` is installed; an entry that cannot
run here is listed as skipped with the reason.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reid_runtime.bench.machine import describe_machine
from reid_runtime.bench.peak import GemmPeak, fp32_peak, peak_table
from reid_runtime.bench.worker import run_isolated
from reid_runtime.errors import ReidError

Log = Callable[[str], None]
TIME_TASK = "reid_runtime.bench.latency:time_model"
PEAK_TASK = "reid_runtime.bench.peak:peak_task"
CHECK_CLIPS = 4        # random-pixel clips every entry embeds for the cosine vs the first entry
CHECK_SEED = 1
# A Macs table: (architecture, (H, W)) -> {T: multiply-accumulates per clip}
Macs = Mapping[tuple[str, tuple[int, int]], Mapping[int, int]]


def _quiet(_: str) -> None:
    return None


@dataclass
class LatencyRow:
    """One (B, T) of one entry: the median round's timing, throughput, memory and its ratio to the first entry."""

    batch: int
    seq: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    runs: int
    clipped: int
    tracklets_per_s: float
    frames_per_s: float
    peak_rss_mb: float
    rss_reset: bool = True
    load1: float | None = None                  # 1-minute load average when the row finished
    p50_rounds: list[float] = field(default_factory=list)
    vs_first: float | None = None               # throughput / the first entry's at this (B, T)
    macs_per_clip: int | None = None
    gflops: float | None = None                 # achieved: 2 x MACs x B / p50
    peak_fraction: float | None = None          # of the measured FP32 matmul peak


@dataclass
class LatencyEntry:
    """One model on one backend: ``status`` ok, skipped (cannot run here; ``reason`` says why) or failed."""

    label: str
    model: str
    backend: str
    status: str = "ok"
    reason: str = ""
    providers: list[str] = field(default_factory=list)
    architecture: str = ""
    input_size: list[int] | None = None
    precision: str = ""
    embedding_dim: int | None = None
    mode: str = ""
    size_mb: float | None = None
    cosine_min_vs_first: float | None = None
    cosine_mean_vs_first: float | None = None
    rows: list[LatencyRow] = field(default_factory=list)

    def row(self, batch: int, seq: int) -> LatencyRow | None:
        return next((r for r in self.rows if (r.batch, r.seq) == (batch, seq)), None)


@dataclass
class LatencyReport:
    entries: list[LatencyEntry]
    settings: dict[str, Any]
    machine: dict[str, Any]
    peak: list[dict[str, Any]] = field(default_factory=list)
    fp32_peak_gflops: float | None = None
    notes: list[str] = field(default_factory=list)
    command: str = ""
    title: str = "Latency and throughput per model and backend"

    @property
    def baseline(self) -> LatencyEntry | None:
        """The first entry that was measured: the one every ratio and cosine refers to."""
        return next((e for e in self.entries if e.status == "ok"), None)

    def entry(self, label: str) -> LatencyEntry | None:
        return next((e for e in self.entries if e.label == label), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        """Terminal table: one line per (entry, B, T); skipped and failed entries with their reason."""
        width = max([len(e.label) for e in self.entries] + [14]) + 2
        head = (f"{'model [backend]':<{width}}{'B':>3}{'T':>4}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'trk/s':>9}"
                f"{'frm/s':>9}{'RSS MB':>8}{'x first':>9}{'cos first':>11}")
        lines = [head, "-" * len(head)]
        for e in self.entries:
            if e.status != "ok":
                lines.append(f"{e.label:<{width}}{e.status}: {e.reason}")
                continue
            cosine = _fmt(e.cosine_min_vs_first, ".5f")
            for r in e.rows:
                lines.append(f"{e.label:<{width}}{r.batch:>3}{r.seq:>4}{r.p50_ms:>9.2f}{r.p90_ms:>9.2f}"
                             f"{r.p99_ms:>9.2f}{r.tracklets_per_s:>9.2f}{r.frames_per_s:>9.1f}{r.peak_rss_mb:>8.0f}"
                             f"{_fmt(r.vs_first, '.2f'):>9}{cosine:>11}")
        base = self.baseline
        lines.append(f"x first: throughput vs {base.label if base else '-'} at the same (B, T); cos first: min "
                     f"cosine of the embeddings vs it; threads: {self.settings.get('threads') or 'backend default'}")
        if self.fp32_peak_gflops:
            lines.append(f"measured FP32 matmul peak: {self.fp32_peak_gflops:.1f} GFLOP/s")
        return "\n".join(lines)

    def markdown(self) -> str:
        with_flops = any(r.gflops for e in self.entries for r in e.rows)
        extra = " GFLOP/s | % of FP32 peak |" if with_flops else ""
        lines = ["| model [backend] | B | T | p50 ms | p90 ms | p99 ms | tracklets/s | frames/s | peak RSS MB | "
                 "throughput vs first | min cosine vs first |" + extra,
                 "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if with_flops else "")]
        for e in self.entries:
            if e.status != "ok":
                lines.append(f"| {e.label} | {e.status}: {e.reason} |" + " |" * (9 + 2 * with_flops))
                continue
            for r in e.rows:
                flops = (f" {_fmt(r.gflops, '.1f')} | {_fmt(r.peak_fraction and 100 * r.peak_fraction, '.0f')}% |"
                         if with_flops else "")
                lines.append(f"| {e.label} | {r.batch} | {r.seq} | {r.p50_ms:.2f} | {r.p90_ms:.2f} | {r.p99_ms:.2f} | "
                             f"{r.tracklets_per_s:.2f} | {r.frames_per_s:.1f} | {r.peak_rss_mb:.0f} | "
                             f"{_fmt(r.vs_first, '.2f')} | {_fmt(e.cosine_min_vs_first, '.5f')} |" + flops)
        described = [e for e in self.entries if e.status == "ok"]
        if described:
            lines += ["", "| model [backend] | architecture | input HxW | precision | runs on | size MB |",
                      "|---|---|---|---|---|---|"]
            for e in described:
                size = "x".join(str(v) for v in e.input_size or [])
                lines.append(f"| {e.label} | {e.architecture} | {size} | {e.precision} | {', '.join(e.providers)} | "
                             f"{_fmt(e.size_mb, '.1f')} |")
        if self.peak:
            lines += ["", "Matrix-multiply peak of this box:", "", "```",
                      peak_table([GemmPeak(**p) for p in self.peak]), "```"]
        return "\n".join(lines)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


# ---------------------------------------------------------------- the child process


def time_model(job: dict[str, Any]) -> dict[str, Any]:
    """Worker task: load one model on one backend, time every (B, T) of the grid, embed the check clips."""
    import reid_runtime
    from reid_runtime.aggregation import fuse
    from reid_runtime.model import backbone_terms
    from reid_runtime.timing import current_peak_rss_mb, measure, reset_peak_rss

    model = reid_runtime.load(job["model"], backend=job["backend"], threads=job["threads"], **job["options"])
    backend = model.backend
    height, width = model.input_size

    def call(frames: np.ndarray) -> np.ndarray:
        if backend.mode != "split":
            return backend.run_full(frames)
        batch, seq = frames.shape[:2]
        scores, strips = backbone_terms(backend, frames.reshape(batch * seq, *frames.shape[2:]), batch * seq)
        fused = fuse(backend.info.aggregation, scores.reshape(batch, seq, -1),
                     strips.reshape(batch, seq, *strips.shape[1:]), backend.fusion)
        return backend.run_head(fused)

    rng = np.random.default_rng(job["seed"])
    rows = []
    # Smallest calls first: the allocator keeps what a larger call grew, so each row's peak RSS is what it needs.
    for batch, seq in sorted(job["grid"], key=lambda cell: (cell[0] * cell[1], cell)):
        frames = rng.uniform(0, 255, size=(batch, seq, 3, height, width)).astype(np.float32)
        exact = reset_peak_rss()
        timing = measure(lambda frames=frames: call(frames), warmup=job["warmup"], min_runs=job["min_runs"],
                         max_runs=job["max_runs"], min_seconds=job["min_seconds"])
        rows.append({"batch": batch, "seq": seq, **timing.to_dict(), "peak_rss_mb": current_peak_rss_mb(),
                     "rss_reset": exact, "load1": os.getloadavg()[0]})
    check = None
    if job["check_clips"]:
        clips = np.random.default_rng(CHECK_SEED).uniform(
            0, 255, size=(job["check_clips"], job["check_seq"], 3, height, width)).astype(np.float32)
        check = str(Path(job["folder"]) / f"check-{job['index']}.npy")
        np.save(check, np.asarray(call(clips), dtype=np.float32), allow_pickle=False)
    path = Path(job["model"])
    files = [path, path.with_name(backend.info.companion)] if backend.info.companion else [path]
    size = sum(f.stat().st_size for f in files if f.is_file()) / 2**20 if path.is_file() else None
    return {"backend": backend.name, "providers": list(backend.providers), "architecture": backend.info.architecture,
            "input_size": [height, width], "precision": backend.info.precision,
            "embedding_dim": int(backend.info.embedding_dim), "mode": backend.mode, "size_mb": size, "rows": rows,
            "check": check}


# ---------------------------------------------------------------- the parent


def _plan(model: str, backend: str) -> tuple[str, str]:
    """(backend that runs ``model``, reason it cannot run here or "") without loading anything heavy."""
    from reid_runtime.plugins import DISTRIBUTION, backend_for_model_name, backend_for_suffix, backends

    table = backends()
    path = Path(model)
    if path.is_file():
        by_suffix = backend_for_suffix(path.suffix)
        if backend == "auto" and by_suffix is None:
            return backend, f"no backend here runs {path.suffix or 'suffix-less'} files"
        spec = by_suffix if backend == "auto" else table[backend]
        if by_suffix is not None and not spec.runs(path.suffix):
            return spec.name, f"a {path.suffix} file runs on {by_suffix.name}, not {spec.name}"
    else:
        spec = backend_for_model_name() if backend == "auto" else table[backend]
        if spec is None or not spec.model_names:
            return backend, ("builds no model from a name" if spec is not None else
                             f"no backend here builds models from names (needs {DISTRIBUTION}[train])")
    missing = spec.requirement.missing()
    if missing:
        extra = f"[{spec.requirement.extra}]" if spec.requirement.extra else ""
        return spec.name, f"needs {DISTRIBUTION}{extra} ({', '.join(missing)} not installed here)"
    return spec.name, ""


def _check_inputs(models: Sequence[str | os.PathLike], backends: Sequence[str], batch_sizes: Sequence[int],
                  seq_lens: Sequence[int], rounds: int, runs: int) -> list[str]:
    from reid_runtime.plugins import backends as registered

    if not models:
        raise ReidError("no model given; pass at least one --model")
    known = ["auto", *registered()]
    unknown = [b for b in backends if b not in known]
    if unknown or not backends:
        raise ReidError(f"unknown backend(s) {', '.join(unknown) or '(none given)'}; expected some of "
                        f"{', '.join(known)}")
    for name, values in (("batch sizes", batch_sizes), ("sequence lengths", seq_lens)):
        if not values or min(values) < 1:
            raise ReidError(f"{name} must be positive integers, got {list(values)}")
    if rounds < 1 or runs < 1:
        raise ReidError(f"rounds and runs must be >= 1, got {rounds} and {runs}")
    suffixes = {s for spec in registered().values() for s in spec.suffixes}
    out = []
    for model in models:
        path = Path(model).expanduser()
        if path.is_dir():
            raise ReidError(f"{path}: is a folder; expected a model file (.onnx, .engine, .pt) or a model name")
        if not path.exists() and (path.suffix.lower() in suffixes or os.sep in str(model)):
            raise ReidError(f"{path}: model file not found")
        out.append(str(path) if path.exists() else str(model))
    return out


def _labels(models: list[str], backends: Sequence[str]) -> list[tuple[str, str, str]]:
    pairs = [(m, b) for m in models for b in dict.fromkeys(backends)]
    names = [Path(m).name if Path(m).exists() else m for m, _ in pairs]
    if len(set(names)) < len(set(m for m, _ in pairs)):  # two files of the same name: show the paths
        names = [m for m, _ in pairs]
    return [(m, b, n) for (m, b), n in zip(pairs, names)]


def _median_row(samples: list[dict[str, Any]]) -> LatencyRow:
    ordered = sorted(samples, key=lambda s: s["p50_ms"])
    raw = ordered[(len(ordered) - 1) // 2]
    batch, seq, p50 = raw["batch"], raw["seq"], raw["p50_ms"]
    return LatencyRow(batch=batch, seq=seq, p50_ms=p50, p90_ms=raw["p90_ms"], p99_ms=raw["p99_ms"],
                      mean_ms=raw["mean_ms"], runs=raw["runs"], clipped=raw["clipped"],
                      tracklets_per_s=batch / (p50 * 1e-3), frames_per_s=batch * seq / (p50 * 1e-3),
                      peak_rss_mb=raw["peak_rss_mb"], rss_reset=all(bool(s["rss_reset"]) for s in samples),
                      load1=raw["load1"], p50_rounds=[s["p50_ms"] for s in samples])


def cosine_stats(reference: np.ndarray, output: np.ndarray) -> tuple[float, float]:
    """(min, mean) cosine between matching rows of two embedding matrices."""
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(output, dtype=np.float64)
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return float(cos.min()), float(cos.mean())


def macs_from_flops(path: str | os.PathLike) -> dict[tuple[str, tuple[int, int]], dict[int, int]]:
    """The MACs per clip counted by ``reid bench flops`` (its ``flops.json``), keyed by (architecture, (H, W))."""
    path = Path(path)
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
        table: dict[tuple[str, tuple[int, int]], dict[int, int]] = {}
        for row in rows:
            key = (str(row["model"]), (int(row["input_size"][0]), int(row["input_size"][1])))
            table.setdefault(key, {})[int(row["seq_len"])] = int(row["per_clip"])
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ReidError(f"{path}: not a flops.json written by `reid bench flops` ({type(exc).__name__}: {exc})") \
            from None
    return table


def bench_latency(
    models: Sequence[str | os.PathLike],
    backends: Sequence[str] = ("auto",),
    *,
    batch_sizes: Sequence[int] = (1,),
    seq_lens: Sequence[int] = (4,),
    threads: int | None = None,
    runs: int = 5,
    warmup: int = 2,
    min_seconds: float = 1.0,
    max_runs: int = 100,
    rounds: int = 1,
    check_clips: int = CHECK_CLIPS,
    measure_peak: bool = False,
    peak_n: int = 2048,
    macs: Macs | None = None,
    input_size: tuple[int, int] | None = None,
    log: Log = _quiet,
) -> LatencyReport:
    """Time every model on every backend at every (B, T), side by side; see the module docstring.

    ``models``: files (``.onnx``, ``.engine``, ``.pt``) or registry names (``sta_resnet50``, at ``input_size`` when
    given); ``backends``: ``"auto"`` (the one the file needs) or registered names. ``runs`` is the least number of
    timed calls per (B, T), continued until ``min_seconds`` have passed (at most ``max_runs``). ``measure_peak``
    measures the FP32 / INT8 matrix-multiply peak in a fresh process before the first and after every round;
    with ``macs`` (e.g. :func:`macs_from_flops`) the rows get achieved GFLOP/s and their fraction of that peak.
    """
    machine = describe_machine()
    names = _check_inputs(models, backends, batch_sizes, seq_lens, rounds, runs)
    grid = [(b, t) for b in batch_sizes for t in seq_lens]
    entries = []
    for model, backend, name in _labels(names, backends):
        runs_on, reason = _plan(model, backend)
        entry = LatencyEntry(f"{name} [{runs_on}]", model, runs_on, "skipped" if reason else "ok", reason)
        if any(e.label == entry.label for e in entries):
            continue  # "auto" and the backend it picks are the same entry
        entries.append(entry)
        if reason:
            log(f"{entry.label}: skipped: {reason}")
    settings = {"backends": list(backends), "batch_sizes": list(batch_sizes), "seq_lens": list(seq_lens),
                "threads": threads, "runs": runs, "warmup": warmup, "min_seconds": min_seconds,
                "max_runs": max_runs, "rounds": rounds, "check_clips": check_clips,
                "peak_n": peak_n if measure_peak else None}
    samples: dict[str, list[list[dict[str, Any]]]] = {e.label: [] for e in entries}
    checks: dict[str, np.ndarray] = {}
    peak: list[dict[str, Any]] = []
    peak_job = {"n": peak_n, "threads": threads or os.cpu_count() or 1, "min_seconds": min_seconds}
    with tempfile.TemporaryDirectory(prefix="reid-bench-") as folder:
        if measure_peak:
            log(f"measuring the matmul peak (n={peak_n}) in a fresh process")
            peak += [{**p, "when": "before"} for p in run_isolated(PEAK_TASK, peak_job, folder, "peak")["peaks"]]
        for round_index in range(rounds):
            runnable = [e for e in entries if e.status == "ok"]
            shift = round_index % max(1, len(runnable))  # rotate the order so a slow spell hits every entry
            for entry in runnable[shift:] + runnable[:shift]:
                index = entries.index(entry)
                log(f"{entry.label}: timing {len(grid)} (B, T) in a fresh process"
                    + (f" (round {round_index + 1} of {rounds})" if rounds > 1 else ""))
                job = {"model": entry.model, "backend": entry.backend, "threads": threads,
                       "options": {"input_size": list(input_size)} if input_size and not Path(entry.model).exists()
                       else {}, "grid": grid, "warmup": warmup, "min_runs": runs, "max_runs": max_runs,
                       "min_seconds": min_seconds, "seed": 0, "index": index,
                       "check_clips": check_clips if round_index == 0 else 0, "check_seq": max(seq_lens)}
                try:
                    out = run_isolated(TIME_TASK, job, folder, entry.label)
                except ReidError as exc:
                    reason = str(exc).splitlines()[0]
                    entry.status, entry.reason = "failed", reason.removeprefix(f"{entry.label}: ")
                    log(f"{entry.label}: failed: {entry.reason}")
                    continue
                if round_index == 0:
                    entry.providers, entry.architecture = out["providers"], out["architecture"]
                    entry.input_size, entry.precision = out["input_size"], out["precision"]
                    entry.embedding_dim, entry.mode, entry.size_mb = out["embedding_dim"], out["mode"], out["size_mb"]
                    if out["check"]:
                        checks[entry.label] = np.load(out["check"], allow_pickle=False)
                samples[entry.label].append(out["rows"])
            if measure_peak:
                when = f"after round {round_index + 1}" if rounds > 1 else "after"
                peak += [{**p, "when": when} for p in run_isolated(PEAK_TASK, peak_job, folder, "peak")["peaks"]]
    report = LatencyReport(entries, settings, machine, peak, fp32_peak([GemmPeak(**p) for p in peak]))
    for entry in entries:
        if entry.status == "ok":
            entry.rows = [_median_row([row for run in samples[entry.label] for row in run if
                                       (row["batch"], row["seq"]) == cell]) for cell in grid]
    _compare(report, checks, macs or {})
    report.notes = _notes(report, rounds, check_clips, max(seq_lens))
    return report


def _compare(report: LatencyReport, checks: dict[str, np.ndarray], macs: Macs) -> None:
    """Ratios and cosines vs the first measured entry; achieved GFLOP/s where the MACs are known."""
    base = report.baseline
    for entry in report.entries:
        if entry.status != "ok":
            continue
        counts = macs.get((entry.architecture, tuple(entry.input_size or ())), {})
        for row in entry.rows:
            first = base.row(row.batch, row.seq) if base else None
            row.vs_first = first.p50_ms / row.p50_ms if first else None
            row.macs_per_clip = counts.get(row.seq)
            if row.macs_per_clip:
                row.gflops = 2 * row.macs_per_clip * row.batch / (row.p50_ms * 1e-3) / 1e9
                if report.fp32_peak_gflops:
                    row.peak_fraction = row.gflops / report.fp32_peak_gflops
        reference, output = checks.get(base.label) if base else None, checks.get(entry.label)
        if reference is not None and output is not None and reference.shape == output.shape \
                and entry.input_size == base.input_size:
            entry.cosine_min_vs_first, entry.cosine_mean_vs_first = cosine_stats(reference, output)


def _notes(report: LatencyReport, rounds: int, check_clips: int, check_seq: int) -> list[str]:
    base = report.baseline
    notes = ["Timed: one inference call on (B, T, 3, H, W) float32 frames of random pixels generated in memory "
             "before the timing (model compute and the backend's input conversion; no decoding, no I/O); each "
             "(model, backend) in its own fresh process"
             + (f", {rounds} rounds in rotated order, each row the median round." if rounds > 1 else ".")]
    if base is not None:
        notes.append(f"Throughput vs first: p50 of {base.label} / p50 of the row at the same (B, T) (above 1: "
                     "faster than the first).")
        if check_clips:
            notes.append(f"Cosine vs first: embeddings of the same {check_clips} random-pixel clips of T={check_seq} "
                         f"compared with those of {base.label} (entries of another input size: not compared).")
    loads = [r.load1 for e in report.entries for r in e.rows if r.load1 is not None]
    if loads:
        notes.append(f"1-minute load average after each (B, T): {min(loads):.2f} to {max(loads):.2f}.")
    if any(not r.rss_reset for e in report.entries for r in e.rows):
        notes.append("Peak RSS is the peak of the entry's process so far: the high-water mark could not be reset per "
                     "row on this system.")
    if report.peak:
        notes.append("FP32 peak: the best FP32 GEMM of all its measurements (before the models and after each "
                     "round); a disturbed measurement can only read low.")
    if any(r.gflops for e in report.entries for r in e.rows):
        notes.append("GFLOP/s: 2 x MACs per clip (from `reid bench flops`) x B / p50.")
    return notes
