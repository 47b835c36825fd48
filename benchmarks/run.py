"""How the benchmark scripts call the toolkit: ``reid`` commands run in-process, each echoed before it runs.

A script adds nothing of its own (no option parsing, machine description or result writing: ``reid bench`` records
the command, the machine and the versions with every result); the options given to a script are appended to its
``reid bench`` command, where a later value of an option wins (``--out /tmp/x``, ``--runs 2``).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

RESULTS = "benchmarks/results"  # run the scripts from the repository root
WORK = Path("runs/benchmarks")  # exports, data and checkpoints the scripts make (git-ignored)


def reid(*args: object) -> None:
    """Run ``reid ARGS`` in this process; a failing command stops the script with its exit code."""
    from reid_runtime.cli.main import main

    argv = [str(arg) for arg in args]
    print(f"$ reid {shlex.join(argv)}", flush=True)
    main(argv)


def extra(argv: list[str] | None) -> list[str]:
    """The options given to the script, passed on to its ``reid bench`` command unparsed."""
    return list(sys.argv[1:] if argv is None else argv)
