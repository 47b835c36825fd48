"""Checks of the plain values a service takes, as one-line :class:`ReidError` naming the parameter."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
