"""The fresh process a measurement runs in: ``python -m reid_runtime.bench.worker JOB.json ANSWER.json``.

Each (model, backend) of a benchmark is timed in a process of its own: no thread pool of one runtime spins while
another is timed, and the peak memory of a row is that of a process holding only that runtime and that model. The
protocol is plain JSON both ways (nothing is unpickled): the job names a task ``"module:function"`` and its
arguments; the answer is ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``. Arrays a task returns
go to ``.npy`` files in the job's folder (read back with ``allow_pickle=False``).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from reid_runtime.errors import ReidError

_COUNTER = itertools.count()


def run_isolated(task: str, job: dict[str, Any], folder: str | Path, name: str = "") -> dict[str, Any]:
    """Run ``task`` (``"module:function"``, the function taking the job dict and returning a JSON-able dict) on
    ``job`` in a fresh Python process; its result. ``folder`` holds the job and answer files (and any arrays).

    A plain subprocess, not multiprocessing: nothing of the caller's main module is re-imported, so this works from
    scripts, notebooks and test runners alike. An error or a crash of the child raises :class:`ReidError`.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    number = next(_COUNTER)
    job_file, answer_file = folder / f"job-{number}.json", folder / f"answer-{number}.json"
    job_file.write_text(json.dumps({"task": task, "job": {**job, "folder": str(folder)}}), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "reid_runtime.bench.worker", str(job_file), str(answer_file)],
                          capture_output=True, text=True, check=False)
    label = name or task
    if not answer_file.is_file():
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise ReidError(f"the benchmark process for {label} exited with code {proc.returncode}: {tail}")
    answer = json.loads(answer_file.read_text(encoding="utf-8"))
    if not answer["ok"]:
        raise ReidError(f"{label}: {answer['error']}")
    return answer["result"]


def main(argv: list[str] | None = None) -> None:
    """The child: read the job, run its task, write the answer (an exception becomes ``{"ok": false}``)."""
    from reid_runtime.plugins import load_target

    job_file, answer_file = (argv if argv is not None else sys.argv[1:])[:2]
    request = json.loads(Path(job_file).read_text(encoding="utf-8"))
    try:
        answer = {"ok": True, "result": load_target(request["task"])(request["job"])}
    except Exception as exc:  # reported to the parent, which marks that entry failed and goes on
        first = str(exc).splitlines()[0] if str(exc) else ""
        # a ReidError is already the one-line answer for a user; anything else keeps its type for the report
        answer = {"ok": False, "error": first if isinstance(exc, ReidError) else f"{type(exc).__name__}: {first}"}
    Path(answer_file).write_text(json.dumps(answer), encoding="utf-8")


if __name__ == "__main__":
    main()
