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


# --- every `reid ...` line of the documents, runnable or not, uses commands and options the CLI has -------------------

_HEREDOC = re.compile(r"<<-?\s*'?\"?(\w+)'?\"?")
_SEPARATORS = {"|", "||", "&&", ";", "&"}
_KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "!", "time", "exec"}


def bash_blocks(text: str, source: str) -> list[tuple[str, int, str]]:
    """Every fenced ``bash`` block of a Markdown text, marked runnable or not: (source, line of the fence, code)."""
    lines, blocks, index = text.splitlines(), [], 0
    while index < len(lines):
        match = _OPENING.match(lines[index])
        if match is None or not match.group(1):
            index += 1
            continue
        end = next((j for j in range(index + 1, len(lines)) if lines[j].strip() == "```"), len(lines))
        if match.group(1) == "bash":
            blocks.append((source, index + 1, "\n".join(lines[index + 1:end])))
        index = end + 1
    return blocks


def command_lines(code: str) -> list[list[str]]:
    """The token lists of the ``reid`` commands in a bash snippet (continuations joined, heredoc bodies skipped);
    ``python -m reid_runtime.cli.main ARGS`` and ``torchrun ... -m reid_runtime.cli.main ARGS`` count as ``reid``."""
    import shlex

    logical, pending, heredoc = [], "", None
    for line in code.splitlines():
        if heredoc is not None:
            heredoc = None if line.strip() == heredoc else heredoc
            continue
        pending += line
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        logical.append(pending)
        match = _HEREDOC.search(pending)
        heredoc = match.group(1) if match else None
        pending = ""
    commands = []
    for line in logical:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens, segment, redirect = list(lexer), [], False
        for token in tokens + [";"]:
            if redirect or token[:1] in ("<", ">"):  # a redirection (>, 2>, >&, <<) and its target
                redirect = not redirect
                if segment and segment[-1].isdigit():
                    segment.pop()  # the 2 of 2>
                continue
            if token not in _SEPARATORS:
                segment.append(token)
                continue
            while segment and segment[0] in _KEYWORDS:
                segment.pop(0)
            if segment and segment[0] == "reid":
                commands.append(segment[1:])
            elif "reid_runtime.cli.main" in segment:
                commands.append(segment[segment.index("reid_runtime.cli.main") + 1:])
            segment = []
    return commands


def _check_export_options(given: dict[str, str]) -> str | None:
    """What the formats table says about the options of one ``reid export`` line (format, model kind, required)."""
    from reid_export import formats
    from reid_runtime.errors import ReidError

    model = given.pop("model", "")
    suffix = Path(model).suffix.lower()
    kind = (formats.CHECKPOINT if suffix in formats.CHECKPOINT_SUFFIXES else formats.ONNX
            if suffix in formats.ONNX_SUFFIXES else formats.ENGINE if suffix in formats.ENGINE_SUFFIXES
            else formats.NAME)
    fmt = given.pop("format", "onnx")
    for common in ("out", "json"):
        given.pop(common, None)
    try:
        formats.check_options(fmt, given, kind=kind, cli=True)
    except ReidError as exc:
        return f"reid export: {exc}"
    return None


def check_command_line(args: list[str]) -> str | None:
    """None when ``reid ARGS`` names an existing command with options it has, else what is wrong."""
    import click

    from reid_runtime.cli.main import cli

    command, ctx, path = cli, click.Context(cli), ["reid"]
    rest = list(args)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            return f"{' '.join(path)} has no sub-command {rest[0]!r}"
        path.append(rest.pop(0))
        command, ctx = sub, click.Context(sub, parent=ctx)
    options = {name: param for param in command.params for name in (*param.opts, *param.secondary_opts)
               if isinstance(param, click.Option)}
    unknown, positional, given, index = [], [], {}, 0
    while index < len(rest):
        token = rest[index]
        index += 1
        if token in ("--help", "-h"):
            return None
        if token.startswith("$"):
            continue  # a shell variable: its words are not known here
        if not (token.startswith("--") or token.startswith("-") and token[1:2].isalpha()):
            positional.append(token)
            continue
        name, _, value = token.partition("=")
        option = options.get(name)
        if option is None:
            unknown.append(name)
        elif not (option.is_flag or option.count or value or name in option.secondary_opts):
            value = rest[index] if index < len(rest) else ""
            index += 1  # its value
        if option is not None:  # keyed by the option's flag, the names of the export formats table
            given[option.opts[0].lstrip("-").replace("-", "_")] = value
    if unknown:
        return f"{' '.join(path)} has no option {', '.join(unknown)}"
    arguments = [param for param in command.params if isinstance(param, click.Argument)]
    most = None if any(param.nargs < 0 for param in arguments) else sum(param.nargs for param in arguments)
    least = sum(max(param.nargs, 1) for param in arguments if param.required)
    if (most is not None and len(positional) > most) or len(positional) < least:
        return f"{' '.join(path)} takes {most} argument(s), got {positional}"
    if path == ["reid", "export"]:
        return _check_export_options(given)
    return None


def test_command_lines_are_parsed_like_a_shell():
    code = "\n".join([
        "reid data synth --layout mars \\", "  --out d  # a comment --not-an-option",
        "if reid export --model m.pt --out x.onnx $opts 2> err.txt; then exit 1; fi",
        "reid info x.onnx | grep -E '^(precision|verified)' && reid search --query q --gallery g --out r.json",
        "python - <<'EOF'", "reid = 'not a command'", "EOF",
        "torchrun --nproc_per_node 2 -m reid_runtime.cli.main train --config demo",
        "echo reid eval",
    ])
    assert command_lines(code) == [
        ["data", "synth", "--layout", "mars", "--out", "d"],
        ["export", "--model", "m.pt", "--out", "x.onnx", "$opts"],
        ["info", "x.onnx"],
        ["search", "--query", "q", "--gallery", "g", "--out", "r.json"],
        ["train", "--config", "demo"],
    ]
    assert check_command_line(["data", "synth", "--layout", "mars", "--out", "d"]) is None
    assert check_command_line(["info", "x.onnx", "--json"]) is None
    assert check_command_line(["eval", "--progress", "--no-progress", "--model", "--json"]) is None  # a value
    assert "no option --checkpoint" in check_command_line(["eval", "--checkpoint", "x.pt"])
    assert "got ['onnx']" in check_command_line(["export", "onnx", "--model", "x.pt", "--out", "x.onnx"])
    assert "got []" in check_command_line(["info", "--json"])
    assert check_command_line(["bench", "speed"]) == "reid bench has no sub-command 'speed'"
    assert "not taken by format 'onnx'" in check_command_line(
        ["export", "--model", "a.pt", "--format", "onnx", "--out", "a.onnx", "--profiles", "1-8x1-4"])
    assert "needs --calib" in check_command_line(["export", "--model", "a.pt", "--format=onnx-int8", "--out", "a.onnx"])
    assert "applies to" in check_command_line(["export", "--model", "a.pt", "--out", "a.onnx", "--size", "64x32"])
    assert check_command_line(["export", "--model", "sta_tiny", "--size", "64x32", "--out", "a.onnx", "--json"]) is None


DOC_COMMANDS = [(source, line, args) for path in documents()
                for source, line, code in bash_blocks(path.read_text(encoding="utf-8"),
                                                      path.relative_to(REPO).as_posix())
                for args in command_lines(code)]


def test_docs_show_reid_command_lines():
    assert len({source for source, _, _ in DOC_COMMANDS}) >= 4 and len(DOC_COMMANDS) > 50


@pytest.mark.parametrize("source", sorted({source for source, _, _ in DOC_COMMANDS}))
def test_every_reid_command_line_in_a_document_uses_real_commands_and_options(source: str):
    """Runnable or not (real-data examples too), a `reid` line of the docs names only what `reid --help` has."""
    problems = [f"{src}:{line}: reid {' '.join(args)}\n    -> {problem}" for src, line, args in DOC_COMMANDS
                if src == source and (problem := check_command_line(args))]
    assert not problems, "\n".join(problems)
