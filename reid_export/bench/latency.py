"""Latency and throughput of one model on several backends, and of a mixed-length tracklet workload.

What is timed: one inference call on frames already decoded into memory, ``(B, T, 3, H, W)`` float32 -- model compute
plus the backend's input conversion, no decoding or I/O -- with ``reid_runtime.timing.measure`` (warm-up, enough runs,
sigma clipping). Achieved GFLOP/s is ``2 x MACs / p50`` with the MACs of :mod:`reid_export.bench.flops` (conv +
matmul + the head's elementwise work; a QDQ INT8 graph does the same MACs in integer arithmetic, so its figure is an
equivalent rate).

Each backend runs in a fresh Python process of its own: no thread pool of one runtime spins while another is timed,
and the peak RSS of a row is that of a process holding only that runtime, its model and the activations of that
(B, T) (Linux: the high-water mark is reset per row through ``/proc/self/clear_refs``). The ONNX variants of a
checkpoint are exported into the work folder first; INT8 is calibrated on synthetic person crops (``reid data synth``
at the model size) unless a folder of crops is given. Embeddings of held-out synthetic clips are compared with
PyTorch FP32 (cosine) for every backend.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reid_runtime.errors import ReidError

BACKENDS: dict[str, str] = {
    "torch": "PyTorch eager, FP32, on the checkpoint",
    "onnxruntime": "ONNX Runtime, FP32 full graph",
    "onnxruntime-fp16": "ONNX Runtime, FP16 graph (attention scores, reductions and head kept FP32)",
    "onnxruntime-int8": "ONNX Runtime, QDQ INT8 graph (per-channel, symmetric), calibrated on person crops",
    "onnxruntime-split": "ONNX Runtime split export: backbone over all B*T frames, numpy aggregation, head",
    "onnxruntime-cuda": "ONNX Runtime CUDA provider (onnxruntime-gpu), FP32 full graph",
    "tensorrt": "native TensorRT engine built from the FP32 full graph",
}
DEFAULT_BACKENDS = ("torch", "onnxruntime")
SYNTH_SEED = 0
CALIB_MAX_IMAGES = 64  # 16 clips of 4 frames, 3 of them held out by the exporter


Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class LatencyRow:
    """One (backend, B, T) measurement."""

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
    macs_per_clip: int | None = None
    gflops: float | None = None          # achieved, 2 x MACs / p50
    peak_fraction: float | None = None   # of the measured FP32 matmul peak
    load1: float | None = None           # 1-minute load average when the row finished
    p50_rounds: list[float] = field(default_factory=list)  # p50 of every round; the row is the median round


@dataclass
class BackendResult:
    name: str
    status: str  # ok, skipped or failed
    reason: str = ""
    description: str = ""
    files: list[str] = field(default_factory=list)
    size_mb: float | None = None
    providers: list[str] = field(default_factory=list)
    cosine_min: float | None = None   # vs PyTorch FP32 on the check clips
    cosine_mean: float | None = None
    rows: list[LatencyRow] = field(default_factory=list)

    def row(self, batch: int, seq: int) -> LatencyRow | None:
        return next((r for r in self.rows if (r.batch, r.seq) == (batch, seq)), None)


@dataclass
class LatencyReport:
    model: str
    architecture: str
    input_size: tuple[int, int]
    threads: int
    macs_source: str
    backends: list[BackendResult]
    peak: list[dict]
    fp32_peak_gflops: float | None
    machine: dict
    settings: dict
    notes: list[str] = field(default_factory=list)
    command: str = ""

    def backend(self, name: str) -> BackendResult | None:
        return next((b for b in self.backends if b.name == name), None)

    def speedup(self, name: str, over: str, batch: int, seq: int) -> float | None:
        """Throughput of ``name`` divided by that of ``over`` at (B, T); None when either is missing."""
        a, b = self.backend(name), self.backend(over)
        ra = a.row(batch, seq) if a else None
        rb = b.row(batch, seq) if b else None
        return rb.p50_ms / ra.p50_ms if ra and rb else None

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        """Terminal table: one line per (backend, B, T), skipped backends with their reason."""
        head = (f"{'backend':<19}{'B':>3}{'T':>4}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'trk/s':>8}{'frm/s':>8}"
                f"{'GFLOP/s':>9}{'%peak':>7}{'RSS MB':>8}{'cos':>9}")
        lines = [head, "-" * len(head)]
        for b in self.backends:
            if b.status != "ok":
                lines.append(f"{b.name:<19}{b.status}: {b.reason}")
                continue
            cosine = f"{b.cosine_min:.5f}" if b.cosine_min is not None else "-"
            for r in b.rows:
                gflops = f"{r.gflops:.1f}" if r.gflops else "-"
                frac = f"{100 * r.peak_fraction:.0f}" if r.peak_fraction else "-"
                lines.append(f"{b.name:<19}{r.batch:>3}{r.seq:>4}{r.p50_ms:>9.2f}{r.p90_ms:>9.2f}{r.p99_ms:>9.2f}"
                             f"{r.tracklets_per_s:>8.2f}{r.frames_per_s:>8.1f}{gflops:>9}{frac:>7}"
                             f"{r.peak_rss_mb:>8.0f}{cosine:>9}")
        peak = f"{self.fp32_peak_gflops:.1f} GFLOP/s" if self.fp32_peak_gflops else "not measured"
        lines.append(f"measured FP32 matmul peak: {peak}; {self.threads} threads; MACs from {self.macs_source}; "
                     "cos = min cosine vs PyTorch FP32")
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = [
            "| backend | B | T | p50 ms | p90 ms | p99 ms | tracklets/s | frames/s | GFLOP/s | % of FP32 peak | "
            "peak RSS MB | min cosine vs PyTorch |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for b in self.backends:
            if b.status != "ok":
                lines.append(f"| {b.name} | {b.status}: {b.reason} |" + " |" * 10)
                continue
            cosine = f"{b.cosine_min:.5f}" if b.cosine_min is not None else "-"
            for r in b.rows:
                gflops = f"{r.gflops:.1f}" if r.gflops else "-"
                frac = f"{100 * r.peak_fraction:.0f}%" if r.peak_fraction else "-"
                lines.append(f"| {b.name} | {r.batch} | {r.seq} | {r.p50_ms:.2f} | {r.p90_ms:.2f} | {r.p99_ms:.2f} | "
                             f"{r.tracklets_per_s:.2f} | {r.frames_per_s:.1f} | {gflops} | {frac} | "
                             f"{r.peak_rss_mb:.0f} | {cosine} |")
        return "\n".join(lines)


# ---------------------------------------------------------------- child processes


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (Linux ``clear_refs``); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def current_peak_rss_mb() -> float:
    """VmHWM (since the last reset) in MiB, or the process peak from getrusage where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    from reid_runtime.timing import peak_rss_mb

    return peak_rss_mb()


def split_embed(backend: Any, frames: np.ndarray) -> np.ndarray:
    """``(B, T, 3, H, W)`` through a split backend: all B*T frames in one backbone call, numpy aggregation, head."""
    from reid_runtime.aggregation import fuse

    batch, seq = frames.shape[:2]
    scores, strips = backend.run_backbone(frames.reshape(batch * seq, *frames.shape[2:]))
    fused = fuse(backend.info.aggregation, scores.reshape(batch, seq, -1),
                 strips.reshape(batch, seq, *strips.shape[1:]), fusion=backend.fusion)
    return backend.run_head(fused)


def _load(spec: dict) -> Any:
    import reid_runtime

    options = {"providers": spec["providers"]} if spec.get("providers") else {}
    return reid_runtime.load(spec["path"], backend=spec["runtime"], threads=spec["threads"], **options)


def bench_worker(spec: dict) -> dict:
    """Child process: load one backend, time every (B, T) of the grid, then embed the check clips."""
    from reid_runtime.timing import measure

    model = _load(spec)
    backend = model.backend
    providers = list(backend.providers)
    wanted = spec.get("require_provider")
    if wanted and wanted not in providers:
        return {"status": "skipped", "reason": f"{wanted} is listed but not usable here (session runs on "
                                               f"{', '.join(providers)})", "providers": providers}

    def call(frames: np.ndarray) -> np.ndarray:
        return split_embed(backend, frames) if backend.mode == "split" else backend.run_full(frames)

    result: dict[str, Any] = {"status": "ok", "providers": providers, "rows": []}
    rng = np.random.default_rng(spec["seed"])
    height, width = model.input_size
    # Smallest calls first: the allocator keeps what a larger call grew, so each row's peak RSS is what it needs.
    for batch, seq in sorted(spec["grid"], key=lambda cell: (cell[0] * cell[1], cell)):
        frames = rng.uniform(0, 255, size=(batch, seq, 3, height, width)).astype(np.float32)
        exact = reset_peak_rss()
        timing = measure(lambda: call(frames), warmup=spec["warmup"], min_runs=spec["min_runs"],
                         max_runs=spec["max_runs"], min_seconds=spec["min_seconds"])
        result["rows"].append({"batch": batch, "seq": seq, **timing.to_dict(), "peak_rss_mb": current_peak_rss_mb(),
                               "rss_reset": exact, "load1": os.getloadavg()[0]})
    if spec.get("check"):
        result["check"] = call(np.load(spec["check"]))
    return result


def _peak_worker(spec: dict) -> list[dict]:
    from reid_export.bench.peak import measure_peak

    return [r.to_dict() for r in measure_peak(spec["n"], spec["threads"], min_seconds=spec["min_seconds"])]


def run_isolated(fn: Callable[[dict], Any], spec: dict) -> Any:
    """``fn(spec)`` in a fresh Python process; ``fn`` is a top-level function of an importable module.

    A plain subprocess (not multiprocessing) so that nothing of the caller's main module is re-imported: this works
    from scripts, notebooks and test runners alike. An exception or a crash in the child raises ``ReidError``.
    """
    name = spec.get("name", fn.__name__)
    with tempfile.TemporaryDirectory(prefix="reid-bench-") as tmp:
        job, answer = Path(tmp) / "job.pkl", Path(tmp) / "answer.pkl"
        job.write_bytes(pickle.dumps((fn.__module__, fn.__qualname__, spec)))
        code = f"from reid_export.bench.latency import child_main; child_main({str(job)!r}, {str(answer)!r})"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        if not answer.is_file():
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise ReidError(f"the benchmark process for {name} exited with code {proc.returncode}: {tail}")
        ok, value = pickle.loads(answer.read_bytes())
    if not ok:
        raise ReidError(f"{name}: {value}")
    return value


def child_main(job: str, answer: str) -> None:
    """Entry point of :func:`run_isolated`'s child: run the pickled job, pickle (ok, result or error text)."""
    import importlib

    module, qualname, spec = pickle.loads(Path(job).read_bytes())
    fn = getattr(importlib.import_module(module), qualname)
    try:
        result = (True, fn(spec))
    except Exception as exc:  # reported to the parent, which decides whether the backend failed or the run stops
        result = (False, f"{type(exc).__name__}: {exc}")
    Path(answer).write_bytes(pickle.dumps(result))


# ---------------------------------------------------------------- preparation (parent process)


@dataclass
class _Plan:
    name: str
    runtime: str = ""
    path: Path | None = None
    files: list[Path] = field(default_factory=list)
    providers: list[str] | None = None
    require_provider: str | None = None
    skip: str = ""


def check_backends(names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise ValueError(f"unknown backend(s) {', '.join(unknown)}; expected some of {', '.join(BACKENDS)}")
    if not names:
        raise ValueError(f"no backends given; expected some of {', '.join(BACKENDS)}")
    return list(dict.fromkeys(names))


def is_checkpoint(path: Path) -> bool:
    return path.suffix.lower() in (".pt", ".pth")


def synthetic_crops(work: Path, input_size: tuple[int, int]) -> Path:
    """A small synthetic MARS-layout folder at the model size (calibration: bbox_train, checks: bbox_test)."""
    from reid_runtime.data.synth import SynthConfig, synthesize

    root = work / "synth"
    if not (root / "bbox_test").is_dir():
        synthesize(SynthConfig(layout="mars", ids=2, cameras=2, size=tuple(input_size), min_len=8, max_len=16,
                               seed=SYNTH_SEED), root)
    return root


def check_clips(work: Path, input_size: tuple[int, int], count: int, seq: int) -> np.ndarray:
    """``(count, seq, 3, H, W)`` clips of synthetic test crops (never seen by INT8 calibration)."""
    from reid_export.int8 import load_calibration_clips

    root = synthetic_crops(work, input_size)
    return load_calibration_clips(root / "bbox_test", input_size, seq, max_images=count * seq)[:count]


class Exporter:
    """The ONNX variants of one checkpoint, unverified (the benchmark compares embeddings itself). The dynamo export
    runs once per graph kind (full, split); FP16 and INT8 are converted from the same FP32 graphs."""

    def __init__(self, checkpoint: Path, log: Log = _quiet) -> None:
        from reid_train.engine.checkpoint import load_model

        self.model, ckpt = load_model(checkpoint)
        self.recipe = ckpt.get("config") or {}
        self.log = log
        self._graphs: dict[bool, dict] = {}

    def export(self, out: Path, *, split: bool = False, **options: Any) -> list[Path]:
        """Write ``out`` (split: its backbone + head pair) with ``options`` of ``finish_export``; the files written."""
        import onnx

        from reid_export.onnx_export import export_graphs, finish_export

        started = time.perf_counter()
        if split not in self._graphs:
            self._graphs[split] = export_graphs(self.model, split=split)
        graphs = {}
        for role, graph in self._graphs[split].items():
            graphs[role] = onnx.ModelProto()
            graphs[role].CopyFrom(graph)
        result = finish_export(self.model, graphs, out, recipe=self.recipe, verify=False, **options)
        self.log(f"exported {', '.join(p.name for p in result.files)} in {time.perf_counter() - started:.1f} s"
                 + "".join(f"; {note}" for note in result.notes))
        return result.files


def plan_backends(model: Path, names: Sequence[str], work: Path, *, input_size: tuple[int, int],
                  calib: Path | None, batch_sizes: Sequence[int], seq_lens: Sequence[int], log: Log) -> list[_Plan]:
    """Export what each backend needs into ``work``; a backend that cannot run here gets its reason."""
    import onnxruntime as ort

    checkpoint = is_checkpoint(model)
    exporter = Exporter(model, log) if checkpoint else None
    plans: list[_Plan] = []
    fp32: Path | None = None if checkpoint else model

    def full_fp32() -> Path:
        nonlocal fp32
        if fp32 is None:
            fp32 = exporter.export(work / "model.onnx")[0]
        return fp32

    for name in names:
        plan = _Plan(name)
        needs_checkpoint = name in ("torch", "onnxruntime-fp16", "onnxruntime-int8", "onnxruntime-split")
        if needs_checkpoint and not checkpoint:
            plan.skip = "needs a checkpoint (this variant is built from it); got an ONNX file"
        elif name == "torch":
            plan.runtime, plan.path = "torch", model
        elif name == "onnxruntime":
            plan.runtime, plan.path = "onnxruntime", full_fp32()
        elif name == "onnxruntime-fp16":
            plan.runtime, plan.path = "onnxruntime", exporter.export(work / "model_fp16.onnx", precision="fp16")[0]
        elif name == "onnxruntime-int8":
            calib_dir = calib or synthetic_crops(work, input_size) / "bbox_train"
            plan.runtime = "onnxruntime"
            plan.path = exporter.export(work / "model_int8.onnx", precision="int8", calib=calib_dir,
                                        calib_max_images=CALIB_MAX_IMAGES)[0]
        elif name == "onnxruntime-split":
            try:
                files = exporter.export(work / "model_split.onnx", split=True)
            except ReidError as exc:
                plan.skip = f"no split export: {exc}"
            else:
                plan.runtime, plan.path, plan.files = "onnxruntime", files[0], files
        elif name == "onnxruntime-cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                plan.skip = "this onnxruntime build has no CUDA provider (needs onnxruntime-gpu and an NVIDIA GPU)"
            else:
                plan.runtime, plan.path = "onnxruntime", full_fp32()
                plan.providers, plan.require_provider = ["cuda"], "CUDAExecutionProvider"
        elif name == "tensorrt":
            plan.skip = _tensorrt_plan(plan, full_fp32, work, batch_sizes, seq_lens, log)
        if plan.path is not None and not plan.files:
            plan.files = [plan.path]
        plans.append(plan)
    return plans


def _tensorrt_plan(plan: _Plan, onnx_path: Callable[[], Path], work: Path, batch_sizes: Sequence[int],
                   seq_lens: Sequence[int], log: Log) -> str:
    """Build an engine covering the grid; the skip reason when TensorRT or a GPU is missing."""
    import importlib.util

    if importlib.util.find_spec("tensorrt") is None:
        return "the tensorrt package is not installed (TensorRT needs an NVIDIA GPU and NVIDIA's wheels)"
    from reid_export.tensorrt_build import build_engine

    engine = work / "model.engine"
    profile = f"1-{max(batch_sizes)}x1-{max(seq_lens)}"
    try:
        build_engine(onnx_path(), engine, profiles=profile, log=log)
    except ReidError as exc:
        return f"no engine: {exc}"
    plan.runtime, plan.path = "tensorrt", engine
    return ""


def _macs_per_clip(model: Path, seq_lens: Sequence[int], torch_model: Any) -> tuple[dict[int, int], str]:
    if torch_model is not None:
        from reid_export.bench.flops import count_macs

        return {t: count_macs(torch_model, t).per_clip for t in seq_lens}, "the PyTorch op counter (reid bench flops)"
    from reid_export.bench.flops import onnx_macs
    from reid_export.onnx_export import read_info

    info = read_info(model)
    if info.role != "full":
        return {}, "nowhere (a split ONNX file: GFLOP/s not computed)"
    height, width = info.input_size
    return ({t: onnx_macs(model, (1, t, 3, height, width)).total for t in seq_lens},
            "the ONNX graph (Conv/Gemm/MatMul)")


def cosine_stats(reference: np.ndarray, output: np.ndarray) -> tuple[float, float]:
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(output, dtype=np.float64)
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return float(cos.min()), float(cos.mean())


def compare_backends(
    model: str | Path,
    backends: Sequence[str] = DEFAULT_BACKENDS,
    *,
    batch_sizes: Sequence[int] = (1,),
    seq_lens: Sequence[int] = (4,),
    threads: int | None = None,
    work_dir: str | Path | None = None,
    calib: str | Path | None = None,
    warmup: int = 2,
    min_runs: int = 5,
    max_runs: int = 100,
    min_seconds: float = 1.0,
    measure_peak: bool = True,
    peak_n: int = 2048,
    num_check_clips: int = 8,
    check_seq_len: int = 4,
    rounds: int = 1,
    log: Log = _quiet,
) -> LatencyReport:
    """Time ``model`` (a checkpoint, or an exported ``.onnx``) on each backend at every (B, T).

    ``threads`` (default: all cores) is the intra-op thread count of every runtime. ``work_dir`` receives the
    exports and synthetic crops (a temporary folder when None). Every backend embeds ``num_check_clips`` held-out
    synthetic clips of ``check_seq_len`` frames for the cosine vs PyTorch. With ``rounds`` > 1 every backend is
    timed that many times, in a rotated order, each row being the round with the median p50 (ratios between
    backends then survive a slow spell of the machine). Backends that cannot run here are listed as skipped with
    the reason.
    """
    from reid_export.bench.peak import fp32_peak, machine_summary

    machine = machine_summary()
    model = Path(model)
    if not model.is_file():
        raise ReidError(f"{model}: model file not found")
    if not (is_checkpoint(model) or model.suffix.lower() == ".onnx"):
        raise ReidError(f"{model}: expected a checkpoint (.pt/.pth) or an exported .onnx file")
    names = check_backends(list(backends))
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if not batch_sizes or not seq_lens or min(batch_sizes) < 1 or min(seq_lens) < 1:
        raise ValueError(f"batch sizes and sequence lengths must be positive, got {batch_sizes} and {seq_lens}")
    threads = threads or os.cpu_count() or 1
    grid = [(b, t) for b in batch_sizes for t in seq_lens]
    with tempfile.TemporaryDirectory(prefix="reid-bench-") as tmp:
        work = Path(work_dir) if work_dir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        torch_model = reference = None
        if is_checkpoint(model):
            from reid_export.bench.flops import build_model

            torch_model = build_model(model)
            input_size = tuple(torch_model.input_size)
            architecture = str(torch_model.model_config.get("name", type(torch_model).__name__))
        else:
            from reid_export.onnx_export import read_info

            info = read_info(model)
            input_size, architecture = tuple(info.input_size), info.architecture
        plans = plan_backends(model, names, work, input_size=input_size, calib=Path(calib) if calib else None,
                              batch_sizes=batch_sizes, seq_lens=seq_lens, log=log)
        macs, macs_source = _macs_per_clip(model, seq_lens, torch_model)
        check_path = None
        if torch_model is not None and num_check_clips:
            import torch

            clips = check_clips(work, input_size, num_check_clips, check_seq_len)
            with torch.no_grad():
                reference = torch_model(torch.from_numpy(clips)).numpy()
            check_path = work / "check_clips.npy"
            np.save(check_path, clips)
            del torch_model
        peak_spec = {"name": "peak", "n": peak_n, "threads": threads, "min_seconds": min_seconds}
        peak: list[dict] = []
        if measure_peak:
            log(f"measuring the matmul peak (n={peak_n}, {threads} threads)")
            peak = [{**p, "when": "before"} for p in run_isolated(_peak_worker, peak_spec)]
        results = {plan.name: BackendResult(plan.name, "skipped", plan.skip, BACKENDS[plan.name]) for plan in plans}
        runs: dict[str, list[list[dict]]] = {}
        runnable = [plan for plan in plans if not plan.skip]
        for plan in plans:
            if plan.skip:
                log(f"{plan.name}: skipped: {plan.skip}")
            else:
                results[plan.name].files = [str(p) for p in plan.files]
                results[plan.name].size_mb = sum(p.stat().st_size for p in plan.files) / 2**20
        for round_index in range(rounds):
            shift = round_index % max(1, len(runnable))  # rotate the order so a slow spell hits every backend
            for plan in runnable[shift:] + runnable[:shift]:
                result = results[plan.name]
                if result.status in ("failed", "skipped") and plan.name in runs:
                    continue
                log(f"{plan.name}: timing {len(grid)} (B, T) pair(s) in a fresh process"
                    + (f" (round {round_index + 1} of {rounds})" if rounds > 1 else ""))
                spec = {"name": plan.name, "runtime": plan.runtime, "path": str(plan.path), "threads": threads,
                        "providers": plan.providers, "require_provider": plan.require_provider, "grid": grid,
                        "warmup": warmup, "min_runs": min_runs, "max_runs": max_runs, "min_seconds": min_seconds,
                        "check": str(check_path) if check_path and plan.name not in runs else None, "seed": 0}
                runs.setdefault(plan.name, [])
                try:
                    out = run_isolated(bench_worker, spec)
                except ReidError as exc:
                    result.status, result.reason = "failed", str(exc).splitlines()[0]
                    log(f"{plan.name}: failed: {result.reason}")
                    continue
                result.status, result.reason = out["status"], out.get("reason", "")
                result.providers = out["providers"]
                if reference is not None and "check" in out:
                    result.cosine_min, result.cosine_mean = cosine_stats(reference, out["check"])
                if out.get("rows"):
                    runs[plan.name].append(out["rows"])
            if measure_peak:
                log("measuring the matmul peak again (a disturbed measurement can only read low: the best counts)")
                peak += [{**p, "when": f"after round {round_index + 1}" if rounds > 1 else "after"}
                         for p in run_isolated(_peak_worker, peak_spec)]
        from reid_export.bench.peak import GemmPeak

        peak_gflops = fp32_peak([GemmPeak(**p) for p in peak])
        rss_exact = True
        for name, backend_runs in runs.items():
            for cell in grid:
                samples = sorted((row for run in backend_runs for row in run if (row["batch"], row["seq"]) == cell),
                                 key=lambda row: row["p50_ms"])
                if not samples:
                    continue
                row = _row(samples[len(samples) // 2], macs.get(cell[1]))  # the median round
                row.p50_rounds = [sample["p50_ms"] for sample in samples]
                row.peak_fraction = row.gflops / peak_gflops if row.gflops and peak_gflops else None
                rss_exact &= all(bool(sample["rss_reset"]) for sample in samples)
                results[name].rows.append(row)
        results = list(results.values())
    notes = [
        "Timed: one inference call on pre-decoded float32 frames (model compute, no decoding or I/O); "
        "each backend in its own fresh process.",
        f"Cosine: embeddings of {num_check_clips} synthetic test clips of T={check_seq_len} vs PyTorch FP32 "
        "(the INT8 calibration uses the synthetic train crops only).",
    ]
    loads = [r.load1 for b in results for r in b.rows if r.load1 is not None]
    if loads:
        notes.append(f"1-minute load average after each (B, T): {min(loads):.2f} to {max(loads):.2f} (this run's "
                     f"own {threads} threads count for up to {threads}).")
    if measure_peak:
        notes.append("FP32 peak: the best FP32 GEMM of all its measurements (before the backends and after each "
                     "round); a disturbed measurement can only read low.")
    if not rss_exact:
        notes.append("Peak RSS is the peak of the backend's process so far: the high-water mark could not be reset "
                     "per row on this system.")
    return LatencyReport(
        model=str(model), architecture=architecture, input_size=tuple(input_size), threads=threads,
        macs_source=macs_source, backends=results, peak=peak, fp32_peak_gflops=peak_gflops, machine=machine,
        settings={"batch_sizes": list(batch_sizes), "seq_lens": list(seq_lens), "warmup": warmup,
                  "min_runs": min_runs, "max_runs": max_runs, "min_seconds": min_seconds, "peak_n": peak_n,
                  "rounds": rounds,
                  "calibration": str(calib) if calib else f"synthetic crops, {CALIB_MAX_IMAGES} images"},
        notes=notes,
    )


def _row(raw: dict, macs: int | None) -> LatencyRow:
    batch, seq, p50 = raw["batch"], raw["seq"], raw["p50_ms"]
    gflops = 2 * macs * batch / (p50 * 1e-3) / 1e9 if macs else None
    return LatencyRow(
        batch=batch, seq=seq, p50_ms=p50, p90_ms=raw["p90_ms"], p99_ms=raw["p99_ms"], mean_ms=raw["mean_ms"],
        runs=raw["runs"], clipped=raw["clipped"], tracklets_per_s=batch / (p50 * 1e-3),
        frames_per_s=batch * seq / (p50 * 1e-3), peak_rss_mb=raw["peak_rss_mb"], macs_per_clip=macs,
        gflops=gflops, load1=raw["load1"],
    )


# ---------------------------------------------------------------- mixed-length workload

MARS_LOGNORMAL = (3.5735, 0.9308)  # mean and std of log(length) over the 12,180 MARS test tracklets
MARS_LENGTH_RANGE = (2, 920)


def mars_lengths(count: int, seed: int = 0, tracks_table: str | Path | None = None) -> tuple[np.ndarray, str]:
    """``count`` tracklet lengths drawn like MARS: from a ``tracks_*_info.mat`` table (end - start + 1) when given,
    else from the log-normal fitted to the MARS test set, clipped to its 2..920 range. Returns (lengths, source)."""
    rng = np.random.default_rng(seed)
    if tracks_table is not None:
        import scipy.io

        path = Path(tracks_table)
        try:
            content = scipy.io.loadmat(str(path))
        except (OSError, ValueError) as exc:
            raise ReidError(f"{path}: not a readable MARS tracks table ({exc})") from exc
        tables = [v for k, v in content.items() if not k.startswith("__") and getattr(v, "ndim", 0) == 2]
        if not tables or tables[0].shape[1] < 2:
            raise ReidError(f"{path}: expected a (N, 4) [start, end, pid, camid] table like tracks_test_info.mat")
        real = (tables[0][:, 1].astype(np.int64) - tables[0][:, 0] + 1)
        return rng.choice(real, size=count, replace=True), f"drawn from {path.name} ({len(real)} tracklets)"
    mu, sigma = MARS_LOGNORMAL
    lengths = np.clip(np.round(rng.lognormal(mu, sigma, size=count)), *MARS_LENGTH_RANGE).astype(np.int64)
    return lengths, f"log-normal(mu={mu}, sigma={sigma}) fitted to the MARS test lengths, clipped to 2..920"


@dataclass
class MixedStrategy:
    name: str
    description: str
    calls: int
    frames: int            # real frames embedded
    frames_computed: int   # including padding
    seconds: float
    frames_per_s: float
    vs_best_fixed: float
    cosine_min_vs_exact: float
    cosine_mean_vs_exact: float


@dataclass
class MixedReport:
    model: str
    architecture: str
    input_size: tuple[int, int]
    threads: int
    lengths: dict
    batch: int
    pack_frames: int
    fixed: list[dict]
    best_fixed_frames_per_s: float
    strategies: list[MixedStrategy]
    machine: dict
    notes: list[str] = field(default_factory=list)
    command: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        head = (f"{'strategy':<11}{'calls':>6}{'frames':>8}{'computed':>10}{'seconds':>9}{'frames/s':>10}"
                f"{'vs best fixed':>15}{'min cos vs exact':>18}")
        lines = [head, "-" * len(head)]
        for s in self.strategies:
            lines.append(f"{s.name:<11}{s.calls:>6}{s.frames:>8}{s.frames_computed:>10}{s.seconds:>9.1f}"
                         f"{s.frames_per_s:>10.1f}{100 * s.vs_best_fixed:>14.0f}%{s.cosine_min_vs_exact:>18.5f}")
        best = max(self.fixed, key=lambda f: f["frames_per_s"])
        lines.append(f"best fixed-length: {self.best_fixed_frames_per_s:.1f} frames/s at B={best['batch']}, "
                     f"T={best['seq']} (full graph)")
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = ["| strategy | what runs | calls | frames | computed (with padding) | seconds | frames/s | "
                 "vs best fixed-length | min / mean cosine vs exact |", "|---|---|---|---|---|---|---|---|---|"]
        for s in self.strategies:
            lines.append(f"| {s.name} | {s.description} | {s.calls} | {s.frames} | {s.frames_computed} | "
                         f"{s.seconds:.1f} | {s.frames_per_s:.1f} | {100 * s.vs_best_fixed:.0f}% | "
                         f"{s.cosine_min_vs_exact:.5f} / {s.cosine_mean_vs_exact:.5f} |")
        lines += ["", "| fixed (B, T), full graph | p50 ms | frames/s |", "|---|---|---|"]
        lines += [f"| ({f['batch']}, {f['seq']}) | {f['p50_ms']:.1f} | {f['frames_per_s']:.1f} |" for f in self.fixed]
        return "\n".join(lines)


def _counting(fn: Callable[..., Any], counter: dict, key: str) -> Callable[..., Any]:
    def wrapped(frames: np.ndarray, *args: Any) -> Any:
        counter[key] += 1
        counter[key + "_frames"] += int(np.prod(frames.shape[:-3]))
        return fn(frames, *args)

    return wrapped


def _mixed_worker(spec: dict) -> dict:
    """Child process: fixed-length reference, then the three strategies over the same tracklets."""
    from collections import defaultdict

    from reid_runtime.model import load_frames
    from reid_runtime.timing import measure

    full = _load({**spec, "path": spec["full"]})
    split = _load({**spec, "path": spec["split"]})
    height, width = full.input_size
    rng = np.random.default_rng(spec["seed"])
    tracklets = [rng.integers(0, 256, size=(n, height, width, 3), dtype=np.uint8) for n in spec["lengths"]]

    fixed = []
    for batch, seq in spec["fixed"]:
        frames = rng.uniform(0, 255, size=(batch, seq, 3, height, width)).astype(np.float32)
        timing = measure(lambda: full.backend.run_full(frames), warmup=1, min_runs=spec["min_runs"], max_runs=50,
                         min_seconds=spec["min_seconds"])
        fixed.append({"batch": batch, "seq": seq, "p50_ms": timing.p50_ms,
                      "frames_per_s": batch * seq / (timing.p50_ms * 1e-3)})

    counter: dict[str, int] = defaultdict(int)
    full.backend.run_full = _counting(full.backend.run_full, counter, "full")
    split.backend.run_backbone = _counting(split.backend.run_backbone, counter, "backbone")
    batch = spec["batch"]

    def padding() -> np.ndarray:
        out = []
        for start in range(0, len(tracklets), batch):
            group = tracklets[start:start + batch]
            longest = max(len(t) for t in group)
            clips = [load_frames(t, np.minimum(np.arange(longest), len(t) - 1), (height, width)) for t in group]
            out.append(full.backend.run_full(np.stack(clips)))
        return np.concatenate(out)

    def bucketing() -> np.ndarray:
        return full.embed(tracklets, sampling="all", batch_size=batch)

    def packing() -> np.ndarray:
        return split.embed(tracklets, sampling="all", batch_size=batch, seq_len=max(1, spec["pack_frames"] // batch))

    full.backend.run_full(np.zeros((1, 2, 3, height, width), np.float32))  # first-call setup outside the timing
    split.embed(tracklets[:1], sampling="all")
    runs = {}
    for name, fn in (("padding", padding), ("bucketing", bucketing), ("packing", packing)):
        counter.clear()
        started = time.perf_counter()
        embeddings = fn()
        runs[name] = {"seconds": time.perf_counter() - started, "embeddings": embeddings,
                      "calls": counter["full"] + counter["backbone"],
                      "frames_computed": counter["full_frames"] + counter["backbone_frames"]}
    return {"fixed": fixed, "runs": runs}


MIXED_STRATEGIES = {
    "padding": "full graph, batches of tracklets in arrival order padded to the batch's longest (last frame repeated)",
    "bucketing": "full graph, tracklets grouped by exact length (ReidModel.embed, sampling all)",
    "packing": "split export: frames of a batch of tracklets packed into backbone calls, numpy aggregation, "
               "one head call (ReidModel.embed, sampling all)",
}


def mixed_lengths(
    checkpoint: str | Path,
    *,
    tracklets: int = 24,
    cap: int = 64,
    batch: int = 8,
    pack_frames: int = 64,
    tracks_table: str | Path | None = None,
    fixed: Sequence[tuple[int, int]] = ((1, 16), (4, 16), (16, 4)),
    threads: int | None = None,
    work_dir: str | Path | None = None,
    min_runs: int = 3,
    min_seconds: float = 1.0,
    seed: int = 0,
    log: Log = _quiet,
) -> MixedReport:
    """Embed ``tracklets`` tracklets with MARS-like lengths, each with all its frames (capped at ``cap``), three ways:
    naive padding, length bucketing and frame packing; compare their frames/s with the best fixed-length frames/s.

    ``batch`` is the tracklets per batch of every strategy; packing sends ``pack_frames`` frames per backbone call.
    Frames are random pixels already in memory, so the figures are model compute plus batching overhead.
    """
    from reid_export.bench.peak import machine_summary

    machine = machine_summary()
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file() or not is_checkpoint(checkpoint):
        raise ReidError(f"{checkpoint}: the mixed-length benchmark needs a checkpoint (.pt), which it exports "
                        "as a full graph and a split pair")
    if tracklets < 1 or cap < 2 or batch < 1 or pack_frames < 1:
        raise ValueError("tracklets, batch and pack_frames must be >= 1 and cap >= 2")
    threads = threads or os.cpu_count() or 1
    raw, source = mars_lengths(tracklets, seed, tracks_table)
    lengths = np.minimum(raw, cap)
    with tempfile.TemporaryDirectory(prefix="reid-mixed-") as tmp:
        work = Path(work_dir) if work_dir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        exporter = Exporter(checkpoint, log)
        full = exporter.export(work / "model.onnx")[0]
        try:
            split = exporter.export(work / "model_split.onnx", split=True)[0]
        except ReidError as exc:
            raise ReidError(f"{checkpoint}: frame packing needs a split export: {exc}") from exc
        from reid_export.onnx_export import read_info

        info = read_info(full)
        log(f"mixed-length workload: {tracklets} tracklets, {int(lengths.sum())} frames, in a fresh process")
        out = run_isolated(_mixed_worker, {
            "name": "mixed-length workload", "runtime": "onnxruntime", "threads": threads, "full": str(full),
            "split": str(split), "lengths": lengths.tolist(), "fixed": [list(f) for f in fixed], "batch": batch,
            "pack_frames": pack_frames, "min_runs": min_runs, "min_seconds": min_seconds, "seed": seed,
        })
    best = max(f["frames_per_s"] for f in out["fixed"])
    exact = out["runs"]["bucketing"]["embeddings"]
    total = int(lengths.sum())
    strategies = []
    for name, run in out["runs"].items():
        fps = total / run["seconds"]
        cos_min, cos_mean = cosine_stats(exact, run["embeddings"])
        strategies.append(MixedStrategy(name, MIXED_STRATEGIES[name], run["calls"], total, run["frames_computed"],
                                        run["seconds"], fps, fps / best, cos_min, cos_mean))
    return MixedReport(
        model=str(checkpoint), architecture=info.architecture, input_size=tuple(info.input_size), threads=threads,
        lengths={"source": source, "cap": cap, "count": tracklets, "total_frames": total,
                 "mean_uncapped": float(raw.mean()), "mean": float(lengths.mean()),
                 "median": float(np.median(lengths)), "min": int(lengths.min()), "max": int(lengths.max()),
                 "values": lengths.tolist()},
        batch=batch, pack_frames=pack_frames, fixed=out["fixed"], best_fixed_frames_per_s=best,
        strategies=strategies, machine=machine,
        notes=[
            f"Each tracklet is embedded with all its frames (sampling 'all'), capped at {cap} frames (a longer "
            f"tracklet keeps its first {cap}) to keep the run affordable.",
            "Frames are random pixels already in memory (no decoding); one pass per strategy after a warm-up call.",
            "Exact = bucketing (every tracklet alone at its own length, no padding); packing computes the same "
            "embeddings through the split graphs, padding changes them (padded frames enter the attention).",
            "frames/s counts real frames only; 'computed' includes the padded ones.",
        ],
    )
