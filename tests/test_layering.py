"""The layering contract: reid_runtime <- reid_train <- reid_export <- reid_demo, checked on the source (AST).

Every import statement counts, at module level or inside a function (a lazy import is still a dependency), and so
does a string naming an upper package (an import by name, e.g. ``"reid_train.cli:train"``); docstrings do not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UPPER = {
    "reid_runtime": {"reid_train", "reid_export", "reid_demo"},
    "reid_train": {"reid_export", "reid_demo"},
    "reid_export": {"reid_demo"},
    "reid_demo": set(),
}
# Third-party packages each layer may not import: the edge base runs on numpy + onnxruntime + pillow (+ scipy, click,
# tqdm); matplotlib only in the optional plotting module, which the CLI imports only when matplotlib is present.
THIRD_PARTY = {
    "reid_runtime": {"torch", "torchvision", "onnx", "onnxscript", "onnxslim", "onnxconverter_common", "yaml",
                     "pydantic", "matplotlib"},
    "reid_train": {"onnx", "onnxscript", "onnxslim", "onnxconverter_common"},
}
ALLOWED = {("reid_runtime/bench/plots.py", "matplotlib")}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def references(path: Path) -> list[tuple[int, str, str]]:
    """(line, kind, top-level module) for every import and every string that names a ``reid_*`` package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, "import", alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, "import", node.module.split(".")[0]))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            for package in ("reid_train", "reid_export", "reid_demo"):
                if package in node.value and any(node.value.startswith(p) for p in (package, f"{package}.")):
                    found.append((node.lineno, "string", package))
    return found


def violations(package: str) -> list[str]:
    banned = UPPER[package] | THIRD_PARTY.get(package, set())
    problems = []
    for path in sorted((REPO / package).rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        for line, kind, module in references(path):
            if module in banned and (rel, module) not in ALLOWED:
                problems.append(f"{rel}:{line}: {kind} of {module}")
    return problems


@pytest.mark.parametrize("package", sorted(UPPER))
def test_layers_import_only_downwards(package):
    assert violations(package) == []


def test_the_check_sees_lazy_and_string_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""Docstring naming reid_train is fine."""\n'
                      "def f():\n    import torch\n    from reid_export.cli import export\n"
                      "TARGET = 'reid_train.cli:train'\n")
    kinds = {(kind, module) for _, kind, module in references(sample)}
    assert kinds == {("import", "torch"), ("import", "reid_export"), ("string", "reid_train")}
