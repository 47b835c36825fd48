"""The one table of export formats: their command, output file, options with defaults, and what each is for.

The CLI builds every ``reid export <format>`` command from this table, prints it in ``reid export --help``, and
rejects unknown formats and options with the closest valid name.
"""

from __future__ import annotations

import difflib
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from reid_runtime.errors import ReidError
from reid_runtime.tensorrt_profiles import DEFAULT_PROFILES


class ExportOptionError(ReidError, ValueError):
    """An unknown export format, or an option the chosen format does not take."""


@dataclass(frozen=True)
class Option:
    """One command-line option of a format (``flag`` like ``--opset``)."""

    flag: str
    help: str
    default: Any = None
    type: Any = None
    is_flag: bool = False
    required: bool = False
    metavar: str | None = None

    def click_option(self):
        """The ``click.option`` decorator of this option."""
        kwargs: dict[str, Any] = {"help": self.help, "required": self.required,
                                  "show_default": self.default is not None}
        if self.is_flag:
            kwargs.update(is_flag=True, default=False, show_default=False)
        else:
            kwargs.update(type=self.type, default=self.default, metavar=self.metavar)
        return click.option(self.flag, **kwargs)


@dataclass(frozen=True)
class ExportFormat:
    name: str
    file: str
    purpose: str
    options: tuple[Option, ...]

    @property
    def flags(self) -> list[str]:
        return [option.flag for option in self.options]


_FILE = click.Path(dir_okay=False, path_type=Path)
_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)

CHECKPOINT = Option("--checkpoint", "Training checkpoint written by `reid train` (best.pt / last.pt).",
                    type=_EXISTING_FILE, required=True)
OUT_ONNX = Option("--out", "Output .onnx file (split: <stem>.backbone.onnx and <stem>.head.onnx beside it).",
                  type=_FILE, required=True)
OPSET = Option("--opset", "ONNX opset; the dynamo exporter cannot go below 18, TensorRT 10 documents up to 20.",
               default=20, type=click.IntRange(min=1))
SIMPLIFY = Option("--simplify", "Simplify the graph with onnxslim (verified afterwards like any export).", is_flag=True)
SPLIT = Option("--split", "Write a per-frame backbone graph and a head graph; the runtime aggregates frames in numpy "
                          "(STA and TP; ASTA cannot be split).", is_flag=True)
FP16 = Option("--fp16", "Convert to FP16, keeping IO, attention scores, reductions and the head in FP32.", is_flag=True)
INT8 = Option("--int8", "Static INT8 quantization (QDQ, per-channel) calibrated on --calib images.", is_flag=True)
CALIB = Option("--calib", "Folder of person-crop images (searched recursively) for INT8 calibration.",
               type=_EXISTING_DIR, metavar="DIR")
CALIB_REQUIRED = Option(CALIB.flag, CALIB.help, type=CALIB.type, metavar="DIR", required=True)
CALIB_SEQ_LEN = Option("--calib-seq-len", "Frames per calibration clip.", default=4, type=click.IntRange(min=1))
CALIB_MAX_IMAGES = Option("--calib-max-images", "Use at most this many calibration images (20% held out).",
                          default=256, type=click.IntRange(min=2))
NO_VERIFY = Option("--no-verify", "Skip the PyTorch vs ONNX Runtime check (the metadata then lists no verified "
                                  "T/B).", is_flag=True)
MAX_ABS = Option("--max-abs", "Allowed max |diff| as a fraction of max(1, output scale) "
                              "[default: 1e-3 for fp32, not checked for fp16/int8].", type=click.FloatRange(min=0))
MIN_COSINE = Option("--min-cosine", "Minimum cosine per embedding [default: 0.9999 fp32, 0.999 fp16, 0.98 int8].",
                    type=click.FloatRange(-1, 1))

_ONNX_COMMON = (CHECKPOINT, OUT_ONNX, OPSET, SIMPLIFY, SPLIT)
_VERIFY_COMMON = (NO_VERIFY, MAX_ABS, MIN_COSINE)

FORMATS: dict[str, ExportFormat] = {
    "onnx": ExportFormat(
        "onnx", "model.onnx",
        "ONNX Runtime CPU/CUDA/TensorRT EP; dynamic batch and seq axes; --fp16 / --int8 pick the precision.",
        _ONNX_COMMON + (FP16, INT8, CALIB, CALIB_SEQ_LEN, CALIB_MAX_IMAGES) + _VERIFY_COMMON,
    ),
    "onnx-fp16": ExportFormat(
        "onnx-fp16", "model.onnx",
        "Half the size, faster on GPUs; the source for a TensorRT FP16 engine. Same as `onnx --fp16`.",
        _ONNX_COMMON + _VERIFY_COMMON,
    ),
    "onnx-int8": ExportFormat(
        "onnx-int8", "model.onnx",
        "QDQ INT8 for CPUs with VNNI and TensorRT explicit quantization. Same as `onnx --int8 --calib DIR`.",
        _ONNX_COMMON + (CALIB_REQUIRED, CALIB_SEQ_LEN, CALIB_MAX_IMAGES) + _VERIFY_COMMON,
    ),
    "tensorrt": ExportFormat(
        "tensorrt", "model.engine + .json",
        "NVIDIA GPUs (needs the tensorrt package): plain engine plus a JSON sidecar with profiles and metadata.",
        (
            Option("--onnx", "Full-graph ONNX from `reid export onnx` (or onnx-fp16 / onnx-int8).",
                   type=_EXISTING_FILE, required=True),
            Option("--out", "Engine file to write; the sidecar is <out>.json.", type=_FILE, required=True),
            Option("--fp16", "FP16 engine: converts an FP32 ONNX like `reid export onnx-fp16` first.", is_flag=True),
            Option("--int8", "INT8 engine from a QDQ ONNX written by `reid export onnx-int8`.", is_flag=True),
            Option("--profiles", "Optimization profiles Bmin-BmaxxTmin-Tmax[@BxT], comma-separated, disjoint T "
                                 "buckets; optimum defaults to (max batch, max seq).",
                   default=DEFAULT_PROFILES, type=str),
            Option("--workspace-gb", "Builder workspace limit in GiB.", default=4.0, type=click.FloatRange(min=0.1)),
            Option("--timing-cache", "Timing cache file, read if present and updated after the build.",
                   type=_FILE, metavar="FILE"),
        ),
    ),
    "triton": ExportFormat(
        "triton", "repo/name/config.pbtxt",
        "Triton Inference Server repository entry: config.pbtxt + <version>/model.onnx|model.plan, dynamic "
        "batching (requests batch only at equal T).",
        (
            Option("--model", "A full-graph model.onnx or model.engine (its .json sidecar beside it).",
                   type=_EXISTING_FILE, required=True),
            Option("--repo", "Model repository folder (created if missing).",
                   type=click.Path(file_okay=False, path_type=Path), required=True),
            Option("--name", "Model name in the repository.", default="reid", type=str),
            Option("--max-batch", "max_batch_size: the largest batch Triton's dynamic batcher forms.", default=32,
                   type=click.IntRange(min=1)),
            Option("--instances", "Model instances (per GPU for TensorRT).", default=1, type=click.IntRange(min=1)),
            Option("--version", "Model version folder.", default=1, type=click.IntRange(min=1)),
        ),
    ),
}


def get_format(name: str) -> ExportFormat:
    """The table entry of ``name``; an unknown name raises with the closest format names."""
    if name in FORMATS:
        return FORMATS[name]
    close = difflib.get_close_matches(name.lower(), FORMATS, n=2, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise ExportOptionError(f"unknown export format {name!r}{hint} (formats: {', '.join(FORMATS)})")


def check_options(format_name: str, flags: Iterable[str]) -> None:
    """Reject flags the format does not take, naming the closest valid flag or the formats that take it."""
    fmt = get_format(format_name)
    valid = fmt.flags + ["--help"]
    for flag in flags:
        flag = flag.split("=", 1)[0]
        if flag in valid:
            continue
        owners = [f.name for f in FORMATS.values() if flag in f.flags]
        if owners:
            raise ExportOptionError(f"option {flag} is not valid for format {fmt.name!r}; it belongs to "
                                    f"{', '.join(owners)} (options of {fmt.name}: {', '.join(fmt.flags)})")
        close = difflib.get_close_matches(flag, fmt.flags, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ExportOptionError(f"format {fmt.name!r} has no option {flag}{hint} (options: {', '.join(fmt.flags)})")


def formats_table(width: int = 110) -> str:
    """Plain-text table: format, file, options, what it is for."""
    name_w = max(len(name) for name in FORMATS) + 2
    file_w = 26
    rest = max(30, width - name_w - file_w)
    lines = [f"{'format':<{name_w}}{'file':<{file_w}}what it is for / options", "-" * (name_w + file_w + rest)]
    for fmt in FORMATS.values():
        purpose = textwrap.wrap(fmt.purpose, rest)
        options = textwrap.wrap(" ".join(fmt.flags), rest)
        files = textwrap.wrap(fmt.file, file_w - 2)
        cells = purpose + [f"options: {options[0]}"] + [f"  {line}" for line in options[1:]]
        for index, text in enumerate(cells):
            name = fmt.name if index == 0 else ""
            file = files[index] if index < len(files) else ""
            lines.append(f"{name:<{name_w}}{file:<{file_w}}{text}".rstrip())
    return "\n".join(lines)
