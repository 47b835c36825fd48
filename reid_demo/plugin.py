"""What ``reid_demo`` registers: ``reid demo``."""

from __future__ import annotations

from reid_runtime.plugins import CommandSpec, Requirement

COMMANDS = [
    CommandSpec("demo", "reid_demo.cli:demo",
                "Run the whole toolkit on synthetic data with its own commands and write report.md.",
                Requirement(("torch", "yaml", "pydantic", "onnx", "onnxscript", "matplotlib"), "train,export")),
]
