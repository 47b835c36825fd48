"""Every runnable example of README.md and docs/*.md runs, in order, exactly as a reader would paste it.

An example is runnable when a fenced block whose info string is ``bash`` or ``python`` sits on the line right after
``<!-- run -->``. The examples of one document run one after the other in ONE empty folder, with nothing prepared
beforehand: a document stands on its own, so whatever a later example uses (a dataset, a checkpoint, an export), an
earlier example of the same document made. README.md takes a newcomer through the whole job this way: synth ->
train -> eval -> export -> info -> embed -> search -> bench.

Bash blocks run with ``set -euo pipefail`` and the virtual environment's ``bin`` first on PATH (so ``reid`` and
``python`` are the toolkit's); python blocks run in a subprocess of this interpreter.
"""

from __future__ import annotations

import os
import re
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


def run_example(example: Example, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if example.language == "bash":
        command = ["bash", "-euo", "pipefail", "-c", example.code]
    else:
        command = [sys.executable, "-c", example.code]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)


DOCUMENTS = sorted({e.source for e in EXAMPLES}, key=lambda source: (source != "README.md", source))


@pytest.mark.parametrize("source", DOCUMENTS)
def test_document_examples_run_in_order_in_an_empty_folder(source: str, tmp_path: Path):
    cwd = tmp_path / "empty"
    cwd.mkdir()
    for example in (e for e in EXAMPLES if e.source == source):
        result = run_example(example, cwd)
        assert result.returncode == 0, (
            f"{example.id} ({example.language}) exited with {result.returncode}\n--- code\n{example.code}"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )


def test_run_markers_precede_runnable_blocks():
    assert not PROBLEMS, "\n".join(PROBLEMS)


def test_docs_have_runnable_examples():
    sources = {e.source for e in EXAMPLES}
    assert {"README.md", "docs/architecture.md", "docs/datasets.md", "docs/export.md", "docs/runtime.md"} <= sources


def test_readme_walks_through_the_whole_job_in_order():
    """synth -> train -> eval -> export -> info -> embed -> search -> bench, each step a runnable example."""
    code = "\n".join(e.code for e in EXAMPLES if e.source == "README.md")
    steps = ["reid data synth", "reid train", "reid eval", "reid export", "reid info", "reid embed", "reid search",
             "reid bench"]
    positions = [code.find(step) for step in steps]
    assert -1 not in positions, [s for s, p in zip(steps, positions) if p == -1]
    assert positions == sorted(positions)


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
