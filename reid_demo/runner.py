"""Running the demo: each stage runs ``reid`` commands through a :class:`Stage`, which records them; :func:`run_demo`
runs (or reuses) the stages in order and writes the report.

A stage function takes its :class:`Stage` and the records of the stages before it, runs its commands, reads what they
wrote and returns a :class:`StageOutput`. :func:`run_demo` stores it, with the commands that ran, the plan and the
time taken, as ``<out>/<stage>/done.json`` and prints its summary line. A stage after a redone one is redone too;
``force`` redoes them all.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reid_demo.commands import CommandFailed, CommandRun, Token, command_line, render, run_reid
from reid_demo.folder import DemoFolder
from reid_demo.plan import DemoPlan
from reid_runtime import __version__
from reid_runtime.io import write_text_atomic

LOG = "commands.log"

Echo = Callable[[str], None]


@dataclass
class StageOutput:
    """What a stage returns: a one-line summary, its results, and the files later stages or the report rely on."""

    summary: str
    results: dict[str, Any]
    outputs: list[str]                                   # paths relative to the demo folder
    details: list[str] = field(default_factory=list)     # extra lines printed under the summary


class Stage:
    """One stage being run: its folder, and the ``reid`` commands it ran, in order."""

    def __init__(self, folder: DemoFolder, name: str, echo: Echo) -> None:
        self.demo = folder
        self.plan = folder.plan
        self.name = name
        self.echo = echo
        self.commands: list[list[Token]] = []
        self.log: list[str] = []

    @property
    def folder(self) -> Path:
        return self.demo.at(self.name)

    def token(self, arg: object) -> Token:
        """A path inside the demo folder becomes ``{"out": rel}``; anything else its string."""
        if isinstance(arg, Path) and arg.is_relative_to(self.demo.out):
            return {"out": self.demo.rel(arg) if arg != self.demo.out else ""}
        return str(arg)

    def reid(self, *args: object) -> CommandRun:
        """Run ``reid ARGS`` in this process (see :func:`reid_demo.commands.run_reid`), record it, and keep what it
        printed for ``<stage>/commands.log``."""
        tokens = [self.token(arg) for arg in args]
        line = command_line(tokens, self.demo.out)
        self.commands.append(tokens)
        self.echo(f"  $ {line}")
        try:
            run = run_reid(render(tokens, self.demo.out))
        except CommandFailed as exc:
            self.log += [f"$ {line}", exc.output, f"FAILED: {exc}", ""]
            raise
        self.log += [f"$ {line}  # {run.seconds:.1f} s", run.stderr + run.stdout]
        return run

    def write_log(self) -> Path | None:
        """``<stage>/commands.log``: every command of the stage and what it printed."""
        if not self.log:
            return None
        return write_text_atomic(self.folder / LOG, "\n".join(self.log))


StageFunction = Callable[[Stage, dict[str, dict]], StageOutput]


def run_demo(out: str | Path, plan: DemoPlan, stages: tuple[tuple[str, StageFunction], ...], *, force: bool = False,
             echo: Echo = print) -> dict[str, dict]:
    """Run (or reuse) every stage into ``out``, then write ``out/report.md``; returns the stage records."""
    from reid_demo.report import write_report

    demo = DemoFolder(out, plan)
    demo.claim()
    total = len(stages) + 1
    started = time.perf_counter()
    if plan.trims:
        echo(f"plan {plan.name}: {plan.trims}")
    done: dict[str, dict] = {}
    redo = force
    for number, (name, function) in enumerate(stages, 1):
        record = None if redo else demo.finished(name)
        if record is None:
            redo = True
            shutil.rmtree(demo.at(name), ignore_errors=True)
            stage = Stage(demo, name, echo)
            t0 = time.perf_counter()
            try:
                output = function(stage, done)
            finally:
                stage.write_log()
            record = {"stage": name, "plan": plan.as_json(), "seconds": round(time.perf_counter() - t0, 1),
                      "summary": output.summary, "details": output.details, "results": output.results,
                      "outputs": output.outputs, "commands": stage.commands, "toolkit_version": __version__}
            demo.save(name, record)
            tag = f"{record['seconds']:.1f} s"
        else:
            tag = f"reused, took {record['seconds']:.1f} s"
        done[name] = record
        echo(f"[{number}/{total}] {name}: {record['summary']} ({tag})")
        for line in record["details"]:
            echo(f"      {line}")
    report = write_report(demo, done, time.perf_counter() - started)
    echo(f"[{total}/{total}] report: {report}")
    return done
