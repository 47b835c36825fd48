"""A description of the machine and library versions, stored next to every benchmark result."""

from __future__ import annotations

import os
import platform
from importlib import metadata


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    versions = {}
    for pkg in ("torch", "numpy", "onnx", "onnxruntime", "onnxruntime-gpu", "tensorrt", "faiss-cpu"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def script_command(module: str, argv: list[str] | None) -> str:
    """The command line that reproduces a benchmark run, stored next to its results."""
    import shlex
    import sys

    return f"python -m {module} " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))


def quiet_exporter_logs() -> None:
    """Silence the exporter's per-export 'torchvision is not installed' registration notice."""
    import logging

    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
