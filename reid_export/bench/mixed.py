"""Mixed-length workload: naive padding vs length bucketing vs frame packing, against the best fixed-length rate.

``tracklets`` tracklets with MARS-like lengths (drawn from a ``tracks_test_info.mat`` table, or from the log-normal
fitted to it), each embedded with all its frames up to ``cap``, three ways over the same ONNX Runtime session:

* padding: the full graph, batches of tracklets in arrival order padded to the batch's longest (last frame repeated);
* bucketing: the full graph, tracklets grouped by exact length (``ReidModel.embed``, sampling ``all``);
* packing: the split export, the frames of a batch of tracklets packed into backbone calls, numpy aggregation, one
  head call (``ReidModel.embed``, sampling ``all``).

The model is exported here (full graph and split pair, through :func:`reid_export.api.export`); the workload runs in
a fresh process (:mod:`reid_runtime.bench.worker`), on random pixels already in memory, so the figures are model
compute plus batching overhead. This module imports no torch at module level: the worker imports it for its task.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reid_runtime.errors import ReidError

Log = Callable[[str], None]
TASK = "reid_export.bench.mixed:mixed_task"
MARS_LOGNORMAL = (3.5735, 0.9308)  # mean and std of log(length) over the 12,180 MARS test tracklets
MARS_LENGTH_RANGE = (2, 920)
STRATEGIES = {
    "padding": "full graph, batches of tracklets in arrival order padded to the batch's longest (last frame repeated)",
    "bucketing": "full graph, tracklets grouped by exact length (ReidModel.embed, sampling all)",
    "packing": "split export: frames of a batch of tracklets packed into backbone calls, numpy aggregation, "
               "one head call (ReidModel.embed, sampling all)",
}


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
        real = tables[0][:, 1].astype(np.int64) - tables[0][:, 0] + 1
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
    threads: int | None
    lengths: dict[str, Any]
    batch: int
    pack_frames: int
    fixed: list[dict[str, Any]]
    best_fixed_frames_per_s: float
    strategies: list[MixedStrategy]
    machine: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    command: str = ""

    @property
    def title(self) -> str:
        return f"Mixed-length workload: {self.architecture}, {self.input_size[0]}x{self.input_size[1]}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def strategy(self, name: str) -> MixedStrategy:
        return next(s for s in self.strategies if s.name == name)

    def table(self) -> str:
        head = (f"{'strategy':<11}{'calls':>6}{'frames':>8}{'computed':>10}{'seconds':>9}{'frames/s':>10}"
                f"{'vs best fixed':>15}{'min cos vs exact':>18}")
        lines = [head, "-" * len(head)]
        for s in self.strategies:
            lines.append(f"{s.name:<11}{s.calls:>6}{s.frames:>8}{s.frames_computed:>10}{s.seconds:>9.2f}"
                         f"{s.frames_per_s:>10.1f}{100 * s.vs_best_fixed:>14.0f}%{s.cosine_min_vs_exact:>18.5f}")
        best = max(self.fixed, key=lambda f: f["frames_per_s"])
        lines.append(f"best fixed-length: {self.best_fixed_frames_per_s:.1f} frames/s at B={best['batch']}, "
                     f"T={best['seq']} (full graph)")
        return "\n".join(lines)

    def markdown(self) -> str:
        lengths = self.lengths
        lines = [f"Tracklets: {lengths['count']}, lengths {lengths['source']}; capped at {lengths['cap']}: "
                 f"{lengths['total_frames']} frames, mean {lengths['mean']:.1f} (uncapped "
                 f"{lengths['mean_uncapped']:.1f}), median {lengths['median']:.0f}, range "
                 f"{lengths['min']}..{lengths['max']}. Batches of {self.batch} tracklets; packing sends up to "
                 f"{self.pack_frames} frames per backbone call; ONNX Runtime CPU, "
                 f"{self.threads or 'default'} threads.", "",
                 "| strategy | what runs | calls | frames | computed (with padding) | seconds | frames/s | "
                 "vs best fixed-length | min / mean cosine vs exact |", "|---|---|---|---|---|---|---|---|---|"]
        for s in self.strategies:
            lines.append(f"| {s.name} | {s.description} | {s.calls} | {s.frames} | {s.frames_computed} | "
                         f"{s.seconds:.2f} | {s.frames_per_s:.1f} | {100 * s.vs_best_fixed:.0f}% | "
                         f"{s.cosine_min_vs_exact:.5f} / {s.cosine_mean_vs_exact:.5f} |")
        lines += ["", "| fixed (B, T), full graph | p50 ms | frames/s |", "|---|---|---|"]
        lines += [f"| ({f['batch']}, {f['seq']}) | {f['p50_ms']:.1f} | {f['frames_per_s']:.1f} |" for f in self.fixed]
        return "\n".join(lines)


# ---------------------------------------------------------------- the worker's task (fresh process, no torch)


def _counting(fn: Callable[..., Any], counter: dict[str, int], key: str) -> Callable[..., Any]:
    def wrapped(frames: np.ndarray, *args: Any) -> Any:
        counter[key] += 1
        counter[key + "_frames"] += int(np.prod(frames.shape[:-3]))
        return fn(frames, *args)

    return wrapped


def mixed_task(job: dict[str, Any]) -> dict[str, Any]:
    """Worker task: the fixed-length reference, then the three strategies over the same tracklets."""
    from collections import defaultdict

    import reid_runtime
    from reid_runtime.model import load_frames
    from reid_runtime.timing import measure

    full = reid_runtime.load(job["full"], backend="onnxruntime", threads=job["threads"])
    split = reid_runtime.load(job["split"], backend="onnxruntime", threads=job["threads"])
    height, width = full.input_size
    rng = np.random.default_rng(job["seed"])
    tracklets = [rng.integers(0, 256, size=(n, height, width, 3), dtype=np.uint8) for n in job["lengths"]]

    fixed = []
    for batch, seq in job["fixed"]:
        frames = rng.uniform(0, 255, size=(batch, seq, 3, height, width)).astype(np.float32)
        timing = measure(lambda frames=frames: full.backend.run_full(frames), warmup=1, min_runs=job["min_runs"],
                         max_runs=50, min_seconds=job["min_seconds"])
        fixed.append({"batch": batch, "seq": seq, "p50_ms": timing.p50_ms,
                      "frames_per_s": batch * seq / (timing.p50_ms * 1e-3)})

    counter: dict[str, int] = defaultdict(int)
    full.backend.run_full = _counting(full.backend.run_full, counter, "full")
    split.backend.run_backbone = _counting(split.backend.run_backbone, counter, "backbone")
    batch = job["batch"]

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
        return split.embed(tracklets, sampling="all", batch_size=batch, seq_len=max(1, job["pack_frames"] // batch))

    full.backend.run_full(np.zeros((1, 2, 3, height, width), np.float32))  # first-call setup outside the timing
    split.embed(tracklets[:1], sampling="all")
    runs = {}
    for name, fn in (("padding", padding), ("bucketing", bucketing), ("packing", packing)):
        counter.clear()
        started = time.perf_counter()
        embeddings = fn()
        seconds = time.perf_counter() - started
        file = str(Path(job["folder"]) / f"mixed-{name}.npy")
        np.save(file, np.asarray(embeddings, dtype=np.float32), allow_pickle=False)
        runs[name] = {"seconds": seconds, "embeddings": file, "calls": counter["full"] + counter["backbone"],
                      "frames_computed": counter["full_frames"] + counter["backbone_frames"]}
    return {"fixed": fixed, "runs": runs, "architecture": full.info.architecture, "input_size": [height, width]}


# ---------------------------------------------------------------- the parent


def bench_mixed(
    model: str | Path,
    *,
    tracklets: int = 24,
    cap: int = 64,
    batch_size: int = 8,
    pack_frames: int = 64,
    tracks_table: str | Path | None = None,
    fixed: Sequence[tuple[int, int]] = ((1, 16), (4, 16), (16, 4)),
    threads: int | None = None,
    work_dir: str | Path | None = None,
    min_runs: int = 3,
    min_seconds: float = 1.0,
    seed: int = 0,
    log: Log = lambda line: None,
) -> MixedReport:
    """Embed ``tracklets`` MARS-like tracklets three ways (see the module docstring) and compare their frames/s with
    the best fixed-length frames/s of the same session. ``model`` is a checkpoint or a registry name."""
    from reid_export.api import export
    from reid_export.formats import BUILT, input_kind
    from reid_runtime.bench.latency import cosine_stats
    from reid_runtime.bench.machine import describe_machine
    from reid_runtime.bench.worker import run_isolated

    machine = describe_machine()
    if input_kind(model) not in BUILT:
        raise ReidError(f"{model}: the mixed-length benchmark needs a checkpoint (.pt) or a registry name, which it "
                        "exports as a full graph and a split pair")
    if tracklets < 1 or cap < 2 or batch_size < 1 or pack_frames < 1:
        raise ReidError(f"tracklets, batch size and pack frames must be >= 1 and cap >= 2, got {tracklets}, "
                        f"{batch_size}, {pack_frames} and {cap}")
    raw, source = mars_lengths(tracklets, seed, tracks_table)
    lengths = np.minimum(raw, cap)
    with tempfile.TemporaryDirectory(prefix="reid-mixed-") as tmp:
        work = Path(work_dir) if work_dir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        full = export(model, format="onnx", out=work / "model.onnx", no_verify=True, log=log).files[0]
        try:
            split = export(model, format="onnx", out=work / "model_split.onnx", split=True, no_verify=True,
                           log=log).files[0]
        except ReidError as exc:
            raise ReidError(f"{model}: frame packing needs a split export: {exc}") from exc
        log(f"mixed-length workload: {tracklets} tracklets, {int(lengths.sum())} frames, in a fresh process")
        out = run_isolated(TASK, {"full": str(full), "split": str(split), "threads": threads,
                                  "lengths": lengths.tolist(), "fixed": [list(f) for f in fixed],
                                  "batch": batch_size, "pack_frames": pack_frames, "min_runs": min_runs,
                                  "min_seconds": min_seconds, "seed": seed}, Path(tmp) / "jobs", "mixed workload")
        embeddings = {name: np.load(run["embeddings"], allow_pickle=False) for name, run in out["runs"].items()}
    best = max(f["frames_per_s"] for f in out["fixed"])
    total = int(lengths.sum())
    strategies = []
    for name, run in out["runs"].items():
        fps = total / run["seconds"]
        cos_min, cos_mean = cosine_stats(embeddings["bucketing"], embeddings[name])
        strategies.append(MixedStrategy(name, STRATEGIES[name], run["calls"], total, run["frames_computed"],
                                        run["seconds"], fps, fps / best, cos_min, cos_mean))
    return MixedReport(
        model=str(model), architecture=out["architecture"], input_size=tuple(out["input_size"]), threads=threads,
        lengths={"source": source, "cap": cap, "count": tracklets, "total_frames": total,
                 "mean_uncapped": float(raw.mean()), "mean": float(lengths.mean()),
                 "median": float(np.median(lengths)), "min": int(lengths.min()), "max": int(lengths.max()),
                 "values": lengths.tolist()},
        batch=batch_size, pack_frames=pack_frames, fixed=out["fixed"], best_fixed_frames_per_s=best,
        strategies=strategies, machine=machine,
        notes=[
            f"Each tracklet is embedded with all its frames (sampling 'all'), capped at {cap} frames (a longer "
            f"tracklet keeps its first {cap}).",
            "Frames are random pixels already in memory (no decoding); one pass per strategy after a warm-up call, "
            "in a fresh process.",
            "Exact = bucketing (every tracklet alone at its own length, no padding); packing computes the same "
            "embeddings through the split graphs, padding changes them (padded frames enter the attention).",
            "frames/s counts real frames only; 'computed' includes the padded ones.",
        ],
    )
