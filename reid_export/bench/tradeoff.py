"""Computation vs performance of several models (the view of AITL's Fig. 8): GMACs, parameters, size, speed, mAP.

For every model (a registry name, untrained, or a checkpoint): the MACs per clip of T frames as ``reid bench flops``
counts them (backbone + head, :func:`reid_export.bench.flops.flops_rows`), the parameters of the deployed graph (the
float initializers of its FP32 ONNX export), and each format exported and verified as ``reid bench formats`` does
(:func:`reid_export.bench.formats.export_row`). Every (model, format, backend) is then timed in one
:func:`reid_runtime.bench.latency.bench_latency` call, side by side (B=1, T frames, each in a fresh process), and
compared with the first model on the same format and backend. Given a dataset, each format of a checkpoint is scored
with :func:`reid_runtime.services.evaluate.evaluate` (standard protocol, dense clips of T frames).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reid_export.bench.formats import FormatRow, cell, export_row, num, status_cells
from reid_runtime.errors import ReidError

Log = Callable[[str], None]
DEFAULT_FORMATS = ("onnx", "onnx-int8-cpu")
DEFAULT_BACKENDS = ("auto", "openvino")
PARAMS_FORMAT = "onnx"  # the parameters are counted on the FP32 graph


@dataclass
class ModelCost:
    """One model: what it costs per clip, its deployed parameters, and the mAP the cost plot shows for it."""

    model: str
    architecture: str
    kind: str                        # "checkpoint" or "name" (an untrained registry model)
    input_size: tuple[int, int]
    macs_per_clip: int               # backbone + head, as `reid bench flops` counts them
    macs_per_frame: float
    params: int | None = None        # float initializer elements of the FP32 ONNX graph
    params_reason: str = ""          # why ``params`` is None
    params_apart: bool = False       # counted on an FP32 graph exported for that alone (no onnx row to count on)
    mAP: float | None = None         # of the FP32 export when scored, else of the first format scored
    mAP_format: str = ""

    @property
    def gmacs_per_clip(self) -> float:
        return self.macs_per_clip / 1e9


@dataclass
class TradeoffRow:
    """One (model, format, backend): status ok, failed, skipped (cannot run here) or exported (not timed here)."""

    model: str
    architecture: str
    format: str
    backend: str                     # the engine that ran it ("-" when nothing was timed)
    status: str
    reason: str = ""
    file: str = ""
    size_mb: float | None = None
    verified: bool | None = None
    cosine_min: float | None = None  # the export's own check vs PyTorch
    spread_error: float | None = None  # INT8: its error / the spread between the held-out clips
    macs_per_clip: int = 0
    params: int | None = None
    ms_per_clip: float | None = None
    clips_per_s: float | None = None
    frames_per_s: float | None = None
    vs_first: float | None = None    # throughput / the first model's, same format and backend
    mAP: float | None = None
    R1: float | None = None
    providers: list[str] = field(default_factory=list)


@dataclass
class TradeoffReport:
    models: list[ModelCost]
    rows: list[TradeoffRow]
    seq_len: int
    formats: list[str]
    backends: list[str]
    threads: int | None
    dataset: str | None
    machine: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    command: str = ""

    @property
    def title(self) -> str:
        return f"Computation vs performance: {len(self.models)} model(s), T={self.seq_len}"

    def row(self, model: str, format: str, backend: str) -> TradeoffRow | None:
        return next((r for r in self.rows if (r.model, r.format, r.backend) == (model, format, backend)), None)

    def cost(self, model: str) -> ModelCost:
        return next(m for m in self.models if m.model == model)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for cost, entry in zip(self.models, data["models"]):
            entry["gmacs_per_clip"] = cost.gmacs_per_clip
        data["units"] = (f"MACs per clip of T={self.seq_len} frames (B=1; FLOPs = 2 x MACs); mAP and R1 in percent; "
                         "ms per call of one clip")
        return data

    def table(self) -> str:
        width = max([len(m.model) for m in self.models] + [10]) + 2
        head = (f"{'model':<{width}}{'format':<15}{'backend':<13}{'GMACs':>10}{'/frame':>10}{'params M':>10}"
                f"{'size MB':>9}{'mAP':>7}{'R1':>7}{'ms/clip':>10}{'clips/s':>9}{'frames/s':>10}{'x first':>9}")
        lines = [head, "-" * len(head)]
        for r in self.rows:
            cost = self.cost(r.model)
            start = f"{r.model:<{width}}{r.format:<15}{r.backend:<13}"
            if r.status not in ("ok", "exported"):
                lines.append(f"{start}{r.status}: {r.reason}")
                continue
            params = None if r.params is None else r.params / 1e6
            lines.append(f"{start}{cost.gmacs_per_clip:>10.4g}{cost.macs_per_frame / 1e9:>10.4g}{num(params, 10, 3)}"
                         f"{num(r.size_mb, 9, 2)}{num(r.mAP, 7, 1)}{num(r.R1, 7, 1)}{num(r.ms_per_clip, 10, 2)}"
                         f"{num(r.clips_per_s, 9, 2)}{num(r.frames_per_s, 10, 1)}{num(r.vs_first, 9, 2)}"
                         + (f"  {r.reason}" if r.reason else ""))
        first = self.models[0].model if self.models else "-"
        lines.append(f"GMACs: per clip of T={self.seq_len} frames (backbone + head); ms/clip: p50 of one call at B=1; "
                     f"x first: throughput vs {first} on the same format and backend")
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = [f"| model | architecture | HxW | GMACs per clip (T={self.seq_len}) | GMACs per frame | "
                 "parameters (M) | mAP (format) |", "|---|---|---|---|---|---|---|"]
        for m in self.models:
            params = f"{m.params / 1e6:.3f}" if m.params is not None else f"- ({m.params_reason})"
            score = f"{m.mAP:.1f} ({m.mAP_format})" if m.mAP is not None else "-"
            lines.append(f"| {m.model} | {m.architecture} | {m.input_size[0]}x{m.input_size[1]} | "
                         f"{m.gmacs_per_clip:.4g} | {m.macs_per_frame / 1e9:.4g} | {params} | {score} |")
        lines += ["", "| model | format | backend | status | size MB | verified | min cosine vs PyTorch | "
                      "error / spread | mAP | R1 | ms/clip | clips/s | frames/s | speed vs first model |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            if r.status not in ("ok", "exported"):
                lines.append(f"| {r.model} | {r.format} | {r.backend} | {r.status}: {r.reason} |" + " |" * 10)
                continue
            status, verified = status_cells(r)
            lines.append(f"| {r.model} | {r.format} | {r.backend} | {status} | {cell(r.size_mb, 2)} | {verified} | "
                         f"{cell(r.cosine_min, 5)} | {cell(r.spread_error, 3)} | {cell(r.mAP, 1)} | {cell(r.R1, 1)} | "
                         f"{cell(r.ms_per_clip, 2)} | {cell(r.clips_per_s, 2)} | {cell(r.frames_per_s, 1)} | "
                         f"{cell(r.vs_first, 2)} |")
        return "\n".join(lines)


def onnx_parameters(path: str | Path) -> int:
    """Elements of the float initializers of an ONNX graph: the parameters the deployed model holds."""
    import numpy as np
    import onnx

    proto = onnx.load(str(path))
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16}
    return sum(int(np.prod(t.dims, dtype=np.int64)) for t in proto.graph.initializer if t.data_type in floats)


def _tags(models: Sequence[str]) -> list[str]:
    """A file-name stem per model (the registry name, the checkpoint's stem), unique among the models."""
    tags: list[str] = []
    for model in models:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(model).stem if Path(model).suffix else model) or "model"
        tag, n = base, 1
        while tag in tags:
            n += 1
            tag = f"{base}-{n}"
        tags.append(tag)
    return tags


def _backends(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """The backends to time with, and a note for each left out because it is not installed here."""
    from reid_runtime.plugins import DISTRIBUTION, backends

    table = backends()
    kept, notes = [], []
    for name in dict.fromkeys(names):
        if name != "auto" and name not in table:
            raise ReidError(f"unknown backend {name!r}; expected some of {', '.join(['auto', *table])}")
        missing = table[name].requirement.missing() if name != "auto" else []
        if missing:
            notes.append(f"Backend {name}: not installed here ({', '.join(missing)}; pip install "
                         f"'{DISTRIBUTION}[{table[name].requirement.extra}]'), not timed.")
            continue
        kept.append(name)
    if not kept:
        raise ReidError(f"no backend of {', '.join(names) or '(none given)'} is installed here")
    return kept, notes


def _runs_on(file: str, backend: str) -> str:
    """The engine that ``backend`` means for ``file`` (auto: the one its suffix names)."""
    from reid_runtime.plugins import backend_for_suffix

    if backend != "auto":
        return backend
    spec = backend_for_suffix(Path(file).suffix)
    return spec.name if spec is not None else backend


def bench_tradeoff(
    models: Sequence[str | Path],
    formats: Sequence[str] = DEFAULT_FORMATS,
    *,
    size: tuple[int, int] | None = None,
    seq_len: int = 4,
    backends: Sequence[str] = DEFAULT_BACKENDS,
    data_root: str | Path | None = None,
    dataset: str | None = None,
    calib: str | Path | None = None,
    threads: int | None = None,
    runs: int = 5,
    min_seconds: float = 1.0,
    work_dir: str | Path | None = None,
    log: Log = lambda line: None,
) -> TradeoffReport:
    """Cost, size, speed and (with a dataset) accuracy of every model in every format and backend; see the module
    docstring. ``models``: registry names (untrained, at ``size`` or their default) or checkpoints."""
    from reid_export.bench.flops import flops_rows
    from reid_export.formats import CHECKPOINT, NAME, get_format, input_kind
    from reid_runtime.bench.latency import bench_latency
    from reid_runtime.bench.machine import describe_machine

    machine = describe_machine()
    models = [str(m) for m in models]
    if not models:
        raise ReidError("no model given; pass at least one --model")
    if len(set(models)) < len(models):
        raise ReidError(f"a model is given twice: {', '.join(m for m in dict.fromkeys(models) if models.count(m) > 1)}")
    kinds = [input_kind(m) for m in models]
    for model, kind in zip(models, kinds):
        if kind not in (CHECKPOINT, NAME):
            raise ReidError(f"{model}: the trade-off starts from a checkpoint (.pt) or a registry name")
    names = [get_format(name).name for name in dict.fromkeys(formats)]
    if not names:
        raise ReidError("no format given")
    if (data_root is None) != (dataset is None):
        raise ReidError("give --data-root and --dataset together (mAP per format), or neither")
    if seq_len < 1:
        raise ReidError(f"seq_len must be >= 1, got {seq_len}")
    backend_names, notes = _backends(backends)

    costs = []
    for model, kind in zip(models, kinds):
        count = flops_rows(model, [seq_len], size, onnx_check=False)[0]  # loads the model: a bad file stops here
        log(f"{model}: {count['per_clip'] / 1e9:.3f} GMACs per clip of T={seq_len}")
        costs.append(ModelCost(model, str(count["model"]), "checkpoint" if kind == CHECKPOINT else "name",
                               (int(count["input_size"][0]), int(count["input_size"][1])), int(count["per_clip"]),
                               float(count["per_frame"])))

    rows: list[TradeoffRow] = []
    timed: dict[str, tuple[ModelCost, str]] = {}   # file -> (model, format)
    with tempfile.TemporaryDirectory(prefix="reid-tradeoff-") as tmp:
        work = Path(work_dir) if work_dir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for cost, tag in zip(costs, _tags(models)):
            model_log = _prefixed(log, tag)
            name_size = size if cost.kind == "name" else None
            crops = work / f"calib_{cost.input_size[0]}x{cost.input_size[1]}"
            fp32_file = None
            for name in names:
                try:
                    row, path = export_row(cost.model, name, work / tag / name, Path(calib) if calib else None,
                                           cost.input_size, model_log, stem=tag, size=name_size, crops_dir=crops)
                except Exception as exc:  # an exporter crash is this format's failure; the other formats go on
                    row = _failed_format(name, exc)
                    path = None
                if row.status in ("skipped", "failed"):
                    model_log(f"{name}: {row.status}: {row.reason}")
                if name == PARAMS_FORMAT and path is not None:
                    fp32_file = path
                common = dict(model=cost.model, architecture=cost.architecture, format=name, status=row.status,
                              reason=row.reason, file=row.files[0] if row.files else "", size_mb=row.size_mb,
                              verified=row.verified, cosine_min=row.cosine_min,
                              spread_error=row.spread_error, macs_per_clip=cost.macs_per_clip)
                if path is None:
                    rows.append(TradeoffRow(backend="-", **common))
                    continue
                timed[str(path)] = (cost, name)
                for backend in dict.fromkeys(_runs_on(str(path), b) for b in backend_names):
                    rows.append(TradeoffRow(backend=backend, **common))
            _count_parameters(cost, fp32_file, work / tag / "params", tag, name_size, model_log)
        for row in rows:
            row.params = costs[models.index(row.model)].params
        if timed:
            latency = bench_latency(list(timed), backend_names, batch_sizes=(1,), seq_lens=(seq_len,),
                                    threads=threads, runs=runs, min_seconds=min_seconds, check_clips=0, log=log)
            _fill_timing(rows, latency.entries)
        if dataset:
            _score(rows, costs, timed, data_root, dataset, seq_len, threads, log)
    _compare(rows, models[0])
    for cost in costs:
        scored = [r for r in rows if r.model == cost.model and r.mAP is not None]
        best = next((r for r in scored if r.format == PARAMS_FORMAT), scored[0] if scored else None)
        if best is not None:
            cost.mAP, cost.mAP_format = best.mAP, best.format
    notes = _notes(costs, seq_len, threads, calib, data_root, dataset) + notes
    return TradeoffReport(costs, rows, seq_len, names, backend_names, threads, dataset, machine, notes)


def _prefixed(log: Log, prefix: str) -> Log:
    return lambda line: log(f"{prefix}: {line}")


def _failed_format(name: str, exc: Exception) -> FormatRow:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return FormatRow(name, "failed", first if isinstance(exc, ReidError) else f"{type(exc).__name__}: {first}")


def _count_parameters(cost: ModelCost, fp32_file: Path | None, folder: Path, tag: str,
                      size: tuple[int, int] | None, log: Log) -> None:
    """``cost.params`` from the FP32 export of the table, or from one made here (unverified) when the table has none."""
    if fp32_file is None:
        from reid_export.api import export

        log("exporting an FP32 graph (not verified) to count its parameters")
        folder.mkdir(parents=True, exist_ok=True)
        try:
            result = export(cost.model, format=PARAMS_FORMAT, out=folder / f"{tag}.onnx", log=log, no_verify=True,
                            **({"size": tuple(size)} if size is not None else {}))
            fp32_file, cost.params_apart = result.files[0], True
        except Exception as exc:  # reported in the table; the rest goes on
            cost.params_reason = f"no FP32 graph: {_failed_format(PARAMS_FORMAT, exc).reason}"
            return
    cost.params = onnx_parameters(fp32_file)


def _fill_timing(rows: list[TradeoffRow], entries: Sequence[Any]) -> None:
    by_key = {(str(Path(e.model)), e.backend): e for e in entries}
    for row in rows:
        entry = by_key.get((str(Path(row.file)), row.backend)) if row.status == "ok" else None
        if entry is None:
            continue
        if entry.status != "ok":
            row.status, row.reason = ("skipped" if entry.status == "skipped" else "failed"), f"timing: {entry.reason}"
            continue
        timing = entry.rows[0]
        row.providers = list(entry.providers)
        row.ms_per_clip, row.clips_per_s, row.frames_per_s = timing.p50_ms, timing.tracklets_per_s, timing.frames_per_s


def _score(rows: list[TradeoffRow], costs: list[ModelCost], timed: dict[str, tuple[ModelCost, str]],
           data_root: str | Path | None, dataset: str, seq_len: int, threads: int | None, log: Log) -> None:
    """mAP / R1 of every exported format of a checkpoint, on the file's own engine (ONNX Runtime)."""
    from reid_runtime.services.evaluate import evaluate

    for file, (cost, name) in timed.items():
        if cost.kind != "checkpoint":
            continue
        log(f"{cost.model}: {name}: scoring on {dataset}")
        try:
            scores = evaluate(file, data_root, dataset, seq_lens=(seq_len,), threads=threads).row(seq_len)
        except ReidError as exc:
            for row in rows:
                if (row.model, row.format) == (cost.model, name):
                    row.reason = (row.reason + "; " if row.reason else "") + f"mAP: {str(exc).splitlines()[0]}"
            continue
        for row in rows:
            if (row.model, row.format) == (cost.model, name):
                row.mAP, row.R1 = scores["mAP"], scores["R1"]


def _compare(rows: list[TradeoffRow], first: str) -> None:
    """Throughput of each row over the first model's on the same format and backend."""
    reference = {(r.format, r.backend): r.ms_per_clip for r in rows if r.model == first and r.ms_per_clip}
    for row in rows:
        base = reference.get((row.format, row.backend))
        if base and row.ms_per_clip:
            row.vs_first = base / row.ms_per_clip


def _notes(costs: list[ModelCost], seq_len: int, threads: int | None, calib: Any,
           data_root: Any, dataset: str | None) -> list[str]:
    notes = [
        f"GMACs: multiply-accumulates per clip of T={seq_len} frames at B=1 (the papers' \"GFLOPs\"; FLOPs = 2 x "
        "MACs), backbone convolutions + head, counted on the PyTorch model as `reid bench flops` counts them; per "
        "frame = per clip / T.",
        "Parameters: elements of the float initializers of the model's FP32 ONNX export, i.e. of the deployed "
        "inference graph (BatchNorm folded into the convolutions); the training-only identity classifier is not in "
        "that graph and not counted.",
        "Each format exported and verified against PyTorch by reid export (as reid bench formats does); size MB: "
        "the exported file(s); error / spread (INT8): the error against FP32 on the held-out training clips relative "
        "to how much their embeddings differ from one another (refused above 1). INT8 calibration: "
        + (str(calib) if calib else "synthetic person crops at each model's frame size (reid data synth)") + ".",
        f"Timed: one call of B=1, T={seq_len} on random pixels in memory, every (model, format, backend) in one "
        "reid bench latency run, each in a fresh process; threads: " + (str(threads) if threads else
                                                                       "backend default")
        + f". ms/clip: p50; clips/s = 1000 / ms; x first: the first model's ms/clip ({costs[0].model}) / "
        "this row's, on the same format and backend (above 1: faster).",
        "Backend auto: the file's own engine (ONNX Runtime for .onnx).",
    ]
    if dataset:
        notes.append(f"mAP / R1 (percent): {dataset} at {data_root}, standard protocol, dense test clips of "
                     f"T={seq_len}, each format on ONNX Runtime.")
        untrained = [c.model for c in costs if c.kind == "name"]
        if untrained:
            notes.append(f"No mAP for {', '.join(untrained)}: a registry name is an untrained model, its mAP means "
                         "nothing.")
    apart = [c.model for c in costs if c.params_apart]
    if apart:
        notes.append(f"Parameters of {', '.join(apart)}: counted on an FP32 graph exported for that alone (not "
                     f"verified, not timed), as the table has no {PARAMS_FORMAT} export of it.")
    return notes
