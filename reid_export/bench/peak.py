"""What this box can do: its description (CPU, SIMD flags, versions, load) and its measured matrix-multiply peak.

A model's achieved GFLOP/s means little without the ceiling of the same box, so the benchmarks measure it in the same
run: square GEMMs in numpy, PyTorch and ONNX Runtime, FP32 and BF16; the best p50 over the libraries is the FP32 peak.
INT8 (ONNX Runtime ``MatMulInteger``, u8 x s8 -> s32) is reported in GOP/s: the ceiling of the VNNI path.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from reid_runtime.timing import measure


@dataclass
class GemmPeak:
    """One library x precision: achieved GFLOP/s (2 n^3 per product) or why it was not measured."""

    library: str
    precision: str
    n: int
    threads: int
    gflops: float | None
    p50_ms: float | None
    note: str = ""
    when: str = ""  # e.g. before / after the timed backends

    def to_dict(self) -> dict:
        return asdict(self)


def cpu_flags() -> list[str]:
    """The SIMD / matrix flags of /proc/cpuinfo that decide the fast paths (AVX-512, VNNI, BF16, FP16, AMX)."""
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
              "amx_bf16", "amx_int8")
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    return [flag for flag in wanted if flag in present]
    except OSError:
        pass
    return []


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_summary() -> dict:
    """CPU, cores, SIMD flags, OS, library versions and the load average now (1, 5, 15 min)."""
    from importlib import metadata

    versions = {}
    for package in ("torch", "numpy", "onnx", "onnxruntime", "onnxruntime-gpu", "onnxscript", "tensorrt"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "loadavg_at_start": [round(v, 2) for v in os.getloadavg()],
    }


def machine_markdown(machine: dict) -> str:
    """The machine block of a committed result: CPU, flags, versions and the load at start."""
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    load = ", ".join(str(v) for v in machine["loadavg_at_start"])
    return "\n".join([
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['platform']}, Python {machine['python']}",
        f"- CPU flags: {', '.join(machine['cpu_flags']) or 'none of the checked ones'} "
        f"(AMX: {'yes' if 'amx_tile' in machine['cpu_flags'] else 'no'})",
        f"- Versions: {versions}",
        f"- Load average at start (1, 5, 15 min): {load}",
    ])


def _ort_matmul(n: int, threads: int, integer: bool) -> Callable[[], object]:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    if integer:
        inputs = [helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n]),
                  helper.make_tensor_value_info("b", TensorProto.INT8, [n, n])]
        node = helper.make_node("MatMulInteger", ["a", "b"], ["c"])
        output = helper.make_tensor_value_info("c", TensorProto.INT32, [n, n])
    else:
        inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n]) for name in "ab"]
        node = helper.make_node("MatMul", ["a", "b"], ["c"])
        output = helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])
    graph = helper.make_graph([node], "gemm", inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    if integer:
        feed = {"a": rng.integers(0, 255, (n, n), dtype=np.uint8), "b": rng.integers(-127, 127, (n, n), dtype=np.int8)}
    else:
        feed = {"a": rng.standard_normal((n, n), dtype=np.float32), "b": rng.standard_normal((n, n), dtype=np.float32)}
    onnx.checker.check_model(model)
    return lambda: session.run(None, feed)


def _torch_mm(n: int, threads: int, dtype_name: str) -> Callable[[], object]:
    import torch

    torch.set_num_threads(threads)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)

    def run() -> object:
        with torch.inference_mode():
            return torch.mm(a, b)

    return run


def _numpy_mm(n: int) -> Callable[[], object]:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    return lambda: a @ b


def measure_peak(n: int = 2048, threads: int | None = None,
                 libraries: tuple[str, ...] = ("numpy", "torch", "onnxruntime"),
                 min_seconds: float = 1.0) -> list[GemmPeak]:
    """GEMM throughput of each library and precision on this box. numpy uses its BLAS's own thread count (set
    ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` before starting Python to change it)."""
    threads = threads or os.cpu_count() or 1
    cases: list[tuple[str, str, Callable[[], Callable[[], object]]]] = []
    if "numpy" in libraries:
        cases.append(("numpy", "fp32", lambda: _numpy_mm(n)))
    if "torch" in libraries:
        cases += [("torch", "fp32", lambda: _torch_mm(n, threads, "fp32")),
                  ("torch", "bf16", lambda: _torch_mm(n, threads, "bf16"))]
    if "onnxruntime" in libraries:
        cases += [("onnxruntime", "fp32", lambda: _ort_matmul(n, threads, integer=False)),
                  ("onnxruntime", "int8", lambda: _ort_matmul(n, threads, integer=True))]
    results = []
    for library, precision, make in cases:
        try:
            fn = make()
            timing = measure(fn, warmup=2, min_runs=5, max_runs=50, min_seconds=min_seconds)
        except Exception as exc:  # a library or kernel missing on this box is a result, not a crash
            results.append(GemmPeak(library, precision, n, threads, None, None, f"not measured: {exc}"))
            continue
        gflops = 2 * n**3 / (timing.p50_ms * 1e-3) / 1e9
        note = "GOP/s (integer)" if precision == "int8" else ""
        results.append(GemmPeak(library, precision, n, threads, gflops, timing.p50_ms, note))
    return results


def fp32_peak(results: list[GemmPeak]) -> float | None:
    """The best measured FP32 GFLOP/s."""
    values = [r.gflops for r in results if r.precision == "fp32" and r.gflops]
    return max(values) if values else None


def peak_table(results: list[GemmPeak]) -> str:
    lines = [f"{'library':<13}{'precision':<11}{'n':>6}{'threads':>9}{'GFLOP/s':>10}{'ms':>9}{'when':>8}  note"]
    for r in results:
        gflops = f"{r.gflops:.1f}" if r.gflops else "-"
        ms = f"{r.p50_ms:.1f}" if r.p50_ms else "-"
        lines.append(f"{r.library:<13}{r.precision:<11}{r.n:>6}{r.threads:>9}{gflops:>10}{ms:>9}{r.when:>8}  {r.note}")
    return "\n".join(lines)
