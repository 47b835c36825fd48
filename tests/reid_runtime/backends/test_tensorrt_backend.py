"""TensorRT backend without TensorRT: sidecar reading, profile planning around the engine call, clear errors.

The real engine run needs the tensorrt package and a GPU and is skipped where they are missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import reid_runtime
from reid_runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from reid_runtime.backends.tensorrt_backend import SIDECAR_FORMAT, TensorRTBackend, read_sidecar, run_planned
from reid_runtime.errors import ReidError
from reid_runtime.model import ReidModel
from reid_runtime.model_format import ModelInfo
from reid_runtime.tensorrt_profiles import ProfileError, parse_profiles, profiles_to_json

INFO = ModelInfo(role="full", architecture="sta_tiny", input_size=(64, 32), embedding_dim=32, metric="euclidean")


def _write_engine(folder: Path, info: ModelInfo = INFO, profiles: str = "1-2x1-4,1-3x5-64") -> Path:
    engine = folder / "model.engine"
    engine.write_bytes(b"serialized engine")
    content = {"format": SIDECAR_FORMAT, "metadata": info.to_props(),
               "profiles": profiles_to_json(parse_profiles(profiles))}
    (folder / "model.engine.json").write_text(json.dumps(content))
    return engine


def test_sidecar_written_by_the_exporter_reads_back(tmp_path):
    tensorrt_build = pytest.importorskip("reid_export.tensorrt_build")
    profiles = parse_profiles("1-8x1-4,1-4x5-16")
    content = tensorrt_build.sidecar(INFO, profiles, precision="fp16", tensorrt_version="10.9", gpu="test",
                                     source="model.onnx")
    tensorrt_build.write_sidecar(tmp_path / "m.engine", content)
    info, read = read_sidecar(tmp_path / "m.engine")
    assert read == profiles and info.precision == "fp16" and info.input_size == (64, 32)


def test_sidecar_errors_name_the_file(tmp_path):
    with pytest.raises(ReidError, match="model.engine.json: missing"):
        read_sidecar(tmp_path / "model.engine")
    (tmp_path / "model.engine.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ReidError, match="not a reid-toolkit engine sidecar"):
        read_sidecar(tmp_path / "model.engine")
    head = ModelInfo(**{**INFO.__dict__, "role": "head"})
    _write_engine(tmp_path, head)
    with pytest.raises(ReidError, match="role 'head'"):
        read_sidecar(tmp_path / "model.engine")


def test_requests_are_split_over_profiles_in_order():
    profiles = parse_profiles("1-32x1-4,1-16x5-8")
    calls = []

    def execute(index, chunk):
        calls.append((index, chunk.shape[:2]))
        return chunk[:, 0, 0, 0, :1]

    frames = np.arange(70, dtype=np.float32).reshape(70, 1, 1, 1, 1) * np.ones((1, 4, 3, 1, 1), np.float32)
    out = run_planned(profiles, frames, execute)
    assert calls == [(0, (32, 4)), (0, (32, 4)), (0, (6, 4))]
    np.testing.assert_array_equal(out[:, 0], np.arange(70))
    calls.clear()
    run_planned(profiles, np.zeros((20, 6, 3, 1, 1), np.float32), execute)
    assert calls == [(1, (16, 6)), (1, (4, 6))]
    with pytest.raises(ProfileError, match="seq 9 is outside every profile"):
        run_planned(profiles, np.zeros((1, 9, 3, 1, 1), np.float32), execute)


def test_embedding_through_the_planner_matches_onnxruntime(sta_onnx, make_tracklets, tmp_path):
    """The TensorRT backend's run_full, with the engine call replaced by the ONNX graph it was built from."""
    reference = OnnxRuntimeBackend(sta_onnx, threads=1)
    backend = object.__new__(TensorRTBackend)
    backend.path = _write_engine(tmp_path, reference.info)
    backend.info, backend.profiles = read_sidecar(backend.path)

    def execute(index, chunk):
        assert backend.profiles[index].covers(*chunk.shape[:2])
        return reference.run_full(chunk)

    backend._execute = execute
    tracklets = make_tracklets([1, 3, 6, 4, 9])
    for sampling in ("dense", "all"):
        expected = ReidModel(reference).embed(tracklets, sampling=sampling, batch_size=5)
        got = ReidModel(backend).embed(tracklets, sampling=sampling, batch_size=5)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_missing_tensorrt_is_explained(tmp_path):
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("tensorrt is installed")
    engine = _write_engine(tmp_path)
    with pytest.raises(ReidError, match=r"needs tensorrt.*pip install .reid-toolkit\[tensorrt\]"):
        reid_runtime.load(engine)


@pytest.mark.tensorrt
def test_real_engine_matches_onnxruntime(sta_onnx, make_tracklets, tmp_path):
    pytest.importorskip("tensorrt")
    tensorrt_build = pytest.importorskip("reid_export.tensorrt_build")
    engine = tensorrt_build.build_engine(sta_onnx, tmp_path / "sta.engine", profiles="1-4x1-4,1-2x5-16").engine
    model = reid_runtime.load(engine)
    assert model.backend_name == "tensorrt"
    tracklets = make_tracklets([1, 3, 6, 9, 12])
    for sampling in ("dense", "all"):
        expected = reid_runtime.load(sta_onnx).embed(tracklets, sampling=sampling)
        np.testing.assert_allclose(model.embed(tracklets, sampling=sampling, batch_size=8), expected,
                                   rtol=1e-3, atol=1e-3)
