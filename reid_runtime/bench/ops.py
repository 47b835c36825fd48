"""Where the time of one inference call goes: per operator type and kernel, per model and backend (``reid bench ops``).

Each (model, backend) is loaded with ``profile=True`` (onnxruntime's profiler, OpenVINO's ``PERF_COUNT``), called on
random frames of B clips x T frames after warm-up calls, and the node times of the timed calls are summed per
(operator, kernel) and divided by the number of calls. The kernel column shows what the engine actually ran: on
OpenVINO whether a layer runs in I8 (``brgconv_avx512_1x1_I8``) or fell back to a float or reference kernel; on
onnxruntime the op after its fusions (``QLinearConv``, ``FusedConv``) and the provider. Node times exclude what
happens between nodes, so the wall time of a call is reported beside their sum.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reid_runtime.bench.machine import describe_machine
from reid_runtime.errors import BackendOptionError, ReidError

PROFILING_BACKENDS = ("onnxruntime", "openvino")


@dataclass
class OpRow:
    """One (graph, operator, kernel): nodes of that kind and their time per call."""

    graph: str
    op: str
    kernel: str
    nodes: int
    ms: float
    share: float  # of the summed node time of a call


@dataclass
class OpsEntry:
    """One (model, backend): the call's wall time, its node-time sum and the rows, or why it was not profiled."""

    model: str
    backend: str
    status: str = "ok"
    reason: str = ""
    calls: int = 0
    wall_ms: float | None = None  # median over the timed calls
    node_ms: float | None = None  # node times summed, per call
    rows: list[OpRow] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{Path(self.model).name} on {self.backend}"


@dataclass
class OpsReport:
    """Every (model, backend) profiled by one ``reid bench ops`` run."""

    entries: list[OpsEntry]
    batch: int
    seq_len: int
    threads: int | None
    top: int
    machine: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    command: str = ""
    title: str = "Time per operator"

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "seq_len": self.seq_len, "threads": self.threads,
                "entries": [asdict(entry) for entry in self.entries], "notes": self.notes}

    def _shown(self, entry: OpsEntry) -> tuple[list[OpRow], OpRow | None]:
        """The ``top`` rows and one row summing the rest (None when nothing is left over)."""
        rows = entry.rows[:self.top]
        rest = entry.rows[self.top:]
        if not rest:
            return rows, None
        return rows, OpRow("", f"{len(rest)} other kinds", "", sum(r.nodes for r in rest), sum(r.ms for r in rest),
                           sum(r.share for r in rest))

    def _heading(self, entry: OpsEntry) -> str:
        if entry.status != "ok":
            return f"{entry.label}: {entry.status} ({entry.reason})"
        return (f"{entry.label}: {entry.wall_ms:.2f} ms per call (median wall time of {entry.calls} calls), "
                f"{entry.node_ms:.2f} ms in its nodes")

    def table(self) -> str:
        lines = [f"{self.title}: B={self.batch}, T={self.seq_len}, threads {self.threads or 'backend default'}"]
        for entry in self.entries:
            lines += ["", self._heading(entry)]
            if entry.status != "ok":
                continue
            graphs = len({row.graph for row in entry.rows}) > 1
            rows, rest = self._shown(entry)
            rows = [*rows, *([rest] if rest else [])]
            names = [f"{row.graph}: {row.op}" if graphs and row.graph else row.op for row in rows]
            op_width = max(4, *(len(name) for name in names)) + 2
            kernel_width = max(8, *(len(row.kernel) for row in rows)) + 2
            head = f"  {'op':<{op_width}}{'kernel':<{kernel_width}}{'nodes':>6}{'ms/call':>10}{'share':>8}"
            lines += [head, "  " + "-" * (len(head) - 2)]
            for name, row in zip(names, rows):
                lines.append(f"  {name:<{op_width}}{row.kernel:<{kernel_width}}{row.nodes:>6}{row.ms:>10.3f}"
                             f"{row.share:>8.1%}")
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = [f"B={self.batch}, T={self.seq_len}, threads: {self.threads or 'backend default'}; ms per call, "
                 "node times averaged over the timed calls; share of the summed node time."]
        for entry in self.entries:
            lines += ["", f"**{self._heading(entry)}**"]
            if entry.status != "ok":
                continue
            lines += ["", "| graph | op | kernel | nodes | ms/call | share |", "|---|---|---|---|---|---|"]
            rows, rest = self._shown(entry)
            for row in [*rows, *([rest] if rest else [])]:
                lines.append(f"| {row.graph} | {row.op} | {row.kernel} | {row.nodes} | {row.ms:.3f} | "
                             f"{row.share:.1%} |")
        return "\n".join(lines)


def summarize(times: Sequence[Any], skip: int) -> tuple[int, float, list[OpRow]]:
    """Calls after the first ``skip`` of each graph: their number, the node time per call and the rows (largest
    first), from a backend's ``op_times()``."""
    kept = [t for t in times if t.call >= skip]
    if not kept:
        return 0, 0.0, []
    calls = len({t.call for t in kept if t.graph == kept[0].graph})
    ms: dict[tuple[str, str, str], float] = defaultdict(float)
    nodes: dict[tuple[str, str, str], int] = defaultdict(int)
    for t in kept:
        ms[t.graph, t.op, t.kernel] += t.ms
        nodes[t.graph, t.op, t.kernel] += 1
    total = sum(ms.values())
    rows = [OpRow(*key, round(nodes[key] / calls), ms[key] / calls, ms[key] / total if total else 0.0) for key in ms]
    rows.sort(key=lambda row: -row.ms)
    return calls, total / calls, rows


def split_call(impl: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Clips ``(B, T, 3, H, W)`` -> embeddings through a split pair: backbone per frame, numpy aggregation, head."""
    from reid_runtime.aggregation import fuse

    def call(frames: np.ndarray) -> np.ndarray:
        clips, length = frames.shape[:2]
        scores, strips = impl.run_backbone(frames.reshape(clips * length, *frames.shape[2:]))
        fused = fuse(impl.info.aggregation, scores.reshape(clips, length, -1),
                     strips.reshape(clips, length, *strips.shape[1:]), impl.fusion)
        return impl.run_head(fused)

    return call


def profile_entry(model: str | os.PathLike, backend: str, batch: int, seq_len: int, threads: int | None, runs: int,
                  warmup: int, seed: int = 0) -> OpsEntry:
    """Profile one model on one backend: ``warmup`` untimed calls, then ``runs`` timed ones."""
    import reid_runtime

    entry = OpsEntry(str(model), backend)
    try:
        loaded = reid_runtime.load(model, backend=backend, threads=threads, profile=True)
    except BackendOptionError:
        raise ReidError(f"{model}: this backend has no operator profiler; profile an exported .onnx file on "
                        f"{' or '.join(PROFILING_BACKENDS)}") from None
    entry.backend = loaded.backend_name
    impl = loaded.backend
    height, width = loaded.info.input_size
    frames = np.random.default_rng(seed).uniform(0, 255, (batch, seq_len, 3, height, width)).astype(np.float32)
    call = impl.run_full if impl.mode == "full" else split_call(impl)
    walls = []
    for index in range(warmup + runs):
        start = time.perf_counter()
        call(frames)
        if index >= warmup:
            walls.append((time.perf_counter() - start) * 1000)
    entry.calls, entry.node_ms, entry.rows = summarize(impl.op_times(), warmup)
    entry.wall_ms = float(np.median(walls))
    return entry


def bench_ops(models: Sequence[str | os.PathLike], backends: Sequence[str], batch: int = 1, seq_len: int = 4,
              threads: int | None = None, runs: int = 20, warmup: int = 3, top: int = 15,
              log: Callable[[str], None] = lambda line: None) -> OpsReport:
    """Profile every model on every backend (``auto``: the file's own) in this process, one after the other."""
    if not models:
        raise ReidError("give at least one model to profile")
    entries = []
    for model in models:
        for backend in backends:
            log(f"profiling {model} on {backend} ...")
            try:
                entries.append(profile_entry(model, backend, batch, seq_len, threads, runs, warmup))
            except ReidError as exc:
                entries.append(OpsEntry(str(model), backend, status="skipped", reason=str(exc)))
    notes = [
        f"{runs} timed calls after {warmup} warm-up calls, on random frames already in memory.",
        "Node times are the engine's own per-node timers (onnxruntime's profiler; OpenVINO PERF_COUNT, executed "
        "layers only) and leave out the time between nodes: compare them with the wall time of the call.",
        "Profiling adds a little overhead per node; for speed figures use reid bench latency.",
    ]
    if any(entry.backend == "onnxruntime" for entry in entries if entry.status == "ok"):
        notes.append("onnxruntime rows name the op after graph fusions and the execution provider as the kernel.")
    return OpsReport(entries, batch, seq_len, threads, top, describe_machine(), notes)
