"""Runs the OpenVINO backend tests in a pytest process of their own: test_openvino_backend.py, and the OSNet cases
below (the FP32 and INT8 files of an OSNet export on OpenVINO), which only that child process runs.

OpenVINO's runtime threads do not survive a fork, so loading it in the main test process would crash the later tests
that fork DataLoader workers (see tests/conftest.py). The child's summary is shown when it fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino")

MODULE = Path(__file__).with_name("test_openvino_backend.py")
CHILD = os.environ.get("REID_TEST_OPENVINO_CHILD") == "1"
in_child = pytest.mark.skipif(not CHILD, reason="runs in the child process of the test above")


@pytest.mark.skipif(CHILD, reason="the parent process starts the child")
def test_openvino_suites_in_their_own_process():
    env = {**os.environ, "REID_TEST_OPENVINO_CHILD": "1"}
    me = test_openvino_suites_in_their_own_process.__name__
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", f"not {me}",
                             str(MODULE), str(Path(__file__))],
                            capture_output=True, text=True, env=env, timeout=900, cwd=MODULE.parents[3])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    summary = result.stdout.splitlines()[-1]
    assert " passed" in summary and " skipped" not in summary, result.stdout[-2000:]  # a skip hides a broken setup


# --- in the child: an OSNet model's FP32 and INT8 files on OpenVINO ---------------------------------------------------


@pytest.fixture(scope="module")
def osnet_files(tiny_mars, tmp_path_factory) -> dict[str, Path]:
    """The untrained sta_osnet_x0_25 at 64x32: FP32 and onnx-int8-cpu (calibrated on tiny_mars' train split)."""
    onnx = pytest.importorskip("onnx")
    from reid_export.onnx_export import export_graphs, finish_export
    from reid_train.backends.torch_backend import build_named_model

    folder = tmp_path_factory.mktemp("ov_osnet")
    model = build_named_model("sta_osnet_x0_25", (64, 32))
    files = {"fp32": folder / "osnet.onnx", "int8": folder / "osnet_int8.onnx"}
    finish_export(model, export_graphs(model), files["fp32"], verify=False)
    finish_export(model, {"full": onnx.load(str(files["fp32"]))}, files["int8"], precision="int8", int8_scheme="cpu",
                  calib=tiny_mars, verify=False)
    return files


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@in_child
def test_osnet_fp32_file_matches_onnxruntime(osnet_files, make_tracklets):
    import reid_runtime

    tracklets = make_tracklets([3, 9, 17], seed=4)
    openvino = reid_runtime.load(osnet_files["fp32"], backend="openvino", threads=1)
    assert openvino.backend_name == "openvino" and openvino.info.architecture == "sta_osnet_x0_25"
    np.testing.assert_allclose(openvino.embed(tracklets, batch_size=2),
                               reid_runtime.load(osnet_files["fp32"], threads=1).embed(tracklets), rtol=1e-4, atol=1e-4)


@in_child
def test_osnet_int8_file_runs_its_convolutions_in_u8(osnet_files, make_tracklets):
    import reid_runtime

    model = reid_runtime.load(osnet_files["int8"], backend="openvino", threads=1)
    assert model.info.precision == "int8"
    runtime = model.backend.full.compiled.get_runtime_model()
    convolutions = [op.get_rt_info()["runtimePrecision"].astype(str) for op in runtime.get_ordered_ops()
                    if op.get_rt_info()["layerType"].astype(str) == "Convolution"]
    assert convolutions and set(convolutions) == {"u8"}  # the channel gates' 1x1 convolutions included
    tracklets = make_tracklets([4, 7, 12], seed=6)
    int8 = model.embed(tracklets)
    assert _cosines(int8, reid_runtime.load(osnet_files["fp32"], threads=1).embed(tracklets)).min() > 0.99
    assert _cosines(int8, reid_runtime.load(osnet_files["int8"], threads=1).embed(tracklets)).min() > 0.99


@in_child
def test_osnet_int8_profile_shows_integer_kernels(osnet_files):
    from reid_runtime.bench.ops import bench_ops

    report = bench_ops([osnet_files["int8"], osnet_files["fp32"]], ["openvino"], seq_len=2, threads=1, runs=2,
                       warmup=1)
    int8, fp32 = report.entries
    assert int8.status == "ok" and int8.calls == 2 and int8.backend == "openvino"
    convolutions = {row.kernel for row in int8.rows if row.op in ("Convolution", "GroupConvolution")}
    # what a user reads off the table: every convolution (the depthwise ones and the gates' 1x1 included) ran in I8
    assert convolutions and all(kernel.endswith("_I8") for kernel in convolutions), convolutions
    assert not any(row.kernel.endswith("_I8") for row in fp32.rows)
    assert "GroupConvolution" in report.table()
