"""Every runnable example of docs/*.md and README.md runs and succeeds.

An example is runnable when a fenced block whose info string is ``bash`` or ``python`` sits on the line right after
``<!-- run -->``. Each example runs in a fresh copy of a workspace built once per session with the library:

- ``data/synth_mars``: a synthetic MARS-layout dataset (8 + 8 identities, 128x64, with the attribute CSV);
- ``runs/demo/last.pt``: a checkpoint of the ``demo`` recipe trained for one step;
- ``sta.onnx`` (full graph) and ``sta_split.backbone.onnx`` + ``sta_split.head.onnx`` (split) exported from it.

Bash blocks run with ``set -euo pipefail`` and the virtual environment's ``bin`` first on PATH (so ``reid`` and
``python`` are the toolkit's); python blocks run in a subprocess of this interpreter.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MARKER = "<!-- run -->"
LANGUAGES = ("bash", "python")
TIMEOUT_S = 120
_OPENING = re.compile(r"^```(\S*)\s*$")


@dataclass(frozen=True)
class Example:
    source: str  # file name relative to the repository
    line: int    # 1-based line of the opening fence
    language: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.source}:{self.line}"


def find_examples(text: str, source: str) -> tuple[list[Example], list[str]]:
    """The runnable examples of a Markdown text, and a message for each marker not followed by a runnable block."""
    lines = text.splitlines()
    examples, problems = [], []
    for index, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        opening = lines[index + 1] if index + 1 < len(lines) else ""
        match = _OPENING.match(opening)
        if match is None or match.group(1) not in LANGUAGES:
            problems.append(f"{source}:{index + 1}: {MARKER} must be followed directly by a ```bash or ```python "
                            f"block, found {opening!r}")
            continue
        end = next((j for j in range(index + 2, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            problems.append(f"{source}:{index + 2}: the code block is never closed")
            continue
        examples.append(Example(source, index + 2, match.group(1), "\n".join(lines[index + 2:end]) + "\n"))
    return examples, problems


def documents() -> list[Path]:
    return sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]


def collect() -> tuple[list[Example], list[str]]:
    examples, problems = [], []
    for path in documents():
        found, issues = find_examples(path.read_text(encoding="utf-8"), path.relative_to(REPO).as_posix())
        examples += found
        problems += issues
    return examples, problems


EXAMPLES, PROBLEMS = collect()


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    """The files the examples use (see the module docstring), built with the library."""
    from reid_export.onnx_export import export_checkpoint
    from reid_runtime.data.synth import SynthConfig, synthesize
    from reid_train.engine.config import load_config
    from reid_train.engine.trainer import Trainer

    root = tmp_path_factory.mktemp("doc_workspace")
    data = root / "data" / "synth_mars"
    synthesize(SynthConfig(layout="mars", ids=8, seed=0), data)
    config = load_config("demo", [f"data.root={data}", "optim.epochs=1", "train.max_steps_per_epoch=1",
                                  "train.eval_every=0", "data.test_max_clips=1"])
    trainer = Trainer(config, root / "runs" / "demo", progress=False)
    trainer.fit()
    (root / "runs" / "demo" / "best.pt").unlink(missing_ok=True)  # the examples use last.pt
    checkpoint = root / "runs" / "demo" / "last.pt"
    grid = {"seq_lengths": (1, 4), "batch_sizes": (1, 2)}
    export_checkpoint(checkpoint, root / "sta.onnx", **grid)
    export_checkpoint(checkpoint, root / "sta_split.onnx", split=True, **grid)
    return root


def run_example(example: Example, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if example.language == "bash":
        command = ["bash", "-euo", "pipefail", "-c", example.code]
    else:
        command = [sys.executable, "-c", example.code]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_example_runs(example: Example, workspace: Path, tmp_path: Path):
    cwd = tmp_path / "workspace"
    shutil.copytree(workspace, cwd, symlinks=True)
    result = run_example(example, cwd)
    assert result.returncode == 0, (
        f"{example.id} ({example.language}) exited with {result.returncode}\n--- code\n{example.code}"
        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
    )


def test_run_markers_precede_runnable_blocks():
    assert not PROBLEMS, "\n".join(PROBLEMS)


def test_docs_have_runnable_examples():
    sources = {e.source for e in EXAMPLES}
    assert {"docs/datasets.md", "docs/export.md", "docs/runtime.md"} <= sources


def test_only_marked_bash_and_python_blocks_are_collected():
    text = "\n".join([
        "<!-- run -->", "```bash", "reid --help", "```",
        "```bash", "echo not marked", "```",
        "<!-- run -->", "```python", "print(1)", "```",
        "<!-- run -->", "", "```bash", "echo blank line in between", "```",
        "<!-- run -->", "```text", "not code", "```",
        "<!-- run -->", "```bash", "echo never closed",
    ])
    examples, problems = find_examples(text, "x.md")
    assert [(e.line, e.language, e.code) for e in examples] == [
        (2, "bash", "reid --help\n"), (9, "python", "print(1)\n")]
    assert [p.split(":")[1] for p in problems] == ["12", "17", "22"]
