"""The export-format table (Ultralytics-style): each format exported, verified, timed and scored, next to PyTorch.

For every format of :data:`reid_export.formats.FORMATS` asked for: export through :func:`reid_export.api.export`
(which verifies the result against PyTorch; INT8 on held-out calibration clips), time it with
:func:`reid_runtime.bench.latency.bench_latency` side by side with the PyTorch model (B=1, one clip of T frames, each
in a fresh process), and, given a dataset, score it with :func:`reid_runtime.services.evaluate.evaluate` (standard
protocol). A format that cannot be produced here (TensorRT without its package) is a row with the reason; a Triton
repository entry is exported but served by Triton, not timed here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reid_runtime.errors import ReidError

Log = Callable[[str], None]
DEFAULT_FORMATS = ("onnx", "onnx-fp16", "onnx-int8", "onnx-int8-cpu")
CALIB_MAX_IMAGES = 64
REFERENCE = "pytorch"


@dataclass
class FormatRow:
    format: str
    status: str  # ok, exported (not timed here), skipped or failed
    reason: str = ""
    files: list[str] = field(default_factory=list)
    size_mb: float | None = None
    export_s: float | None = None
    verified: bool | None = None
    cosine_min: float | None = None      # the export's own check vs PyTorch (worst case of its grid)
    spread_error: float | None = None    # INT8: its error / the spread between the held-out clips
    mAP: float | None = None
    R1: float | None = None
    ms_per_tracklet: float | None = None
    frames_per_s: float | None = None
    vs_pytorch: float | None = None      # throughput / PyTorch's
    providers: list[str] = field(default_factory=list)


@dataclass
class FormatsReport:
    model: str
    architecture: str
    input_size: tuple[int, int]
    seq_len: int
    threads: int | None
    dataset: str | None
    rows: list[FormatRow]
    machine: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    command: str = ""

    @property
    def title(self) -> str:
        return f"Export formats: {self.architecture}, {self.input_size[0]}x{self.input_size[1]}"

    def row(self, name: str) -> FormatRow:
        return next(r for r in self.rows if r.format == name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        head = (f"{'format':<15}{'status':<10}{'size MB':>9}{'min cos':>10}{'mAP':>7}{'ms/tracklet':>13}"
                f"{'frames/s':>10}{'x pytorch':>11}")
        lines = [head, "-" * len(head)]
        for r in self.rows:
            if r.status not in ("ok", "exported"):
                lines.append(f"{r.format:<15}{r.status:<10}{r.reason}")
                continue
            lines.append(f"{r.format:<15}{r.status:<10}{num(r.size_mb, 9, 1)}{num(r.cosine_min, 10, 5)}"
                         f"{num(r.mAP, 7, 1)}{num(r.ms_per_tracklet, 13, 2)}{num(r.frames_per_s, 10, 1)}"
                         f"{num(r.vs_pytorch, 11, 2)}" + (f"  {r.reason}" if r.reason else ""))
        lines.append(f"ms/tracklet: p50 of one call at B=1, T={self.seq_len}; min cos: the export's check vs PyTorch"
                     + (f"; mAP: {self.dataset}, standard protocol" if self.dataset else ""))
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = ["| format | status | size MB | verified | min cosine vs PyTorch | error / spread | mAP | R1 | "
                 "ms/tracklet | frames/s | throughput vs PyTorch |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            if r.status not in ("ok", "exported"):
                lines.append(f"| {r.format} | {r.status}: {r.reason} |" + " |" * 9)
                continue
            status, verified = status_cells(r)
            lines.append(f"| {r.format} | {status} | {cell(r.size_mb, 1)} | {verified} | {cell(r.cosine_min, 5)} | "
                         f"{cell(r.spread_error, 3)} | {cell(r.mAP, 1)} | {cell(r.R1, 1)} | "
                         f"{cell(r.ms_per_tracklet, 2)} | {cell(r.frames_per_s, 1)} | {cell(r.vs_pytorch, 2)} |")
        return "\n".join(lines)


def status_cells(row: Any) -> tuple[str, str]:
    """The status (with its reason) and verified cells of a timed row of a format table."""
    verified = "-" if row.verified is None else ("yes" if row.verified else "no")
    return (f"{row.status}: {row.reason}" if row.reason else row.status), verified


def num(value: float | None, width: int, digits: int) -> str:
    """A right-aligned fixed-point column of a terminal table; ``-`` for a missing value."""
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def cell(value: float | None, digits: int) -> str:
    """A fixed-point markdown cell; ``-`` for a missing value."""
    return f"{value:.{digits}f}" if value is not None else "-"


def _size_mb(files: Sequence[Path]) -> float:
    return sum(p.stat().st_size for p in files if p.is_file()) / 2**20


def synthetic_crops(work: Path, input_size: tuple[int, int]) -> Path:
    """Person crops for INT8 calibration: a small synthetic MARS-layout train split at the model size."""
    from reid_runtime.data.synth import SynthConfig, synthesize

    root = work / "calib_synth"
    if not (root / "bbox_train").is_dir():
        synthesize(SynthConfig(layout="mars", ids=2, cameras=2, size=tuple(input_size), min_len=8, max_len=16), root)
    return root / "bbox_train"


def export_row(model: str, name: str, out_dir: Path, calib: Path | None, input_size: tuple[int, int], log: Log,
               *, stem: str = "model", size: tuple[int, int] | None = None,
               crops_dir: Path | None = None) -> tuple[FormatRow, Path | None]:
    """Export (and verify) ``model`` to format ``name`` at ``out_dir/<stem><suffix>``: its row, and the file to time
    (None: nothing to time). INT8 calibrates on ``calib`` or on synthetic crops written under ``crops_dir``
    (default ``out_dir``); ``size`` is the frame size of a model built from a registry name."""
    from reid_export.api import export
    from reid_export.formats import FORMATS

    fmt = FORMATS[name]
    if not fmt.available:
        missing = ", ".join(fmt.requirement.missing())
        return FormatRow(name, "skipped", f"needs {missing} ({fmt.requirement.install_hint()})"), None
    options: dict[str, Any] = {}
    if size is not None:
        options["size"] = tuple(size)
    if "calib" in fmt.option_names and ("calib" in fmt.required or calib is not None):
        options.update(calib=calib or synthetic_crops(crops_dir or out_dir, input_size),
                       calib_max_images=CALIB_MAX_IMAGES)
    log(f"{name}: exporting and verifying")
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = export(model, format=name, out=fmt.default_out(stem, out_dir), log=log, **options)
    except ReidError as exc:
        return FormatRow(name, "failed", str(exc).splitlines()[0]), None
    row = FormatRow(name, "ok", files=[str(p) for p in result.files], size_mb=_size_mb(result.files),
                    export_s=result.seconds, spread_error=result.spread_error)
    if result.verification is not None:
        row.verified = result.verification.passed
        row.cosine_min = min(case.min_cosine for case in result.verification.cases)
    if name == "triton":
        row.status, row.reason = "exported", "a Triton repository entry: served (and timed) by Triton, not here"
        return row, None
    return row, result.files[0]


def bench_formats(
    model: str | Path,
    formats: Sequence[str] = DEFAULT_FORMATS,
    *,
    data_root: str | Path | None = None,
    dataset: str | None = None,
    seq_len: int = 4,
    threads: int | None = None,
    calib: str | Path | None = None,
    work_dir: str | Path | None = None,
    runs: int = 5,
    min_seconds: float = 1.0,
    log: Log = lambda line: None,
) -> FormatsReport:
    """Export ``model`` (a checkpoint or a registry name) to each of ``formats``, verify, time and (with a dataset)
    score each next to the PyTorch model; see the module docstring."""
    from reid_export.bench.flops import build_model
    from reid_export.formats import CHECKPOINT, NAME, get_format, input_kind
    from reid_runtime.bench.latency import bench_latency
    from reid_runtime.bench.machine import describe_machine

    machine = describe_machine()
    if input_kind(model) not in (CHECKPOINT, NAME):
        raise ReidError(f"{model}: the format table starts from a checkpoint (.pt) or a registry name")
    names = [get_format(name).name for name in dict.fromkeys(formats)]
    if not names:
        raise ReidError("no format given")
    if (data_root is None) != (dataset is None):
        raise ReidError("give --data-root and --dataset together (mAP per format), or neither")
    if seq_len < 1:
        raise ReidError(f"seq_len must be >= 1, got {seq_len}")
    torch_model = build_model(model)
    input_size = tuple(torch_model.input_size)
    architecture = str(torch_model.model_config.get("name", type(torch_model).__name__))
    del torch_model
    reference = FormatRow(REFERENCE, "ok", files=[str(model)] if Path(model).is_file() else [],
                          size_mb=_size_mb([Path(model)]) if Path(model).is_file() else None)
    rows, timed = [reference], {REFERENCE: str(model)}
    with tempfile.TemporaryDirectory(prefix="reid-formats-") as tmp:
        work = Path(work_dir) if work_dir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in names:
            row, path = export_row(str(model), name, work / name, Path(calib) if calib else None, input_size, log,
                                   crops_dir=work)
            rows.append(row)
            if path is not None:
                timed[name] = str(path)
            elif row.status in ("skipped", "failed"):
                log(f"{name}: {row.status}: {row.reason}")
        latency = bench_latency(list(timed.values()), seq_lens=(seq_len,), threads=threads, runs=runs,
                                min_seconds=min_seconds, log=log)
        by_format = dict(zip(timed, latency.entries))
        for row in rows:
            entry = by_format.get(row.format)
            if entry is None:
                continue
            if entry.status != "ok":
                row.status, row.reason = "failed", f"timing: {entry.reason}"
                continue
            row.providers = entry.providers
            row.ms_per_tracklet = entry.rows[0].p50_ms
            row.frames_per_s = entry.rows[0].frames_per_s
            row.vs_pytorch = entry.rows[0].vs_first if latency.baseline is by_format[REFERENCE] else None
            if dataset:
                from reid_runtime.services.evaluate import evaluate

                log(f"{row.format}: scoring on {dataset}")
                scores = evaluate(timed[row.format], data_root, dataset, seq_lens=(seq_len,), threads=threads)
                row.mAP, row.R1 = scores.row(seq_len)["mAP"], scores.row(seq_len)["R1"]
    notes = [f"Timed: one call of B=1, T={seq_len} on random pixels in memory, each format in a fresh process next "
             "to the PyTorch model (reid bench latency); throughput vs PyTorch = its p50 / the format's p50.",
             "Verified / min cosine: the export's own check against PyTorch (reid export; INT8 on held-out "
             "calibration clips), the worst case of its (B, T) grid. Error / spread (INT8): its error against FP32 "
             "on the held-out training clips relative to how much their embeddings differ from one another (refused "
             "above 1, where the differences retrieval ranks by are lost).",
             "INT8 calibration: " + (str(calib) if calib else f"{CALIB_MAX_IMAGES} synthetic person crops "
                                                                "(reid data synth at the model size)") + "."]
    if dataset:
        notes.append(f"mAP / R1 (percent): {dataset} at {data_root}, standard protocol, dense test clips of "
                     f"T={seq_len}.")
    return FormatsReport(str(model), architecture, input_size, seq_len, threads, dataset, rows, machine, notes)
