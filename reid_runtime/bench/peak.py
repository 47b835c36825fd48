"""The measured matrix-multiply ceiling of this box: square GEMMs in numpy and ONNX Runtime (FP32, and INT8
``MatMulInteger`` u8 x s8 -> s32, the VNNI path, in GOP/s).

A model's achieved GFLOP/s means little without the ceiling of the same box, so the latency benchmark can measure it
in the same run. The one-node ONNX graphs are encoded here directly (a few protobuf fields), so this needs neither
the ``onnx`` package nor torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from reid_runtime.timing import measure

# onnx.TensorProto data types
FLOAT, UINT8, INT8, INT32 = 1, 2, 3, 6


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
    when: str = ""  # before / after the timed models

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- a minimal protobuf writer for one-node graphs

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _value_info(name: str, elem_type: int, shape: tuple[int, ...]) -> bytes:
    dims = b"".join(_bytes(1, _int(1, d)) for d in shape)             # TensorShapeProto.dim { dim_value }
    tensor = _int(1, elem_type) + _bytes(2, dims)                      # TypeProto.Tensor { elem_type, shape }
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor))              # ValueInfoProto { name, type { tensor } }


def matmul_model(n: int, integer: bool = False, opset: int = 13) -> bytes:
    """A serialized ONNX ``ModelProto``: ``c = MatMul(a, b)`` (FP32) or ``MatMulInteger`` (u8 x s8 -> s32), n x n."""
    a_type, b_type, c_type = (UINT8, INT8, INT32) if integer else (FLOAT, FLOAT, FLOAT)
    node = _bytes(1, "a") + _bytes(1, "b") + _bytes(2, "c") + _bytes(3, "gemm") + _bytes(
        4, "MatMulInteger" if integer else "MatMul")
    graph = (_bytes(1, node) + _bytes(2, "gemm") + _bytes(11, _value_info("a", a_type, (n, n)))
             + _bytes(11, _value_info("b", b_type, (n, n))) + _bytes(12, _value_info("c", c_type, (n, n))))
    opset_import = _bytes(1, "") + _int(2, opset)
    return _int(1, 8) + _bytes(2, "reid-toolkit") + _bytes(7, graph) + _bytes(8, opset_import)


# ---------------------------------------------------------------- the measurement

def _ort_matmul(n: int, threads: int, integer: bool) -> Callable[[], object]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(matmul_model(n, integer), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    if integer:
        feed = {"a": rng.integers(0, 255, (n, n), dtype=np.uint8), "b": rng.integers(-127, 127, (n, n), dtype=np.int8)}
    else:
        feed = {"a": rng.standard_normal((n, n), dtype=np.float32), "b": rng.standard_normal((n, n), dtype=np.float32)}
    return lambda: session.run(None, feed)


def _numpy_mm(n: int) -> Callable[[], object]:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    return lambda: a @ b


def measure_peak(n: int = 2048, threads: int | None = None, libraries: tuple[str, ...] = ("numpy", "onnxruntime"),
                 min_seconds: float = 1.0) -> list[GemmPeak]:
    """GEMM throughput of each library and precision here. numpy uses its BLAS's own thread count (set
    ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` before starting Python to change it)."""
    threads = threads or os.cpu_count() or 1
    cases: list[tuple[str, str, Callable[[], Callable[[], object]]]] = []
    if "numpy" in libraries:
        cases.append(("numpy", "fp32", lambda: _numpy_mm(n)))
    if "onnxruntime" in libraries:
        cases += [("onnxruntime", "fp32", lambda: _ort_matmul(n, threads, integer=False)),
                  ("onnxruntime", "int8", lambda: _ort_matmul(n, threads, integer=True))]
    results = []
    for library, precision, make in cases:
        try:
            timing = measure(make(), warmup=2, min_runs=5, max_runs=50, min_seconds=min_seconds)
        except Exception as exc:  # a library or kernel missing on this box is a result, not a crash
            results.append(GemmPeak(library, precision, n, threads, None, None, f"not measured: {exc}"))
            continue
        gflops = 2 * n**3 / (timing.p50_ms * 1e-3) / 1e9
        results.append(GemmPeak(library, precision, n, threads, gflops, timing.p50_ms,
                                "GOP/s (integer)" if precision == "int8" else ""))
    return results


def peak_task(job: dict[str, Any]) -> dict[str, Any]:
    """Worker task (:mod:`reid_runtime.bench.worker`): :func:`measure_peak` in a fresh process."""
    peaks = measure_peak(job["n"], job["threads"], min_seconds=job["min_seconds"])
    return {"peaks": [p.to_dict() for p in peaks]}


def fp32_peak(results: list[GemmPeak]) -> float | None:
    """The best measured FP32 GFLOP/s (a disturbed measurement can only read low)."""
    values = [r.gflops for r in results if r.precision == "fp32" and r.gflops]
    return max(values) if values else None


def peak_table(results: list[GemmPeak]) -> str:
    lines = [f"{'library':<13}{'precision':<11}{'n':>6}{'threads':>9}{'GFLOP/s':>10}{'ms':>9}  {'when':<16}note"]
    for r in results:
        gflops = f"{r.gflops:.1f}" if r.gflops else "-"
        ms = f"{r.p50_ms:.1f}" if r.p50_ms else "-"
        lines.append(f"{r.library:<13}{r.precision:<11}{r.n:>6}{r.threads:>9}{gflops:>10}{ms:>9}  {r.when:<16}"
                     f"{r.note}")
    return "\n".join(lines)
