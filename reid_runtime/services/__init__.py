"""The service layer: each job of the toolkit is one function with a typed result.

The ``reid`` commands parse their options, call one of these and print or write what it returns; ``reid demo`` and
Python users call the same functions, so every way through the toolkit runs the same code.

- :func:`reid_runtime.services.evaluate.evaluate` -> :class:`~reid_runtime.services.evaluate.EvalReport`
- :func:`reid_runtime.services.embed.embed` -> :class:`~reid_runtime.services.embed.EmbedReport`
- :func:`reid_runtime.services.search.search` -> :class:`~reid_runtime.services.search.SearchReport`
- :func:`reid_runtime.services.info.inspect_model` -> :class:`~reid_runtime.services.info.ModelDescription`

A service takes a ``log`` callable for its human-readable lines (``print``, ``click.echo`` ...; silent when None),
raises :class:`reid_runtime.errors.ReidError` on bad input (one line naming the file or value and what was
expected) and reports scores in percent. The modules are imported on first use, so this package stays light.
"""

from __future__ import annotations

from collections.abc import Callable

Log = Callable[[str], None]


def quiet(line: str) -> None:
    """The ``log`` of a service called without one: drops the line."""
