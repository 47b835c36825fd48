"""Parameter types and options that every ``reid`` command shares: one name, one type, one meaning per concept.

| concept | option | type |
|---|---|---|
| the model | ``--model`` | a checkpoint, an exported model (``.onnx``, ``.engine``), a registry name |
| clip lengths T | ``--seq-lens`` | comma-separated positive ints; commands that use one T take one value |
| batch sizes B | ``--batch-sizes`` | comma-separated positive ints; commands that use one B take one value |
| where results go | ``--out`` | a folder or a file, as the command says |
| a dataset | ``--data-root`` + ``--dataset`` (+ ``--protocol``, ``--split-id``) | folder, closed choices |
| frame size | ``--size`` | ``HxW`` |
| inference engine | ``--backend`` / ``--backends`` | ``auto`` or a registered backend |
| progress bars | ``--progress/--no-progress`` | default: on when stderr is a terminal |
| machine-readable output | ``--json`` | the command's result as one JSON document on stdout |

Scores (R1, mAP, mINP ...) are percentages everywhere, as the papers report them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

DATASET_NAMES = ("mars", "dukev", "ilidsvid", "prid")
PROTOCOLS = ("standard", "with-query", "official")
SAMPLINGS = ("dense", "evenly", "all")
MODEL_SUFFIXES = (".onnx", ".engine", ".plan", ".pt", ".pth")


class IntListType(click.ParamType):
    """``"1,2,4"`` -> ``(1, 2, 4)``: positive ints; ``single=True`` accepts exactly one value."""

    name = "INTS"

    def __init__(self, single: bool = False) -> None:
        self.single = single
        if single:
            self.name = "INT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        if isinstance(value, int):
            value = str(value)
        try:
            items = tuple(int(v) for v in str(value).split(",") if v.strip())
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of integers, e.g. 2,4,8", param, ctx)
        if not items or min(items) < 1:
            self.fail(f"{value!r}: expected positive integers, e.g. 2,4,8", param, ctx)
        if self.single and len(items) != 1:
            self.fail(f"{value!r}: this command uses one value, e.g. 4", param, ctx)
        return items


class SizeType(click.ParamType):
    """``"256x128"`` -> ``(256, 128)`` (height x width in pixels)."""

    name = "HxW"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        try:
            h, w = (int(v) for v in str(value).lower().split("x"))
        except ValueError:
            self.fail(f"{value!r} is not HxW, e.g. 256x128", param, ctx)
        if h < 16 or w < 8:
            self.fail(f"{value!r}: frames must be at least 16x8 pixels", param, ctx)
        return h, w


class ModelType(click.ParamType):
    """A model: an existing checkpoint or exported file, or a registry name such as ``sta_resnet50``.

    A value that looks like a path (it has a model suffix or a folder separator) must be an existing file; anything
    else is passed on as a registry name, which the backend that builds models from names checks.
    """

    name = "MODEL"

    def __init__(self, names: bool = True) -> None:
        self.names = names

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        path = Path(text).expanduser()
        looks_like_path = path.suffix.lower() in MODEL_SUFFIXES or "/" in text or "\\" in text or path.exists()
        if looks_like_path or not self.names:
            if not path.exists():
                self.fail(f"model file {text!r} does not exist", param, ctx)
            if path.is_dir():
                self.fail(f"{text!r} is a folder; expected a model file (.pt, .onnx, .engine)", param, ctx)
            return str(path)
        return text


INT_LIST = IntListType()
ONE_INT = IntListType(single=True)
SIZE = SizeType()
MODEL = ModelType()
MODEL_FILE = ModelType(names=False)
EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def model_option(help: str = "A checkpoint (.pt), an exported model (.onnx, .engine) or a registry name "
                 "(e.g. sta_resnet50: an untrained model).", *, names: bool = True, required: bool = True,
                 multiple: bool = False) -> Callable[[F], F]:
    return click.option("--model", "model", type=MODEL if names else MODEL_FILE, required=required,
                        multiple=multiple, help=help)


def seq_lens_option(default: str | None = "4", *, single: bool = False, help: str | None = None) -> Callable[[F], F]:
    text = help or ("Frames per clip T." if single else "Frames per clip T, comma-separated to sweep, e.g. 2,4,8.")
    return click.option("--seq-lens", "seq_lens", type=ONE_INT if single else INT_LIST, default=default,
                        show_default=default is not None, help=text)


def batch_sizes_option(default: str | None = "1", *, single: bool = False,
                       help: str | None = None) -> Callable[[F], F]:
    text = help or ("Clips per call B." if single else "Clips per call B, comma-separated to sweep, e.g. 1,8.")
    return click.option("--batch-sizes", "batch_sizes", type=ONE_INT if single else INT_LIST, default=default,
                        show_default=default is not None, help=text)


def out_option(help: str, *, file: bool | None = False, required: bool = False,
               default: Any = None) -> Callable[[F], F]:
    """``--out``: a file (``file=True``), a folder (``False``) or either, as the command's choice says (``None``)."""
    kind = (click.Path(path_type=Path) if file is None else click.Path(dir_okay=False, path_type=Path) if file
            else click.Path(file_okay=False, path_type=Path))
    # click 8.3 counts an explicit default=None as a value: pass a default only when there is one
    return click.option("--out", "out", type=kind, required=required, show_default=default is not None, help=help,
                        **({} if default is None else {"default": default}))


def data_root_option(*, required: bool = True, help: str = "Dataset folder.") -> Callable[[F], F]:
    return click.option("--data-root", "data_root", type=EXISTING_DIR, required=required, help=help)


def dataset_option(*, required: bool = True, default: str | None = None) -> Callable[[F], F]:
    return click.option("--dataset", "dataset", type=click.Choice(DATASET_NAMES), required=required and default is None,
                        show_default=default is not None, help="Dataset at --data-root.",
                        **({} if default is None else {"default": default}))


def protocol_option() -> Callable[[F], F]:
    return click.option("--protocol", "protocol", type=click.Choice(PROTOCOLS), default="standard", show_default=True,
                        help="MARS gallery protocol (see README); the other datasets have only standard.")


def split_id_option() -> Callable[[F], F]:
    return click.option("--split-id", "split_id", type=click.IntRange(0, 9), default=0, show_default=True,
                        help="Train/test split of iLIDS-VID and PRID2011.")


def sampling_option(default: str = "dense") -> Callable[[F], F]:
    return click.option("--sampling", "sampling", type=click.Choice(SAMPLINGS), default=default, show_default=True,
                        help="Test clips: dense = every frame in T-frame clips (features averaged), evenly = one "
                             "clip, all = one clip of every frame.")


def size_option(default: str | None = None, help: str = "Frame size HxW.") -> Callable[[F], F]:
    return click.option("--size", "size", type=SIZE, default=default, show_default=default is not None, help=help)


def threads_option() -> Callable[[F], F]:
    return click.option("--threads", "threads", type=click.IntRange(min=1), default=None,
                        help="Intra-op threads of the backend [default: the backend's own choice].")


def backend_choices() -> list[str]:
    from reid_runtime.plugins import backends

    return ["auto", *backends()]


def backend_option() -> Callable[[F], F]:
    return click.option("--backend", "backend", type=click.Choice(backend_choices()), default="auto",
                        show_default=True, help="Inference engine; auto picks it from the model file.")


class NameListType(click.ParamType):
    """``"a,b"`` -> ``("a", "b")``: comma-separated names, each one of ``choices()`` (a closed set, like
    ``click.Choice``, read when the value is converted so plugin registries stay lazy)."""

    name = "NAMES"

    def __init__(self, choices: Callable[[], list[str]]) -> None:
        self.choices = choices

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        items = tuple(dict.fromkeys(v.strip() for v in str(value).split(",") if v.strip()))
        valid = self.choices()
        unknown = [item for item in items if item not in valid]
        if unknown or not items:
            self.fail(f"{', '.join(map(repr, unknown)) or repr(value)}: expected comma-separated names among "
                      f"{', '.join(valid)}", param, ctx)
        return items


def backends_option(default: str = "auto") -> Callable[[F], F]:
    return click.option("--backends", "backends", type=NameListType(backend_choices), default=default,
                        show_default=True,
                        help="Inference engines, comma-separated, each timed side by side: auto (the one the model "
                             "file needs) or registered backends, e.g. onnxruntime,torch.")


def command_line(ctx: click.Context) -> str:
    """The ``reid ...`` command line that reproduces this run, every option spelled out (stored with results)."""
    import shlex

    chain, current = [], ctx
    while current is not None:
        chain.insert(0, current.info_name or "")
        current = current.parent
    parts = ["reid", *(chain[1:] if len(chain) > 1 else chain)]  # the root is `reid` however it was invoked
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if not isinstance(param, click.Option) or value is None or value == () or param.hidden:
            if isinstance(param, click.Argument) and value not in (None, ()):
                parts += [shlex.quote(str(v)) for v in (value if isinstance(value, tuple) else (value,))]
            continue
        if param.is_flag:
            flag = param.opts[0] if value else (param.secondary_opts[0] if param.secondary_opts else None)
            if flag:
                parts.append(flag)
            continue
        values = value if param.multiple else (value,)
        for item in values:
            if isinstance(param.type, SizeType) and isinstance(item, tuple):
                text = "x".join(str(v) for v in item)
            elif isinstance(item, tuple):
                text = ",".join(str(v) for v in item)
            else:
                text = str(item)
            parts.append(f"{param.opts[0]} {shlex.quote(text)}")
    return " ".join(parts)


def progress_option() -> Callable[[F], F]:
    return click.option("--progress/--no-progress", "progress", default=None,
                        help="Progress bars [default: on when stderr is a terminal].")


def json_option() -> Callable[[F], F]:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the result as one JSON document on stdout (messages go to stderr).")


def strict_option() -> Callable[[F], F]:
    return click.option("--strict", is_flag=True,
                        help="Stop at the first broken input instead of skipping it and reporting it.")


def show_progress(progress: bool | None) -> bool:
    """The ``--progress/--no-progress`` value, or whether stderr is a terminal when neither was given."""
    return sys.stderr.isatty() if progress is None else bool(progress)


def echo_json(payload: Any) -> None:
    """Write ``payload`` as the command's one JSON document on stdout."""
    click.echo(json.dumps(payload, indent=2, sort_keys=False, default=_jsonable))


def make_echo(as_json: bool) -> Callable[[str], None]:
    """Where human-readable lines go: stdout normally, stderr when stdout carries ``--json``."""
    return (lambda line: click.echo(line, err=True)) if as_json else click.echo


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
