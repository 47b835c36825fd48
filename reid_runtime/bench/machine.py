"""The one description of the machine a benchmark ran on, stored next to every result.

CPU model and the SIMD / matrix flags that decide the fast paths, read from ``/proc/cpuinfo`` when the benchmark runs;
cores; OS and Python; the versions of the numerical libraries (found without importing them: a benchmark of an ONNX
file never imports torch to learn its version); the load average when the run started.
"""

from __future__ import annotations

import importlib.util
import os
import platform
from importlib import metadata
from typing import Any

CPUINFO = "/proc/cpuinfo"
# The flags of /proc/cpuinfo that decide which kernels run: AVX2/FMA, AVX-512, VNNI (INT8), BF16/FP16, AMX.
FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
         "amx_int8")
# distribution -> the module that must be importable for the version to count
PACKAGES = {
    "numpy": "numpy",
    "onnxruntime": "onnxruntime",
    "onnxruntime-gpu": "onnxruntime",
    "tensorrt": "tensorrt",
    "torch": "torch",
    "onnx": "onnx",
    "onnxscript": "onnxscript",
    "openvino": "openvino",
}


def _cpuinfo_field(name: str) -> str | None:
    try:
        with open(CPUINFO, encoding="utf-8") as f:
            for line in f:
                if line.startswith(name) and ":" in line:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    return _cpuinfo_field("model name") or platform.processor() or "unknown"


def cpu_flags() -> list[str]:
    """Which of :data:`FLAGS` this CPU has, read from ``/proc/cpuinfo`` now (empty where there is none)."""
    present = set((_cpuinfo_field("flags") or "").split())
    return [flag for flag in FLAGS if flag in present]


def package_versions() -> dict[str, str]:
    """Installed versions of :data:`PACKAGES` whose module is importable here, without importing any of them."""
    versions = {}
    for distribution, module in PACKAGES.items():
        if importlib.util.find_spec(module) is None:
            continue
        try:
            versions[distribution] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return versions


def describe_machine() -> dict[str, Any]:
    """CPU, cores, flags, OS, Python, library versions and the load average now (1, 5, 15 min)."""
    from reid_runtime import __version__

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {"reid-toolkit": __version__, **package_versions()},
        "loadavg_at_start": [round(v, 2) for v in os.getloadavg()],
    }


def machine_markdown(machine: dict[str, Any]) -> str:
    """The machine block of a result file: CPU, flags, versions and the load at start."""
    flags = machine.get("cpu_flags", [])
    versions = ", ".join(f"{name} {version}" for name, version in machine.get("versions", {}).items())
    load = ", ".join(str(v) for v in machine.get("loadavg_at_start", []))
    return "\n".join([
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['platform']}, Python {machine['python']}",
        f"- CPU flags (read at run time): {', '.join(flags) or 'none of the checked ones'} "
        f"(AMX: {'yes' if 'amx_tile' in flags else 'no'})",
        f"- Versions: {versions}",
        f"- Load average at start (1, 5, 15 min): {load}",
    ])
