"""The export service: ``export(model, format=..., out=..., **options)`` and ``verify(model, reference, **options)``.

``reid export`` / ``reid verify``, ``reid bench formats``, ``reid demo`` and Python users all call these two functions.
``model`` is a training checkpoint, a registry name (an untrained model, option ``size=(H, W)``), a built
``nn.Module``, or -- for the formats that take one (``tensorrt``, ``triton``) -- an exported ``.onnx`` / ``.engine``.
The options and their checks come from the formats table (:mod:`reid_export.formats`). torch is imported only when
a model is built, so option errors answer at once.

    >>> from reid_export import export
    >>> result = export("runs/demo/best.pt", format="onnx-fp16", out="sta_fp16.onnx")
    >>> result.files, result.verification.passed
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reid_export.formats import BUILT, CHECKPOINT, MODULE, NAME, ONNX, get_format, input_kind, resolve_options
from reid_runtime.errors import ReidError

if TYPE_CHECKING:
    from torch import nn

    from reid_export.onnx_export import OnnxExport
    from reid_export.verification import VerifyReport

Log = Callable[[str], None]
VERIFY_OPTIONS = ("data_root", "dataset", "seq_lens", "batch_sizes", "max_abs", "min_cosine")


@dataclass
class ExportResult:
    """What an export wrote: the files (with the precision of each), its verification against PyTorch, notes."""

    format: str
    model: str  # the source as given (a path, a registry name, or the class of a built model)
    files: list[Path]
    precisions: list[str]  # per file; the head of a split FP16/INT8 export stays fp32, a config file has ""
    precision: str  # of the main file
    verification: VerifyReport | None = None  # None with no_verify, or when starting from an exported file
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    spread_error: float | None = None  # INT8: error / spread between the held-out clips' embeddings

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "model": self.model,
            "files": [{"path": str(path), "bytes": path.stat().st_size if path.is_file() else None,
                       "precision": precision} for path, precision in zip(self.files, self.precisions)],
            "precision": self.precision,
            "verification": None if self.verification is None else self.verification.to_dict(),
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
            "spread_error": self.spread_error,
        }

    def lines(self) -> list[str]:
        """The human summary ``reid export`` prints: verification, notes, files written, time."""
        lines: list[str] = []
        if self.verification is not None:
            lines += [self.verification.table(), self.verification.summary()]
        lines += self.notes
        for path, precision in zip(self.files, self.precisions):
            size = _size(path.stat().st_size) if path.is_file() else "?"
            lines.append(f"wrote {path} ({size}{', ' + precision if precision else ''})")
        lines.append(f"{self.format} export took {self.seconds:.1f} s")
        return lines


@dataclass(frozen=True)
class _Job:
    """One export: the source model and what it is, the output, the resolved options, where messages go."""

    model: Any
    kind: str
    out: Path
    options: dict[str, Any]
    log: Log


def export(model: str | Path | nn.Module, format: str = "onnx", out: str | Path | None = None, *,
           log: Log | None = None, **options: Any) -> ExportResult:
    """Export ``model`` to ``format`` at ``out`` (default: ``<model stem><format suffix>`` beside a checkpoint, in
    the current folder otherwise); ``options`` are the format's options of the table (``opset=18``, ``split=True``,
    ``calib="crops/"`` ...). Raises :class:`ReidError` naming the value at fault; nothing is written on failure."""
    fmt = get_format(format)
    kind = input_kind(model)
    resolved = resolve_options(fmt.name, options, kind=kind)
    fmt.requirement.check(f"export format {fmt.name!r}")
    started = time.perf_counter()
    target = Path(out) if out is not None else _default_out(fmt.name, model, kind)
    _check_out(fmt.name, target)
    _refuse_overwriting_inputs(fmt.name, model, kind, target, resolved)
    job = _Job(model, kind, target, resolved, log or (lambda line: None))
    result = _BUILDERS[fmt.name](job)
    result.seconds = time.perf_counter() - started
    return result


def verify(model: str | Path, reference: str | Path, **options: Any) -> VerifyReport:
    """Compare an exported ONNX file (full, or either file of a split export) with ``reference`` (its checkpoint, or
    the registry name it was exported from) over a (B, T) grid on random tracklets, and on the test tracklets of
    ``data_root`` / ``dataset`` when given. Options: ``seq_lens``, ``batch_sizes``, ``max_abs``, ``min_cosine``
    (defaults by the file's precision). The report says whether it ``passed``; it does not raise on a mismatch."""
    unknown = sorted(set(options) - set(VERIFY_OPTIONS))
    if unknown:
        raise ReidError(f"verify() has no option {', '.join(map(repr, unknown))} (it takes "
                        f"{', '.join(VERIFY_OPTIONS)})")
    if input_kind(model) != ONNX:
        raise ReidError(f"{model}: verify compares an exported .onnx file with its checkpoint")
    from reid_export.verification import BATCH_SIZES, SEQ_LENGTHS, verify_files

    return verify_files(reference, model, data_root=options.get("data_root"), dataset=options.get("dataset"),
                        max_abs=options.get("max_abs"), min_cosine=options.get("min_cosine"),
                        seq_lengths=tuple(options.get("seq_lens") or SEQ_LENGTHS),
                        batch_sizes=tuple(options.get("batch_sizes") or BATCH_SIZES))


def _default_out(format_name: str, model: Any, kind: str) -> Path:
    fmt = get_format(format_name)
    if kind == MODULE:
        return fmt.default_out(str(getattr(model, "model_config", {}).get("name", "model")), Path.cwd())
    path = Path(str(model))
    return fmt.default_out(path.stem if kind != NAME else str(model), path.parent if kind != NAME else Path.cwd())


def _check_out(format_name: str, out: Path) -> None:
    """``out`` can be written: a file path for a file format, a folder for triton, under folders (not files)."""
    folder = not get_format(format_name).suffix
    if out.exists() and out.is_dir() != folder:
        found, what = ("a file", "a folder (the model repository)") if folder else ("a folder", "a file")
        raise ReidError(f"{out}: exists and is {found}; the {format_name} output is {what}")
    blocking = next((parent for parent in out.parents if parent.exists() and not parent.is_dir()), None)
    if blocking is not None:
        raise ReidError(f"{out}: cannot be written, {blocking} is a file, not a folder")


def _refuse_overwriting_inputs(format_name: str, model: Any, kind: str, out: Path, options: dict[str, Any]) -> None:
    """Nothing the export writes (``out``, a split export's two graphs, an engine's sidecar and the ONNX built
    beside it, a Triton entry) may be the source model (or its companion file) or lie in the calibration folder."""
    from reid_runtime.services.checks import refuse_overwriting_inputs

    also: list[Path] = []
    if options.get("split"):
        also += [out.with_name(f"{out.stem}.backbone.onnx"), out.with_name(f"{out.stem}.head.onnx")]
    if format_name == "tensorrt":
        also += [out.with_name(out.name + ".json")] + ([out.with_suffix(".onnx")] if kind != ONNX else [])
    source = model if isinstance(model, (str, Path)) else None
    inside = [str(options.get("name") or "reid")] if format_name == "triton" else None
    refuse_overwriting_inputs(out, {"the model": source, "the calibration folder": options.get("calib")},
                              also=[p for p in also if p != out], inside=inside)


def _build(job: _Job) -> tuple[nn.Module, dict[str, Any]]:
    """The PyTorch model of a checkpoint, registry name or built module, and its training recipe."""
    if job.kind == CHECKPOINT:
        from reid_train.engine.checkpoint import load_model

        model, ckpt = load_model(job.model)
        return model, dict(ckpt.get("config") or {})
    if job.kind == NAME:
        from reid_train.backends.torch_backend import build_named_model

        model = build_named_model(str(job.model), job.options.get("size"))
        job.log(f"{job.model}: a registry name; exporting an untrained model (seed 0) at {tuple(model.input_size)}")
        return model, {}
    from torch import nn

    if not isinstance(job.model, nn.Module):
        raise ReidError(f"model of type {type(job.model).__name__}: expected a checkpoint path, a registry name or "
                        "a torch.nn.Module")
    return job.model, {}


def _export_onnx(job: _Job, out: Path, precision: str, split: bool = False,
                 int8_scheme: str = "tensorrt") -> OnnxExport:
    """The ONNX step every format starts with when ``model`` is not an exported file (INT8: ``int8_scheme`` tensorrt
    for onnx-int8 and TensorRT engines, cpu for onnx-int8-cpu; see :mod:`reid_export.int8`)."""
    from reid_export.onnx_export import check_opset, check_precision, export_model

    opts = job.options
    check_opset(opts["opset"])
    check_precision(precision, opts.get("calib"))
    model, recipe = _build(job)
    return export_model(
        model, out, recipe=recipe, opset=opts["opset"], simplify_graph=opts["simplify"], split=split,
        precision=precision, calib=opts.get("calib"), calib_seq_len=opts.get("calib_seq_len") or 4,
        calib_max_images=opts.get("calib_max_images") or 256, calib_dataset=opts.get("calib_dataset"),
        calib_method=opts.get("calib_method") or "minmax", int8_scheme=int8_scheme, verify=not opts["no_verify"],
        max_abs=opts["max_abs"], min_cosine=opts["min_cosine"], log=job.log,
    )


def _onnx_builder(name: str, precision: str, int8_scheme: str = "tensorrt") -> Callable[[_Job], ExportResult]:
    def build(job: _Job) -> ExportResult:
        done = _export_onnx(job, job.out, precision, split=job.options["split"], int8_scheme=int8_scheme)
        return ExportResult(name, _source(job), done.files, done.precisions, precision, done.verification,
                            list(done.notes), spread_error=done.spread_error)

    return build


def _tensorrt(job: _Job) -> ExportResult:
    from reid_export.tensorrt_build import build_engine

    opts = job.options
    files: list[Path] = []
    precisions: list[str] = []
    verification, notes = None, []
    if job.kind == ONNX:
        onnx_path = Path(job.model)
    else:
        onnx_path = job.out.with_suffix(".onnx")
        if onnx_path == job.out:
            raise ReidError(f"{job.out}: the tensorrt --out is the engine file (e.g. model.engine); the ONNX it is "
                            f"built from is written beside it as <stem>.onnx")
        precision = "int8" if opts["int8"] else "fp16" if opts["fp16"] else "fp32"
        done = _export_onnx(job, onnx_path, precision)
        files, precisions, verification, notes = list(done.files), list(done.precisions), done.verification, \
            list(done.notes) + [f"the engine is built from {onnx_path} ({precision}, kept beside it)"]
    build = build_engine(onnx_path, job.out, fp16=opts["fp16"], int8=opts["int8"], profiles=opts["profiles"],
                         workspace_gb=opts["workspace_gb"], timing_cache=opts["timing_cache"], log=job.log)
    notes.append(f"profiles {', '.join(map(str, build.profiles))}")
    return ExportResult("tensorrt", _source(job), [build.engine, build.sidecar] + files,
                        [build.precision, ""] + precisions, build.precision, verification, notes)


def _triton(job: _Job) -> ExportResult:
    from reid_export.triton import write_triton_repo

    opts = job.options
    entry_options = {"name": opts["name"], "max_batch": opts["max_batch"], "instances": opts["instances"],
                     "version": opts["version"]}
    verification, notes = None, []
    if job.kind in BUILT:
        with tempfile.TemporaryDirectory(prefix="reid-triton-") as tmp:
            done = _export_onnx(job, Path(tmp) / "model.onnx", "fp32")
            entry = write_triton_repo(done.files[0], job.out, **entry_options)
        verification, notes = done.verification, list(done.notes)
    else:
        entry = write_triton_repo(Path(job.model), job.out, **entry_options)
    notes.append("Triton batches only requests with the same T: sample tracklets to one T on the client")
    return ExportResult("triton", _source(job), [entry.config, entry.model_file], ["", entry.precision],
                        entry.precision, verification, notes)


def _source(job: _Job) -> str:
    return type(job.model).__name__ if job.kind == MODULE else str(job.model)


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"


_BUILDERS: dict[str, Callable[[_Job], ExportResult]] = {
    "onnx": _onnx_builder("onnx", "fp32"),
    "onnx-fp16": _onnx_builder("onnx-fp16", "fp16"),
    "onnx-int8": _onnx_builder("onnx-int8", "int8", "tensorrt"),
    "onnx-int8-cpu": _onnx_builder("onnx-int8-cpu", "int8", "cpu"),
    "tensorrt": _tensorrt,
    "triton": _triton,
}
