"""Run a ``reid`` command in-process, exactly as a user would type it, and keep what it printed on stdout.

The demo's stages call nothing but these commands, so the command lines in its report are what ran. A command's
arguments are kept as tokens: a plain string, or ``{"out": "rel/path"}`` for a path inside the demo folder, so the
lines of a moved demo folder still point at its own files.
"""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from reid_runtime.errors import ReidError
from reid_runtime.plugins import MissingExtraError

Token = str | dict[str, str]   # a plain argument, or {"out": "rel/path"} inside the demo folder


def render(tokens: Sequence[Token], out: Path) -> list[str]:
    """The arguments of ``tokens`` with the demo-folder paths under ``out``."""
    return [token if isinstance(token, str) else str(out / token["out"]) if token["out"] else str(out)
            for token in tokens]


def command_line(tokens: Sequence[Token], out: Path) -> str:
    """``reid ...`` as a shell line, quoted where needed."""
    return shlex.join(["reid", *render(tokens, out)])


@dataclass(frozen=True)
class CommandRun:
    """One ``reid`` command that ran: its arguments, what it wrote on stdout and stderr, and how long it took."""

    argv: tuple[str, ...]
    stdout: str
    stderr: str
    seconds: float

    @property
    def line(self) -> str:
        return shlex.join(["reid", *self.argv])

    def json(self) -> Any:
        """The command's ``--json`` document."""
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError as exc:
            raise ReidError(f"`{self.line}` did not print one JSON document on stdout ({exc})") from exc


class CommandFailed(ReidError):
    """A ``reid`` command of the demo failed; the message names the command line, ``output`` holds what it printed."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


def run_reid(argv: Sequence[str]) -> CommandRun:
    """Run ``reid ARGV`` in this process through the ``reid`` entry point's group, with stdout and stderr captured
    (so the command sees no terminal: no progress bars).

    A failing command raises :class:`CommandFailed` naming the command line (a missing extra is raised as it is);
    an interrupted one (exit 130) aborts.
    """
    from reid_runtime.cli.main import cli

    argv = tuple(str(arg) for arg in argv)
    line = shlex.join(["reid", *argv])
    stdout, stderr = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    error: str | None = None
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = cli.main(args=list(argv), prog_name="reid", standalone_mode=False)
    except SystemExit as exc:
        code = exc.code
    except (click.exceptions.Abort, MissingExtraError):
        raise
    except click.ClickException as exc:
        code, error = exc.exit_code, exc.format_message()
    except ReidError as exc:
        code, error = 2, str(exc)
    if code == 130:
        raise click.exceptions.Abort()
    output = stderr.getvalue() + stdout.getvalue()
    if error is not None or code not in (None, 0):
        raise CommandFailed(f"`{line}`: {error or f'exited with status {code}'}", output)
    return CommandRun(argv, stdout.getvalue(), stderr.getvalue(), time.perf_counter() - started)
