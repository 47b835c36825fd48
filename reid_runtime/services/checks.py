"""Checks of the plain values a service takes, and of its output against its inputs, as one-line
:class:`ReidError` naming the parameter or the paths."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from reid_runtime.errors import ReidError


def positive_int(value: Any, name: str) -> int:
    """``value`` as an int when it is a positive integer (not a bool)."""
    if isinstance(value, bool) or not hasattr(value, "__index__") or int(value) < 1:
        raise ReidError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def optional_positive_int(value: Any, name: str) -> int | None:
    return None if value is None else positive_int(value, name)


def positive_ints(values: Sequence[int] | int, name: str) -> list[int]:
    """One positive integer or a non-empty sequence of them, as a list."""
    items = [values] if hasattr(values, "__index__") else list(values)
    if not items:
        raise ReidError(f"{name} is empty; expected positive integers, e.g. (2, 4, 8)")
    return [positive_int(v, name) for v in items]


def one_of(value: Any, choices: Iterable[str], name: str) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ReidError(f"unknown {name} {value!r}; expected one of {', '.join(choices)}")
    return value


def companion_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files that belong with a model file: the other graph of a split export (``<stem>.backbone.onnx`` <->
    ``<stem>.head.onnx``), the ``<engine>.json`` sidecar of a TensorRT engine; none for other files."""
    path = Path(path)
    name = path.name
    for own, other in ((".backbone.onnx", ".head.onnx"), (".head.onnx", ".backbone.onnx")):
        if name.endswith(own) and len(name) > len(own):
            return [path.with_name(name[: -len(own)] + other)]
    if path.suffix in (".engine", ".plan"):
        return [path.with_name(name + ".json")]
    return []


def refuse_overwriting_inputs(
    out: str | os.PathLike[str],
    inputs: Mapping[str, str | os.PathLike[str] | None] | Iterable[tuple[str, str | os.PathLike[str] | None]],
    what: str = "--out",
    *,
    also: Iterable[str | os.PathLike[str]] = (),
    inside: Iterable[str] | None = None,
) -> None:
    """Raise a one-line :class:`ReidError` when writing ``out`` would overwrite one of the command's ``inputs``.

    ``inputs`` names each input as the message should ("the model", "the query file") with its path: a mapping, or
    pairs for several inputs of one kind. Values that are None or name nothing on disk (a registry name) are
    ignored; a model file brings its companions (the other graph of a split export, an engine's sidecar; see
    :func:`companion_files`). ``out`` is the file the command writes, ``also`` further paths it writes (a split
    export's graphs, embed's ``<out>.partial/`` folder). With ``inside`` (names), ``out`` is a folder and the command
    writes those names in it (``eval.json`` ...), so an input elsewhere in that folder is left alone and allowed.

    Refused: a written path that is an input (the same resolved path, or the same file through a link), that lies
    inside an input folder (a dataset, tracklet folders), or a written folder that holds an input. Paths are
    resolved, so symbolic links and ``..`` do not get around the check.
    """
    out_path = Path(out)
    targets = [(out_path, inside is None)]  # (a path written, whether it may be a folder holding an input)
    targets += [(Path(p), True) for p in also]
    targets += [(out_path / name, True) for name in (inside or ())]
    pairs = inputs.items() if isinstance(inputs, Mapping) else inputs
    for role, value in pairs:
        if not isinstance(value, (str, os.PathLike)) or not Path(value).exists():
            continue
        given = Path(value)
        sources = [(given, "")] + [(c, f"{c}, the companion file of ") for c in companion_files(given) if c.exists()]
        for source, via in sources:
            for target, may_hold in targets:
                problem = _conflict(target, source, may_hold)
                if problem is None:
                    continue
                writes = "" if target == out_path else f" (it writes {target})"
                if problem == "same" and inside is not None and target == out_path and source.is_dir():
                    problem = "inside"  # the output folder is an input folder: written into, not replaced
                if problem == "same":
                    raise ReidError(f"{what} {out}{writes} would overwrite {via}{role} {given}, an input of this "
                                    f"command; choose another {what}")
                if problem == "inside":
                    raise ReidError(f"{what} {out}{writes} writes into {role} {given}, an input folder of this "
                                    f"command; choose a {what} outside it")
                raise ReidError(f"{what} {out}{writes} holds {via}{role} {given}, an input of this command; choose "
                                f"another {what}")


def _conflict(target: Path, source: Path, may_hold: bool) -> str | None:
    """How writing ``target`` meets the existing input ``source``: "same", "inside" (a folder input), "holds"."""
    t, s = target.resolve(), source.resolve()
    if t == s or (target.exists() and os.path.samefile(target, source)):
        return "same"
    if source.is_dir() and t.is_relative_to(s):
        return "inside"
    if may_hold and s.is_relative_to(t):
        return "holds"
    return None
