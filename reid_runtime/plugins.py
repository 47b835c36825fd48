"""The registries the base owns and the layers above fill: commands, ``reid bench`` commands and backends.

A package adds to them through Python entry points (``[project.entry-points]`` in ``pyproject.toml``):

- ``reid.commands``: lists of :class:`CommandSpec`, the ``reid`` sub-commands;
- ``reid.bench``: lists of :class:`CommandSpec`, the ``reid bench`` sub-commands;
- ``reid.backends``: lists of :class:`BackendSpec`, the inference engines ``reid_runtime.load`` can use.

An entry point names a list in a light module (``reid_train.plugin:COMMANDS``) that imports nothing heavy, so the
help of every command, and the question "which backend runs a ``.pt`` file", are answered without importing torch.
A spec names its implementation as ``"module:attribute"`` and the modules it needs (``requires``); when one is not
installed the spec says which extra of ``reid-toolkit`` brings it, instead of failing with an import traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from reid_runtime.errors import ReidError

COMMANDS_GROUP = "reid.commands"
BENCH_GROUP = "reid.bench"
BACKENDS_GROUP = "reid.backends"
DISTRIBUTION = "reid-toolkit"


class MissingExtraError(ReidError):
    """A command or backend needs a package that is not installed; the message says which extra to install."""


@dataclass(frozen=True)
class Requirement:
    """Modules a plugin needs, and the extra of ``reid-toolkit`` that installs them."""

    requires: tuple[str, ...] = ()
    extra: str | None = None

    def missing(self) -> list[str]:
        """The required top-level modules that cannot be imported here (checked without importing them)."""
        return [name for name in self.requires if importlib.util.find_spec(name) is None]

    @property
    def available(self) -> bool:
        return not self.missing()

    def install_hint(self) -> str:
        extra = f"[{self.extra}]" if self.extra else ""
        return f"pip install '{DISTRIBUTION}{extra}'"

    def check(self, what: str) -> None:
        """Raise :class:`MissingExtraError` (one line: what is missing, how to install it) unless available."""
        missing = self.missing()
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            raise MissingExtraError(f"{what} needs {', '.join(missing)}, which {verb} not installed here; "
                                    f"install it with: {self.install_hint()}")


@dataclass(frozen=True)
class CommandSpec:
    """A sub-command: ``target`` is ``"module:attribute"`` of a click command, imported only when it runs."""

    name: str
    target: str
    help: str
    requirement: Requirement = field(default_factory=Requirement)

    def load(self) -> Any:
        return load_target(self.target)


@dataclass(frozen=True)
class BackendSpec:
    """An inference engine.

    ``suffixes`` are the file endings it runs (``load`` picks it for them with ``backend="auto"``); ``also_runs``
    the endings it runs only when chosen by name (``backend="openvino"`` on an ``.onnx`` file, which ``auto`` gives
    to onnxruntime); ``model_names`` says it can also build a model from a registry name (an untrained model, e.g.
    ``sta_resnet50``). ``target`` is ``"module:Class"`` of a :class:`reid_runtime.backends.base.Backend`, built as
    ``Class(path, **options)``.
    """

    name: str
    target: str
    suffixes: tuple[str, ...] = ()
    help: str = ""
    model_names: bool = False
    requirement: Requirement = field(default_factory=Requirement)
    also_runs: tuple[str, ...] = ()

    def runs(self, suffix: str) -> bool:
        """Whether this backend runs files ending in ``suffix`` when it is chosen by name."""
        return suffix.lower() in self.suffixes + self.also_runs

    def load(self) -> Any:
        self.requirement.check(f"the {self.name} backend")
        return load_target(self.target)


def load_target(target: str) -> Any:
    """Import ``"module:attribute"`` and return the attribute."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _specs(group: str, kind: type) -> list[Any]:
    specs: list[Any] = []
    for point in sorted(entry_points(group=group), key=lambda p: p.name):
        loaded = point.load()
        for spec in loaded if isinstance(loaded, (list, tuple)) else [loaded]:
            if not isinstance(spec, kind):
                raise TypeError(f"entry point {point.name} of {group} gives {type(spec).__name__}, "
                                f"expected {kind.__name__}")
            specs.append(spec)
    return specs


def _by_name(builtin: list[Any], group: str, kind: type) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for spec in [*builtin, *_specs(group, kind)]:
        table.setdefault(spec.name, spec)  # the base's own entries win over a plugin of the same name
    return table


@cache
def commands() -> dict[str, CommandSpec]:
    """Every ``reid`` sub-command: the base's own, then those the installed packages register."""
    from reid_runtime.plugin import COMMANDS

    return _by_name(list(COMMANDS), COMMANDS_GROUP, CommandSpec)


@cache
def bench_commands() -> dict[str, CommandSpec]:
    """Every ``reid bench`` sub-command."""
    from reid_runtime.plugin import BENCH_COMMANDS

    return _by_name(list(BENCH_COMMANDS), BENCH_GROUP, CommandSpec)


@cache
def backends() -> dict[str, BackendSpec]:
    """Every inference backend, whether or not its engine is installed here."""
    from reid_runtime.plugin import BACKENDS

    return _by_name(list(BACKENDS), BACKENDS_GROUP, BackendSpec)


def backend_for_suffix(suffix: str) -> BackendSpec | None:
    """The backend that runs files ending in ``suffix`` (``.onnx``, ``.engine``, ``.pt`` ...), if any."""
    suffix = suffix.lower()
    return next((spec for spec in backends().values() if suffix in spec.suffixes), None)


def backend_for_model_name() -> BackendSpec | None:
    """The backend that builds models from registry names, if one is registered."""
    return next((spec for spec in backends().values() if spec.model_names), None)
