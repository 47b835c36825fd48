"""TensorRT backend without TensorRT: sidecar reading, profile planning around the engine call, clear errors.

The TensorRT and cuda-python calls themselves run against a stand-in (``FakeTensorRT``, injected into
``sys.modules``) that records every call and can make any of them fail the way TensorRT reports failure; "device
memory" is host memory, so the bytes really travel through the backend's buffers. What the stand-in cannot show --
that a real engine accepts these calls in this order and that one context's memory is what TensorRT documents -- is
left to the real engine test, skipped where tensorrt and a GPU are missing.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import json
import sys
import types
from pathlib import Path
from typing import Any

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


# --- a stand-in for the tensorrt + cuda-python runtime API ------------------------------------------------------------

STREAM = 77


class FakeTensorRT:
    """The ``tensorrt`` and ``cuda.bindings.runtime`` calls the backend makes, recorded in ``calls``.

    ``fail`` maps a call name to what it gives instead of success: ``False`` / ``None`` (TensorRT's failure values)
    or an exception instance to raise (the Python bindings raise ``RuntimeError`` from
    ``set_optimization_profile_async``). ``compute`` maps a ``(B, T, 3, H, W)`` float32 batch to ``(B, D)``.
    """

    def __init__(self, info: ModelInfo, profiles: list, compute, fail: dict[str, Any] | None = None) -> None:
        self.info, self.profiles, self.compute = info, profiles, compute
        self.fail = dict(fail or {})
        self.calls: list[tuple[str, tuple]] = []
        self.contexts: list[FakeContext] = []
        self.device: dict[int, np.ndarray] = {}  # pointer -> "device" buffer (host memory)
        self.num_optimization_profiles = len(profiles)

    def result(self, name: str, args: tuple, success: Any) -> Any:
        self.calls.append((name, args))
        outcome = self.fail.get(name, success)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def names(self, *wanted: str) -> list[tuple[str, tuple]]:
        return [call for call in self.calls if call[0] in wanted]

    def modules(self) -> dict[str, types.ModuleType]:
        fake = self

        def module(name: str, **attributes: Any) -> types.ModuleType:
            mod = types.ModuleType(name)
            mod.__spec__ = importlib.machinery.ModuleSpec(name, None)  # find_spec() needs one
            mod.__dict__.update(attributes)
            return mod

        class Logger:
            WARNING = 2

            def __init__(self, severity: int) -> None:
                self.severity = severity

        class Runtime:
            def __init__(self, logger: Logger) -> None:
                self.logger = logger

            def deserialize_cuda_engine(self, data: bytes):
                return fake.result("deserialize_cuda_engine", (data,), FakeEngine(fake))

        tensorrt = module(
            "tensorrt", __version__="10.99.0-fake", Logger=Logger, Runtime=Runtime, nptype=lambda dtype: np.float32,
            ExecutionContextAllocationStrategy=types.SimpleNamespace(
                STATIC="STATIC", ON_PROFILE_CHANGE="ON_PROFILE_CHANGE", USER_MANAGED="USER_MANAGED"))

        def malloc(nbytes: int):
            buffer = np.zeros(nbytes, np.uint8)
            fake.device[buffer.ctypes.data] = buffer
            return fake.result("cudaMalloc", (nbytes,), 0), buffer.ctypes.data

        def free(pointer: int):
            fake.device.pop(pointer)
            return (fake.result("cudaFree", (pointer,), 0),)

        def memcpy(dst: int, src: int, nbytes: int, kind: int, stream: int):
            ctypes.memmove(dst, src, nbytes)
            return (fake.result("cudaMemcpyAsync", (kind, nbytes, stream), 0),)

        runtime = module(
            "cuda.bindings.runtime",
            cudaSetDevice=lambda device: (fake.result("cudaSetDevice", (device,), 0),),
            cudaStreamCreate=lambda: (fake.result("cudaStreamCreate", (), 0), STREAM),
            cudaStreamSynchronize=lambda stream: (fake.result("cudaStreamSynchronize", (stream,), 0),),
            cudaStreamDestroy=lambda stream: (fake.result("cudaStreamDestroy", (stream,), 0),),
            cudaMalloc=malloc, cudaFree=free, cudaMemcpyAsync=memcpy,
            cudaMemcpyKind=types.SimpleNamespace(cudaMemcpyHostToDevice="H2D", cudaMemcpyDeviceToHost="D2H"))
        bindings = module("cuda.bindings", runtime=runtime)
        return {"tensorrt": tensorrt, "cuda": module("cuda", bindings=bindings), "cuda.bindings": bindings,
                "cuda.bindings.runtime": runtime}


class FakeEngine:
    def __init__(self, fake: FakeTensorRT) -> None:
        self.fake = fake
        self.num_optimization_profiles = fake.num_optimization_profiles
        self.device_memory_size_v2 = 3 << 20

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        height, width = self.fake.info.input_size
        return (-1, -1, 3, height, width) if name == "frames" else (-1, self.fake.info.embedding_dim)

    def get_tensor_dtype(self, name: str) -> str:
        return "FLOAT"

    def create_execution_context(self, strategy: str = "STATIC"):
        context = FakeContext(self.fake)
        outcome = self.fake.result("create_execution_context", (strategy,), context)
        if outcome is context:
            self.fake.contexts.append(context)
        return outcome


class FakeContext:
    """Checks what TensorRT checks: a profile index in range, an input shape inside the selected profile."""

    def __init__(self, fake: FakeTensorRT) -> None:
        self.fake = fake
        self.profile: int | None = None
        self.shape: tuple[int, ...] | None = None
        self.addresses: dict[str, int] = {}

    def set_optimization_profile_async(self, index: int, stream: int) -> bool:
        valid = 0 <= index < self.fake.num_optimization_profiles and stream == STREAM
        if valid:
            self.profile, self.shape = index, None  # switching invalidates the input shapes
        return self.fake.result("set_optimization_profile_async", (index, stream), valid)

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        height, width = self.fake.info.input_size
        valid = (self.profile is not None and name == "frames" and tuple(shape[2:]) == (3, height, width)
                 and self.fake.profiles[self.profile].covers(shape[0], shape[1]))
        if valid:
            self.shape = tuple(shape)
        return self.fake.result("set_input_shape", (name, tuple(shape)), valid)

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return (self.shape[0] if self.shape else -1, self.fake.info.embedding_dim)

    def set_tensor_address(self, name: str, pointer: int) -> bool:
        self.addresses[name] = pointer
        return self.fake.result("set_tensor_address", (name,), pointer in self.fake.device)

    def execute_async_v3(self, stream: int) -> bool:
        ok = self.fake.result("execute_async_v3", (self.profile, self.shape, stream), True)
        if ok is True:
            count = int(np.prod(self.shape))
            frames = np.ctypeslib.as_array((ctypes.c_float * count).from_address(self.addresses["frames"]))
            out = self.fake.compute(frames.reshape(self.shape).copy()).astype(np.float32)
            target = (ctypes.c_float * out.size).from_address(self.addresses["embedding"])
            np.ctypeslib.as_array(target)[:] = out.ravel()
        return ok


def _summary(frames: np.ndarray) -> np.ndarray:
    """A ``(B, T, 3, H, W)`` -> ``(B, 32)`` stand-in network: the clip mean, T and the clip's first pixel."""
    batch, seq = frames.shape[:2]
    out = np.zeros((batch, INFO.embedding_dim), np.float32)
    out[:, 0] = frames.mean(axis=(1, 2, 3, 4))
    out[:, 1] = seq
    out[:, 2] = frames[:, 0, 0, 0, 0]
    return out


@pytest.fixture
def fake_trt(monkeypatch, tmp_path):
    """``fake_trt(profiles, fail=..., info=..., compute=...)`` -> (the FakeTensorRT, its engine path)."""

    def make(profiles: str = "1-2x1-4,1-3x5-8,1-2x9-16", fail: dict[str, Any] | None = None, info: ModelInfo = INFO,
             compute=_summary) -> tuple[FakeTensorRT, Path]:
        engine = _write_engine(tmp_path, info, profiles)
        fake = FakeTensorRT(info, parse_profiles(profiles), compute, fail)
        for name, module in fake.modules().items():
            monkeypatch.setitem(sys.modules, name, module)
        return fake, engine

    return make


def _frames(batch: int, seq: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (batch, seq, 3, 64, 32)).astype(np.float32)


def test_one_context_serves_every_profile_and_switches_by_t(fake_trt):
    fake, engine = fake_trt()
    model = reid_runtime.load(engine)
    assert model.backend_name == "tensorrt"
    assert fake.names("create_execution_context") == [("create_execution_context", ("STATIC",))]
    requests = [(5, 4), (3, 6), (2, 7), (4, 12), (1, 3), (1, 2)]  # T buckets 0, 1, 1, 2, 0, 0
    for batch, seq in requests:
        frames = _frames(batch, seq, seed=batch * 100 + seq)
        np.testing.assert_array_equal(model.backend.run_full(frames), _summary(frames))
    assert len(fake.contexts) == 1 and len(fake.names("create_execution_context")) == 1
    switches = [args[0] for _, args in fake.names("set_optimization_profile_async")]
    assert switches == [0, 1, 2, 0]  # only when the T bucket changes
    assert all(args[1] == STREAM for _, args in fake.names("set_optimization_profile_async"))
    runs = [(profile, shape[:2]) for _, (profile, shape, _) in fake.names("execute_async_v3")]
    assert runs == [(0, (2, 4)), (0, (2, 4)), (0, (1, 4)), (1, (3, 6)), (1, (2, 7)), (2, (2, 12)), (2, (2, 12)),
                    (0, (1, 3)), (0, (1, 2))]
    # the switch comes before the shape of the new profile is set (TensorRT's documented order)
    order = [name for name, _ in fake.names("set_optimization_profile_async", "set_input_shape")]
    assert order[order.index("set_optimization_profile_async", 1) + 1] == "set_input_shape"
    assert model.backend.describe()["execution_contexts"] == 1
    assert model.backend.describe()["context_memory_mib"] == 3.0


def test_context_count_does_not_grow_with_profiles(fake_trt):
    for profiles in ("1-4x1-64", "1-4x1-2,1-4x3-4,1-4x5-8,1-4x9-16,1-4x17-64"):
        fake, engine = fake_trt(profiles)
        model = reid_runtime.load(engine)
        for seq in (1, 3, 6, 12, 40, 2):
            model.backend.run_full(_frames(2, seq))
        assert len(fake.contexts) == 1
        assert len(fake.names("set_optimization_profile_async")) == (1 if profiles == "1-4x1-64" else 6)


def test_fake_engine_path_matches_onnxruntime(fake_trt, sta_onnx, make_tracklets):
    """Loading, profile switching, sub-batching and the host/device copies, with the ONNX graph as the engine."""
    reference = OnnxRuntimeBackend(sta_onnx, threads=1)
    fake, engine = fake_trt("1-2x1-4,1-3x5-16", info=reference.info, compute=reference.run_full)
    model = reid_runtime.load(engine)
    tracklets = make_tracklets([1, 3, 6, 4, 9, 12])
    for sampling in ("dense", "all"):
        expected = ReidModel(reference).embed(tracklets, sampling=sampling, batch_size=5)
        np.testing.assert_allclose(model.embed(tracklets, sampling=sampling, batch_size=5), expected,
                                   rtol=1e-5, atol=1e-5)
    assert len(fake.contexts) == 1
    assert {args[0] for _, args in fake.names("set_optimization_profile_async")} == {0, 1}


@pytest.mark.parametrize("call, outcome, message", [
    ("deserialize_cuda_engine", None, "TensorRT deserialize_cuda_engine returned None"),
    ("create_execution_context", None, "TensorRT create_execution_context returned None"),
    ("set_optimization_profile_async", False,
     r"TensorRT set_optimization_profile_async\(0\) returned False for profile 1-2x1-4"),
    ("set_optimization_profile_async", RuntimeError("Error in set optimization profile async.\n"),
     r"TensorRT set_optimization_profile_async\(0\) failed for profile 1-2x1-4 \(RuntimeError: Error in set "
     r"optimization profile async.\)"),
    ("set_input_shape", False,
     r"TensorRT set_input_shape\('frames', \(2, 4, 3, 64, 32\)\) returned False on profile 0 \(1-2x1-4\)"),
    ("set_tensor_address", False, r"TensorRT set_tensor_address\('frames'\) returned False on profile 0"),
    ("execute_async_v3", False,
     r"TensorRT execute_async_v3 returned False for a \(2, 4, 3, 64, 32\) batch on profile 0 \(1-2x1-4\)"),
])
def test_each_failing_tensorrt_call_is_one_line_naming_engine_and_call(fake_trt, call, outcome, message):
    fake, engine = fake_trt(fail={call: outcome})
    with pytest.raises(ReidError, match=message) as raised:
        reid_runtime.load(engine).backend.run_full(_frames(2, 4))
    text = str(raised.value)
    assert "\n" not in text and text.startswith(f"{engine}: TensorRT {call}")


def test_failed_profile_switch_is_retried_on_the_next_request(fake_trt):
    fake, engine = fake_trt(fail={"set_optimization_profile_async": False})
    model = reid_runtime.load(engine)
    with pytest.raises(ReidError, match="set_optimization_profile_async"):
        model.backend.run_full(_frames(1, 6))
    assert not fake.names("set_input_shape", "execute_async_v3")  # nothing ran after the failed switch
    fake.fail.clear()
    frames = _frames(1, 6)
    np.testing.assert_array_equal(model.backend.run_full(frames), _summary(frames))
    assert [args[0] for _, args in fake.names("set_optimization_profile_async")] == [1, 1]


def test_engine_and_sidecar_disagreeing_on_profiles_is_refused(fake_trt):
    fake, engine = fake_trt()
    fake.num_optimization_profiles = 2
    with pytest.raises(ReidError, match="the engine has 2 optimization profiles but its sidecar lists 3"):
        reid_runtime.load(engine)
    assert not fake.contexts
