"""TensorRT engine building: everything around the build, the missing-TensorRT error, and a GPU-only real build."""

from __future__ import annotations

import json
import sys

import pytest

from reid_export.onnx_export import read_info
from reid_export.tensorrt_build import (
    TensorRTError,
    build_engine,
    engine_precision,
    read_sidecar,
    sidecar,
    sidecar_path,
    write_sidecar,
)
from reid_runtime.model_format import ModelInfo
from reid_runtime.tensorrt_profiles import ProfileError, parse_profiles, profiles_from_json


@pytest.fixture
def no_tensorrt(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # `import tensorrt` raises ImportError


def test_missing_tensorrt_is_a_clear_error(no_tensorrt, full_exports, tmp_path):
    with pytest.raises(TensorRTError, match=r"TensorRT is not installed: pip install tensorrt \(needs an NVIDIA GPU"):
        build_engine(full_exports["sta_tiny"][0], tmp_path / "m.engine")
    assert not (tmp_path / "m.engine").exists()


def test_cli_reports_missing_tensorrt_in_one_line(no_tensorrt, reid, full_exports, checkpoints, tmp_path):
    for model in (full_exports["sta_tiny"][0], checkpoints["sta_tiny"]):
        run = reid("export", "--model", model, "--format", "tensorrt", "--out", tmp_path / "m.engine")
        assert run.code == 1 and run.out == ""
        assert run.err.strip().splitlines() == [
            "Error: export format 'tensorrt' needs tensorrt, which is not installed here; install it with: "
            "pip install 'reid-toolkit[tensorrt]'"]
    assert not list(tmp_path.iterdir())  # nothing exported before the check


def test_tensorrt_from_a_checkpoint_exports_the_onnx_beside_first(no_tensorrt, monkeypatch, checkpoints, tmp_path):
    """With the requirement waived, the ONNX step (FP16 for --fp16) runs and the engine build asks for TensorRT."""
    import dataclasses

    from reid_export import api, formats
    from reid_runtime.plugins import Requirement

    monkeypatch.setitem(formats.FORMATS, "tensorrt",
                        dataclasses.replace(formats.FORMATS["tensorrt"], requirement=Requirement()))
    with pytest.raises(TensorRTError, match="TensorRT is not installed"):
        api.export(checkpoints["sta_tiny"], "tensorrt", tmp_path / "sta.engine", fp16=True, no_verify=True)
    assert read_info(tmp_path / "sta.onnx").precision == "fp16"
    assert not (tmp_path / "sta.engine").exists()


def test_bad_profiles_fail_before_tensorrt_is_needed(no_tensorrt, full_exports, tmp_path):
    with pytest.raises(ProfileError, match="overlap"):
        build_engine(full_exports["sta_tiny"][0], tmp_path / "m.engine", profiles="1-8x1-4,1-8x4-8")


def test_split_graph_is_rejected(split_exports, tmp_path):
    with pytest.raises(TensorRTError, match="full graph"):
        build_engine(split_exports["sta_tiny"][1].files[0], tmp_path / "m.engine")


@pytest.mark.parametrize("graph, fp16, int8, expected", [
    ("fp32", False, False, "fp32"), ("fp32", True, False, "fp16"), ("fp16", False, False, "fp16"),
    ("int8", False, True, "int8"), ("int8", False, False, "int8"),
])
def test_engine_precision_follows_graph_and_flags(graph, fp16, int8, expected):
    info = ModelInfo(role="full", architecture="sta", input_size=(64, 32), embedding_dim=8, metric="euclidean",
                     precision=graph)
    assert engine_precision(info, fp16=fp16, int8=int8) == expected


@pytest.mark.parametrize("graph, fp16, int8, message", [
    ("fp32", False, True, "onnx-int8"), ("int8", True, False, "--int8, not --fp16"), ("fp32", True, True, "choose"),
])
def test_engine_precision_rejects_impossible_requests(graph, fp16, int8, message):
    info = ModelInfo(role="full", architecture="sta", input_size=(64, 32), embedding_dim=8, metric="euclidean",
                     precision=graph)
    with pytest.raises(TensorRTError, match=message):
        engine_precision(info, fp16=fp16, int8=int8)


def test_sidecar_round_trips_metadata_and_profiles(full_exports, tmp_path):
    info = read_info(full_exports["sta_tiny"][0])
    profiles = parse_profiles("1-32x1-4,1-16x5-8@8x8")
    engine = tmp_path / "sta.engine"
    path = write_sidecar(engine, sidecar(info, profiles, precision="fp16", tensorrt_version="10.9.0",
                                         gpu="NVIDIA H100", source="sta.onnx"))
    assert path == sidecar_path(engine) == tmp_path / "sta.engine.json"
    content = read_sidecar(engine)
    restored = ModelInfo.from_props(content["metadata"], source=str(path))
    assert restored.precision == "fp16" and restored.architecture == "sta_tiny"
    assert restored.seq_lengths_verified == info.seq_lengths_verified
    assert profiles_from_json(content["profiles"]) == profiles
    assert content["profiles"][1]["shapes"] == {"min": [1, 5, 3, 64, 32], "opt": [8, 8, 3, 64, 32],
                                                "max": [16, 8, 3, 64, 32]}
    assert (content["tensorrt_version"], content["gpu"], content["input"]) == ("10.9.0", "NVIDIA H100", "frames")
    assert json.loads(path.read_text())["format"] == "reid-toolkit-engine/1"


@pytest.mark.tensorrt
def test_real_engine_matches_onnxruntime(full_exports, tmp_path):
    trt = pytest.importorskip("tensorrt")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    import numpy as np
    import onnxruntime as ort

    onnx_path = full_exports["sta_tiny"][0]
    build = build_engine(onnx_path, tmp_path / "sta.engine", profiles="1-4x1-4,1-2x5-8")
    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(build.engine.read_bytes())
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    stream = torch.cuda.current_stream()
    for profile_index, (batch, seq) in enumerate([(3, 2), (2, 7)]):
        context = engine.create_execution_context()
        context.set_optimization_profile_async(profile_index, stream.cuda_stream)
        frames = np.random.default_rng(0).uniform(0, 255, (batch, seq, 3, 64, 32)).astype(np.float32)
        inputs = torch.from_numpy(frames).cuda()
        output = torch.empty((batch, 1024), device="cuda")
        context.set_input_shape("frames", tuple(frames.shape))
        context.set_tensor_address("frames", inputs.data_ptr())
        context.set_tensor_address("embedding", output.data_ptr())
        assert context.execute_async_v3(stream.cuda_stream)
        stream.synchronize()
        reference = session.run(None, {"frames": frames})[0]
        np.testing.assert_allclose(output.cpu().numpy(), reference, rtol=1e-2, atol=1e-2)


@pytest.mark.tensorrt
def test_real_engine_from_a_checkpoint(checkpoints, tmp_path):
    pytest.importorskip("tensorrt")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from reid_export import export

    result = export(checkpoints["sta_tiny"], "tensorrt", tmp_path / "sta.engine", fp16=True, profiles="1-4x1-4")
    assert result.files == [tmp_path / "sta.engine", tmp_path / "sta.engine.json", tmp_path / "sta.onnx"]
    assert result.precision == "fp16" and result.verification.passed
    assert read_sidecar(tmp_path / "sta.engine")["metadata"]["reid.precision"] == "fp16"
