"""The one table of export formats: what each writes, what it is for, its options and the models it starts from.

It drives ``reid export --format F`` (the choice of formats, the options, their validation and the help), the Python
``reid_export.export(model, format=F, **options)`` (same option names as keyword arguments, validated here) and the
list of formats ``reid bench formats`` walks. Adding a format: one :class:`ExportFormat` entry here and one builder in
``reid_export.api``. Importing this module imports neither torch nor onnx.
"""

from __future__ import annotations

import difflib
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from reid_runtime.cli.options import DATASET_NAMES, EXISTING_DIR, SIZE
from reid_runtime.errors import ReidError
from reid_runtime.plugins import Requirement
from reid_runtime.tensorrt_profiles import DEFAULT_PROFILES

# What ``model`` can be: a training checkpoint, a registry name (an untrained model), a built nn.Module (Python only),
# an exported ONNX file or a TensorRT engine.
CHECKPOINT, NAME, MODULE, ONNX, ENGINE = "checkpoint", "name", "module", "onnx", "engine"
BUILT = (CHECKPOINT, NAME, MODULE)  # inputs from which the ONNX graph is exported here
INPUT_WORDS = {CHECKPOINT: "a checkpoint", NAME: "a registry name", MODULE: "a built model", ONNX: "an ONNX file",
               ENGINE: "a TensorRT engine"}
CHECKPOINT_SUFFIXES = (".pt", ".pth")
ONNX_SUFFIXES = (".onnx",)
ENGINE_SUFFIXES = (".engine", ".plan")
CALIB_METHODS = ("minmax", "percentile", "entropy")  # how INT8 activation ranges are set (reid_export.int8)


class ExportOptionError(ReidError, ValueError):
    """An unknown export format, or an option the chosen format (or model) does not take."""


@dataclass(frozen=True)
class Option:
    """An export option: keyword ``name`` in Python, ``--name-with-dashes`` on the command line."""

    name: str
    help: str
    type: Any = None  # a click ParamType (converts and checks the value on both paths)
    default: Any = None
    is_flag: bool = False
    metavar: str | None = None
    inputs: tuple[str, ...] = (CHECKPOINT, NAME, MODULE, ONNX, ENGINE)  # the models it applies to

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def label(self, cli: bool) -> str:
        """How messages name the option: its flag on the command line, its keyword in Python."""
        return self.flag if cli else self.name

    def click_option(self, suffix: str = ""):
        """The ``click.option`` of this option (``suffix`` ends its help); its value is None (False for a flag)
        unless given, so a command sees what was given and the table fills the defaults."""
        text = self.help + (f" [default: {self.default}]" if self.default is not None and not self.is_flag else "")
        text += suffix
        if self.is_flag:
            return click.option(self.flag, self.name, is_flag=True, default=False, help=text)
        return click.option(self.flag, self.name, type=self.type, default=None, metavar=self.metavar, help=text)

    def convert(self, value: Any, cli: bool = False) -> Any:
        """``value`` checked and converted by the option's type (the CLI's rules for Python callers too)."""
        if value is None:
            return None
        if self.is_flag:
            if not isinstance(value, bool):
                raise ExportOptionError(f"{self.label(cli)}={value!r}: expected True or False")
            return value
        try:
            return self.type.convert(value, None, None) if isinstance(self.type, click.ParamType) else value
        except click.BadParameter as exc:
            raise ExportOptionError(f"{self.label(cli)}={value!r}: {exc.message}") from None


@dataclass(frozen=True)
class ExportFormat:
    """One row of the table."""

    name: str
    file: str  # what it writes, for the help
    purpose: str
    options: tuple[Option, ...]
    inputs: tuple[str, ...]  # what ``model`` may be
    precision: str | None = None  # fixed precision of the output; None: chosen by options (tensorrt) or the source
    suffix: str = ".onnx"  # default output: <model stem><suffix> ("" = a folder named after the format)
    required: tuple[str, ...] = ()  # option names that must be given
    requirement: Requirement = field(default_factory=Requirement)

    @property
    def option_names(self) -> list[str]:
        return [option.name for option in self.options]

    @property
    def flags(self) -> list[str]:
        return [option.flag for option in self.options]

    @property
    def available(self) -> bool:
        """Whether what the format needs (beyond torch and onnx) is installed here."""
        return self.requirement.available

    def option(self, name: str) -> Option:
        return next(option for option in self.options if option.name == name)

    def default_out(self, stem: str, folder: Path) -> Path:
        return folder / (f"{stem}{self.suffix}" if self.suffix else f"{self.name}_models")

    def takes(self, kind: str) -> bool:
        return kind in self.inputs


SIZE_OPT = Option("size", "Frame size HxW of a model built from a registry name [default: the model's own].",
                  type=SIZE, metavar="HxW", inputs=(NAME,))
OPSET = Option("opset", "ONNX opset; the dynamo exporter cannot go below 18, TensorRT 10 documents up to 20.",
               type=click.IntRange(min=1), default=20, inputs=BUILT)
SIMPLIFY = Option("simplify", "Simplify the graph with onnxslim (verified afterwards like any export).", is_flag=True,
                  inputs=BUILT)
SPLIT = Option("split", "Write a per-frame backbone graph and a head graph (<stem>.backbone.onnx, <stem>.head.onnx); "
                        "the runtime aggregates frames in numpy (STA and TP; ASTA cannot be split).", is_flag=True,
               inputs=BUILT)
CALIB = Option("calib", "INT8 calibration frames, training data only: a dataset root (its train split, read by "
                        "the dataset reader; query and gallery never) or a folder of person crops (searched "
                        "recursively; a test/query/gallery subfolder is refused).",
               type=EXISTING_DIR, metavar="DIR", inputs=BUILT)
CALIB_DATASET = Option("calib_dataset", "The dataset layout of the --calib root, whose train split calibrates "
                                        "[default: detected; a folder no reader accepts is a folder of crops].",
                       type=click.Choice(DATASET_NAMES), inputs=BUILT)
CALIB_METHOD = Option("calib_method", "How INT8 activation ranges are set from the calibration frames: minmax, "
                                      "percentile (99.999th) or entropy (KL divergence).",
                      type=click.Choice(CALIB_METHODS), default="minmax", inputs=BUILT)
CALIB_SEQ_LEN = Option("calib_seq_len", "Frames per calibration clip.", type=click.IntRange(min=1), default=4,
                       inputs=BUILT)
CALIB_MAX_IMAGES = Option("calib_max_images", "Calibrate on at most this many frames (20% of the clips held out "
                                              "to compare INT8 with FP32).",
                          type=click.IntRange(min=2), default=256, inputs=BUILT)
NO_VERIFY = Option("no_verify", "Skip the PyTorch vs ONNX Runtime check (the metadata then lists no verified T/B).",
                   is_flag=True, inputs=BUILT)
MAX_ABS = Option("max_abs", "Allowed max |diff| vs PyTorch as a fraction of max(1, output scale) "
                            "[default: 1e-3 for fp32, not checked for fp16/int8].",
                 type=click.FloatRange(min=0), inputs=BUILT)
MIN_COSINE = Option("min_cosine", "Minimum cosine per embedding vs PyTorch [default: 0.9999 fp32, 0.999 fp16, "
                                  "0.98 int8; INT8 exports also refuse below it vs FP32 on held-out training "
                                  "clips].", type=click.FloatRange(-1, 1), inputs=BUILT)
FP16 = Option("fp16", "FP16 engine (from a checkpoint or name: exported as onnx-fp16 first; an FP32 ONNX is "
                      "converted with the same block list).", is_flag=True, inputs=(CHECKPOINT, NAME, MODULE, ONNX))
INT8 = Option("int8", "INT8 engine from a QDQ graph (from a checkpoint or name: exported as onnx-int8 with --calib "
                      "first).", is_flag=True, inputs=(CHECKPOINT, NAME, MODULE, ONNX))
PROFILES = Option("profiles", "TensorRT optimization profiles Bmin-BmaxxTmin-Tmax[@BxT], comma-separated, disjoint T "
                              "buckets.", type=click.STRING, default=DEFAULT_PROFILES, inputs=(CHECKPOINT, NAME,
                                                                                              MODULE, ONNX))
WORKSPACE_GB = Option("workspace_gb", "TensorRT builder workspace limit in GiB.", type=click.FloatRange(min=0.1),
                      default=4.0, inputs=(CHECKPOINT, NAME, MODULE, ONNX))
TIMING_CACHE = Option("timing_cache", "TensorRT timing cache file, read if present and updated after the build.",
                      type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
                      inputs=(CHECKPOINT, NAME, MODULE, ONNX))
TRITON_NAME = Option("name", "Model name in the Triton repository.", type=click.STRING, default="reid")
MAX_BATCH = Option("max_batch", "Triton max_batch_size: the largest batch its dynamic batcher forms.",
                   type=click.IntRange(min=1), default=32)
INSTANCES = Option("instances", "Triton model instances (per GPU for TensorRT).", type=click.IntRange(min=1), default=1)
VERSION = Option("version", "Triton model version folder.", type=click.IntRange(min=1), default=1)

_ONNX = (SIZE_OPT, OPSET, SIMPLIFY, SPLIT)
_VERIFY = (NO_VERIFY, MAX_ABS, MIN_COSINE)
_CALIB = (CALIB, CALIB_DATASET, CALIB_METHOD, CALIB_SEQ_LEN, CALIB_MAX_IMAGES)

FORMATS: dict[str, ExportFormat] = {
    "onnx": ExportFormat(
        "onnx", "model.onnx",
        "FP32 ONNX for ONNX Runtime (CPU, CUDA, TensorRT EP), dynamic batch and seq axes; verified against PyTorch.",
        _ONNX + _VERIFY, BUILT, precision="fp32",
    ),
    "onnx-fp16": ExportFormat(
        "onnx-fp16", "model.onnx",
        "FP16 ONNX (IO, attention scores, reductions and the head in FP32): half the size, faster on GPUs.",
        _ONNX + _VERIFY, BUILT, precision="fp16", suffix="_fp16.onnx",
    ),
    "onnx-int8": ExportFormat(
        "onnx-int8", "model.onnx",
        "TensorRT-ready QDQ INT8 ONNX: int8 activations with zero point 0, per-channel weights, float bias, "
        "residual additions quantized; for TensorRT explicit quantization and OpenVINO (ONNX Runtime runs it at "
        "about FP32 speed: use onnx-int8-cpu there). Calibrated on the training frames of --calib, checked on "
        "held-out ones.",
        _ONNX + _CALIB + _VERIFY, BUILT, precision="int8", suffix="_int8.onnx", required=("calib",),
    ),
    "onnx-int8-cpu": ExportFormat(
        "onnx-int8-cpu", "model.onnx",
        "CPU QDQ INT8 ONNX: uint8 asymmetric activations, per-channel int8 weights, float bias; every convolution "
        "and residual addition fuses to an integer kernel in ONNX Runtime (and runs in u8 on OpenVINO). TensorRT "
        "rejects uint8 Q/DQ: use onnx-int8 there. Calibrated and checked like onnx-int8.",
        _ONNX + _CALIB + _VERIFY, BUILT, precision="int8", suffix="_int8_cpu.onnx", required=("calib",),
    ),
    "tensorrt": ExportFormat(
        "tensorrt", "model.engine + .json",
        "TensorRT engine for NVIDIA GPUs plus a JSON sidecar (profiles, metadata). From a checkpoint or name the "
        "ONNX is exported first and kept as <out stem>.onnx; or give an exported ONNX file.",
        (SIZE_OPT, OPSET, SIMPLIFY, FP16, INT8) + _CALIB + _VERIFY + (PROFILES, WORKSPACE_GB, TIMING_CACHE),
        BUILT + (ONNX,), suffix=".engine", requirement=Requirement(("tensorrt",), "tensorrt"),
    ),
    "triton": ExportFormat(
        "triton", "OUT/name/config.pbtxt",
        "Triton Inference Server repository entry (--out is the repository folder): config.pbtxt + "
        "<version>/model.onnx or model.plan; dynamic batching (requests batch only at equal T). From a "
        "checkpoint or name the FP32 ONNX is exported first; or give an exported .onnx or .engine.",
        (SIZE_OPT, OPSET, SIMPLIFY) + _VERIFY + (TRITON_NAME, MAX_BATCH, INSTANCES, VERSION),
        BUILT + (ONNX, ENGINE), suffix="",
    ),
}


def all_options() -> dict[str, Option]:
    """Every option of the table once (a shared option is one object), in table order."""
    options: dict[str, Option] = {}
    for fmt in FORMATS.values():
        for option in fmt.options:
            if options.setdefault(option.name, option) is not option:
                raise RuntimeError(f"two export options are named {option.name!r}")
    return options


def owners(option_name: str) -> list[str]:
    """The formats that take ``option_name``."""
    return [fmt.name for fmt in FORMATS.values() if option_name in fmt.option_names]


def get_format(name: str) -> ExportFormat:
    """The table entry of ``name``; an unknown name raises with the closest format names."""
    if name in FORMATS:
        return FORMATS[name]
    close = difflib.get_close_matches(str(name).lower(), FORMATS, n=2, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise ExportOptionError(f"unknown export format {name!r}{hint} (formats: {', '.join(FORMATS)})")


def input_kind(model: Any) -> str:
    """What ``model`` is, by what it looks like (no file is read): checkpoint, onnx, engine, name or module.

    A path must exist; a string without a model suffix or folder separator is a registry name, checked when built.
    """
    if not isinstance(model, (str, Path)):
        return MODULE
    text = str(model)
    path = Path(text).expanduser()
    suffix = path.suffix.lower()
    known = CHECKPOINT_SUFFIXES + ONNX_SUFFIXES + ENGINE_SUFFIXES
    if not (isinstance(model, Path) or suffix in known or "/" in text or "\\" in text or path.exists()):
        return NAME
    if path.is_dir():
        raise ExportOptionError(f"{text}: is a folder; expected a checkpoint (.pt), an .onnx or .engine file, or a "
                                "registry name")
    if not path.is_file():
        raise ExportOptionError(f"{text}: model file not found")
    if suffix in CHECKPOINT_SUFFIXES:
        return CHECKPOINT
    if suffix in ONNX_SUFFIXES:
        return ONNX
    if suffix in ENGINE_SUFFIXES:
        return ENGINE
    raise ExportOptionError(f"{text}: expected a checkpoint (.pt, .pth), an .onnx or .engine file, or a registry name")


def check_options(format_name: str, given: Iterable[str], *, kind: str | None = None, cli: bool = False) -> None:
    """Reject options (keyword names) that format ``format_name`` does not take, or that do not apply to a model
    of ``kind``, and required ones that are missing; messages name flags when ``cli``, keywords otherwise."""
    fmt = get_format(format_name)
    known = all_options()
    given = list(given)
    label = (lambda name: known[name].label(cli)) if cli else (lambda name: name)
    takes = ", ".join(label(name) for name in fmt.option_names)
    for name in given:
        if name in fmt.option_names:
            continue
        if name in known:
            raise ExportOptionError(f"option {label(name)} is not taken by format {fmt.name!r}; formats that take "
                                    f"it: {', '.join(owners(name))} ({fmt.name} takes {takes})")
        close = difflib.get_close_matches(name, fmt.option_names, n=1, cutoff=0.6)
        hint = f"; did you mean {label(close[0])}?" if close else ""
        raise ExportOptionError(f"format {fmt.name!r} has no option {name!r}{hint} (it takes {takes})")
    if kind is not None:
        if not fmt.takes(kind):
            raise ExportOptionError(f"format {fmt.name!r} cannot start from {INPUT_WORDS[kind]}; it takes "
                                    f"{_words(fmt.inputs)}")
        for name in given:
            option = fmt.option(name)
            if kind not in option.inputs:
                raise ExportOptionError(f"option {label(name)} applies to {_words(option.inputs)}, not to "
                                        f"{INPUT_WORDS[kind]}")
    for name in fmt.required:
        if name not in given:
            option = fmt.option(name)
            raise ExportOptionError(f"format {fmt.name!r} needs {label(name)}"
                                    f"{' ' + option.metavar if cli and option.metavar else ''}: {option.help}")


def resolve_options(format_name: str, options: Mapping[str, Any], *, kind: str | None = None,
                    cli: bool = False) -> dict[str, Any]:
    """Every option of the format: the given ones checked and converted by their types, the others at defaults.

    ``None`` (or ``False`` for a flag) counts as not given.
    """
    fmt = get_format(format_name)
    given = {name: value for name, value in options.items() if value is not None and value is not False}
    check_options(fmt.name, given, kind=kind, cli=cli)
    resolved = {option.name: (False if option.is_flag else option.default) for option in fmt.options}
    for name, value in given.items():
        resolved[name] = fmt.option(name).convert(value, cli)
    return resolved


def _words(kinds: Iterable[str]) -> str:
    words = [INPUT_WORDS[kind] for kind in kinds]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def formats_table(width: int = 110) -> str:
    """Plain-text table: format, file, what it is for, what it starts from, its options."""
    name_w = max(len(name) for name in FORMATS) + 2
    file_w = 24
    rest = max(30, width - name_w - file_w)
    lines = [f"{'format':<{name_w}}{'writes':<{file_w}}what it is for / model / options",
             "-" * (name_w + file_w + rest)]
    for fmt in FORMATS.values():
        purpose = textwrap.wrap(fmt.purpose, rest)
        model = textwrap.wrap("model: " + ", ".join(k for k in fmt.inputs if k != MODULE), rest)
        options = textwrap.wrap("options: " + " ".join(fmt.flags), rest, subsequent_indent="  ")
        needs = [f"needs: {fmt.requirement.install_hint()}"] if fmt.requirement.requires else []
        files = textwrap.wrap(fmt.file, file_w - 2)
        for index, text in enumerate(purpose + model + options + needs):
            name = fmt.name if index == 0 else ""
            file = files[index] if index < len(files) else ""
            lines.append(f"{name:<{name_w}}{file:<{file_w}}{text}".rstrip())
    return "\n".join(lines)
