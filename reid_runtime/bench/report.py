"""The one writer of benchmark results: ``<stem>.json`` (everything measured) and ``<stem>.md`` (title, the command
that reproduces the run, the machine, the table, notes), plus ``<stem>.png`` where matplotlib is installed.

Every benchmark (``reid bench latency | flops | formats | mixed``) writes through :func:`write_report`, so each
committed result carries its command, the CPU flags read when it ran and the library versions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from reid_runtime.bench import plots
from reid_runtime.bench.machine import machine_markdown
from reid_runtime.io import write_json_atomic, write_text_atomic

Plot = Callable[[dict[str, Any], Path], Path]


class BenchReport(Protocol):
    """What a benchmark result gives the writer."""

    title: str
    command: str
    machine: dict[str, Any]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]: ...

    def markdown(self) -> str: ...


@dataclass
class Written:
    """The files written, and why a picture was not drawn (empty when it was, or when there is none)."""

    files: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def draw(plot: Plot, payload: dict[str, Any], path: Path) -> Path | None:
    """``plot(payload, path)`` where matplotlib is installed; None (no picture) where it is not."""
    if not plots.available():
        return None
    return plot(payload, path)


def write_report(out: str | Path, stem: str, *, title: str, command: str, machine: dict[str, Any], table: str,
                 payload: dict[str, Any], notes: Sequence[str] = (), plot: Plot | None = None) -> Written:
    """Write ``out/<stem>.json`` (``payload`` with its command and machine) and ``out/<stem>.md``; with ``plot``,
    also ``out/<stem>.png`` or, without matplotlib, the note :data:`reid_runtime.bench.plots.NO_PLOT`."""
    out = Path(out)
    payload = {"title": title, "command": command, "machine": machine, **payload}
    written = Written()
    picture = None
    if plot is not None:
        picture = draw(plot, payload, out / f"{stem}.png")
        if picture is None:
            written.skipped.append(f"{stem}.png: {plots.NO_PLOT}")
    lines = [f"# {title}", "", f"Command: `{command}`", "", machine_markdown(machine), "", table.rstrip(), ""]
    if picture is not None:
        lines += [f"![{title}]({picture.name})", ""]
    all_notes = [*notes, *written.skipped]
    if all_notes:
        lines += ["Notes:", *[f"- {note}" for note in all_notes], ""]
    written.files = [write_json_atomic(out / f"{stem}.json", payload), write_text_atomic(out / f"{stem}.md",
                                                                                          "\n".join(lines))]
    if picture is not None:
        written.files.append(picture)
    return written


def write(report: BenchReport, out: str | Path, stem: str, plot: Plot | None = None) -> Written:
    """:func:`write_report` of a report object (its title, command, machine, markdown table, notes, ``to_dict()``)."""
    return write_report(out, stem, title=report.title, command=report.command, machine=report.machine,
                        table=report.markdown(), payload=report.to_dict(), notes=report.notes, plot=plot)
