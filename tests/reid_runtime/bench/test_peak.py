"""The matrix-multiply peak: the hand-encoded one-node ONNX graphs are valid and compute the product."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from reid_runtime.bench.peak import fp32_peak, matmul_model, measure_peak, peak_table


@pytest.mark.parametrize("integer", [False, True])
def test_the_encoded_graph_computes_the_matrix_product(integer):
    session = ort.InferenceSession(matmul_model(16, integer), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    if integer:
        a, b = rng.integers(0, 255, (16, 16), dtype=np.uint8), rng.integers(-127, 127, (16, 16), dtype=np.int8)
        expected = a.astype(np.int32) @ b.astype(np.int32)
    else:
        a, b = rng.standard_normal((16, 16), dtype=np.float32), rng.standard_normal((16, 16), dtype=np.float32)
        expected = a @ b
    (c,) = session.run(None, {"a": a, "b": b})
    assert c.dtype == expected.dtype and np.allclose(c, expected, atol=1e-4)


def test_the_encoded_graph_is_a_valid_onnx_model():
    onnx = pytest.importorskip("onnx")
    model = onnx.load_from_string(matmul_model(8, integer=True))
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node] == ["MatMulInteger"]
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [8, 8]


def test_peak_is_measured_per_library_and_precision():
    results = measure_peak(64, threads=1, min_seconds=0)
    assert {(r.library, r.precision) for r in results} == {("numpy", "fp32"), ("onnxruntime", "fp32"),
                                                           ("onnxruntime", "int8")}
    assert fp32_peak(results) == max(r.gflops for r in results if r.precision == "fp32") > 0
    assert "GOP/s (integer)" in peak_table(results)
