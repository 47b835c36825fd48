"""TensorRT engine building: everything around the build, the missing-TensorRT error, and a GPU-only real build.

The builder's calls run against ``FakeBuilderTensorRT`` (a stand-in ``tensorrt`` module in ``sys.modules`` that
records the calls and refuses what it is told to refuse), so every return value the exporter must check is checked
here; whether a real TensorRT accepts the same calls is left to the GPU-only tests.
"""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
from typing import Any

import pytest

from reid_export.onnx_export import read_info
from reid_export.tensorrt_build import (
    TensorRTError,
    build_engine,
    engine_precision,
    parser_failure,
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
    assert engine.num_optimization_profiles == 2
    context = engine.create_execution_context(trt.ExecutionContextAllocationStrategy.STATIC)  # one for both profiles
    assert context is not None
    for profile_index, (batch, seq) in enumerate([(3, 2), (2, 7), (1, 3)]):
        assert context.set_optimization_profile_async(profile_index % 2, stream.cuda_stream)
        frames = np.random.default_rng(0).uniform(0, 255, (batch, seq, 3, 64, 32)).astype(np.float32)
        inputs = torch.from_numpy(frames).cuda()
        output = torch.empty((batch, 1024), device="cuda")
        assert context.set_input_shape("frames", tuple(frames.shape))
        assert context.set_tensor_address("frames", inputs.data_ptr())
        assert context.set_tensor_address("embedding", output.data_ptr())
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


# --- the builder against a stand-in tensorrt module -------------------------------------------------------------------


class FakeBuilderTensorRT:
    """The builder half of the ``tensorrt`` API, recording calls in ``calls``.

    ``refuse`` says what TensorRT turns down: ``"profile"`` -> the index of a profile ``add_optimization_profile``
    answers -1 for; ``"profile_index"`` -> an index to answer instead of the next one; ``"set_shape"`` / ``"invalid"``
    -> a profile whose ``set_shape`` raises / whose ``isValid()`` is false; ``"build"`` -> ``build_serialized_network``
    gives None; ``"parse"`` -> the parser's errors. A timing cache blob starting with ``b"other-gpu"`` is a mismatch
    (``set_timing_cache`` answers False unless told to ignore it), one starting with ``b"junk"`` does not load.
    """

    def __init__(self, refuse: dict[str, Any] | None = None) -> None:
        self.refuse = dict(refuse or {})
        self.calls: list[tuple[str, tuple]] = []

    def names(self, *wanted: str) -> list[tuple]:
        return [args for name, args in self.calls if name in wanted]

    def module(self) -> types.ModuleType:
        fake = self

        class Profile:
            def __init__(self, position: int) -> None:
                self.position, self.valid = position, position != fake.refuse.get("invalid")

            def set_shape(self, name: str, low, opt, high) -> None:
                fake.calls.append(("set_shape", (self.position, name, tuple(low), tuple(opt), tuple(high))))
                if self.position == fake.refuse.get("set_shape"):
                    raise RuntimeError("Shape provided for max is inconsistent with other shapes.")

            def __bool__(self) -> bool:
                return self.valid

        class Cache:
            def __init__(self, blob: bytes) -> None:
                self.blob = blob

            def serialize(self) -> bytes:
                return b"timing cache after " + self.blob

        class Config:
            def __init__(self) -> None:
                self.profiles = 0
                self.cache: Cache | None = None

            def set_memory_pool_limit(self, pool: str, size: int) -> None:
                fake.calls.append(("set_memory_pool_limit", (pool, size)))

            def add_optimization_profile(self, profile: Profile) -> int:
                fake.calls.append(("add_optimization_profile", (profile.position,)))
                if profile.position == fake.refuse.get("profile"):
                    return -1
                index = fake.refuse.get("profile_index", self.profiles)
                self.profiles += 1
                return index

            def create_timing_cache(self, blob: bytes) -> Cache | None:
                fake.calls.append(("create_timing_cache", (bytes(blob),)))
                return None if blob.startswith(b"junk") else Cache(bytes(blob))

            def set_timing_cache(self, cache: Cache, ignore_mismatch: bool) -> bool:
                fake.calls.append(("set_timing_cache", (cache.blob, ignore_mismatch)))
                if cache.blob.startswith(b"other-gpu") and not ignore_mismatch:
                    return False
                self.cache = cache
                return True

            def get_timing_cache(self) -> Cache | None:
                return self.cache

        class ParserError:
            def __init__(self, node: str, operator: str, desc: str) -> None:
                self._node, self._operator, self._desc = node, operator, desc

            def desc(self) -> str:
                return self._desc

            def node_name(self) -> str:
                return self._node

            def node_operator(self) -> str:
                return self._operator

        class OnnxParser:
            def __init__(self, network: object, logger: object) -> None:
                self.errors = [ParserError(*error) for error in fake.refuse.get("parse", [])]

            def parse(self, data: bytes) -> bool:
                fake.calls.append(("parse", (len(data),)))
                return not self.errors and "parse" not in fake.refuse

            @property
            def num_errors(self) -> int:
                return len(self.errors)

            def get_error(self, index: int) -> ParserError:
                return self.errors[index]

        class Builder:
            def __init__(self, logger: object) -> None:
                self.created = 0

            def create_network(self, flags: int) -> object:
                fake.calls.append(("create_network", (flags,)))
                return object()

            def create_builder_config(self) -> Config:
                return Config()

            def create_optimization_profile(self) -> Profile:
                self.created += 1
                return Profile(self.created - 1)

            def build_serialized_network(self, network: object, config: Config) -> bytes | None:
                fake.calls.append(("build_serialized_network", (config.profiles,)))
                return None if fake.refuse.get("build") else b"fake serialized engine"

        module = types.ModuleType("tensorrt")
        module.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)
        module.__dict__.update(
            __version__="10.99.0-fake", Logger=type("Logger", (), {"WARNING": 2, "__init__": lambda self, s: None}),
            Builder=Builder, OnnxParser=OnnxParser, MemoryPoolType=types.SimpleNamespace(WORKSPACE="WORKSPACE"),
            NetworkDefinitionCreationFlag=types.SimpleNamespace(STRONGLY_TYPED=3))
        return module


@pytest.fixture
def fake_builder(monkeypatch):
    def install(**refuse: Any) -> FakeBuilderTensorRT:
        fake = FakeBuilderTensorRT(refuse)
        monkeypatch.setitem(sys.modules, "tensorrt", fake.module())
        return fake

    return install


PROFILES = "1-4x1-4,1-2x5-8@2x6,1x9-16"


def test_build_sets_every_profile_and_the_timing_cache_strictly(fake_builder, full_exports, tmp_path):
    fake = fake_builder()
    onnx_path = full_exports["sta_tiny"][0]
    cache = tmp_path / "trt.cache"
    build = build_engine(onnx_path, tmp_path / "m.engine", profiles=PROFILES, timing_cache=cache)
    profiles = parse_profiles(PROFILES)
    assert build.engine.read_bytes() == b"fake serialized engine" and build.profiles == profiles
    assert fake.names("set_shape") == [(i, "frames", *p.shapes((64, 32))) for i, p in enumerate(profiles)]
    assert fake.names("set_shape")[1][3] == (2, 6, 3, 64, 32)  # the @2x6 optimum
    assert fake.names("add_optimization_profile") == [(0,), (1,), (2,)]
    assert fake.names("create_network") == [(1 << 3,)]  # strongly typed
    # a new cache starts empty, is attached refusing mismatches, and is saved after the build
    assert fake.names("set_timing_cache") == [(b"", False)]
    assert cache.read_bytes() == b"timing cache after "
    assert profiles_from_json(read_sidecar(build.engine)["profiles"]) == profiles
    # a second build reuses the saved cache
    build_engine(onnx_path, tmp_path / "m2.engine", profiles=PROFILES, timing_cache=cache)
    assert fake.names("set_timing_cache")[-1] == (b"timing cache after ", False)


@pytest.mark.parametrize("refuse, message", [
    ({"profile": 1}, r"profile 1 \(1-2x5-8@2x6\): TensorRT add_optimization_profile returned -1"),
    ({"profile_index": 0}, r"profile 1 \(1-2x5-8@2x6\): TensorRT add_optimization_profile returned index 0, "
                           "expected 1"),
    ({"set_shape": 2}, r"profile 2 \(1-1x9-16\): TensorRT set_shape\('frames', min=\(1, 9, 3, 64, 32\), "
     r"opt=\(1, 16, 3, 64, 32\), max=\(1, 16, 3, 64, 32\)\) failed \(RuntimeError: Shape provided for max"),
    ({"invalid": 0}, r"profile 0 \(1-4x1-4\): TensorRT says the profile is not valid"),
    ({"build": True}, r"TensorRT build_serialized_network returned None"),
])
def test_builder_refusals_are_one_line_errors_and_write_nothing(fake_builder, full_exports, tmp_path, refuse,
                                                                 message):
    fake_builder(**refuse)
    onnx_path = full_exports["sta_tiny"][0]
    with pytest.raises(TensorRTError, match=message) as raised:
        build_engine(onnx_path, tmp_path / "m.engine", profiles=PROFILES, timing_cache=tmp_path / "trt.cache")
    text = str(raised.value)
    assert "\n" not in text and text.startswith(f"{onnx_path}: ")
    assert not list(tmp_path.iterdir())  # no engine, no sidecar, no timing cache


@pytest.mark.parametrize("blob, message", [
    (b"other-gpu timings", r"TensorRT set_timing_cache refused it \(ignore_mismatch=False\): the cache was made by "
                           "another TensorRT version or GPU"),
    (b"junk", "TensorRT create_timing_cache returned None: not a TensorRT timing cache"),
])
def test_mismatched_or_corrupt_timing_cache_is_refused(fake_builder, full_exports, tmp_path, blob, message):
    fake = fake_builder()
    cache = tmp_path / "trt.cache"
    cache.write_bytes(blob)
    with pytest.raises(TensorRTError, match=message) as raised:
        build_engine(full_exports["sta_tiny"][0], tmp_path / "m.engine", profiles=PROFILES, timing_cache=cache)
    assert str(raised.value).startswith(f"{cache}: ") and "\n" not in str(raised.value)
    assert not fake.names("build_serialized_network")  # refused before the (minutes-long) build
    assert sorted(tmp_path.iterdir()) == [cache] and cache.read_bytes() == blob


def test_parser_errors_are_all_listed_in_one_line(fake_builder, full_exports, tmp_path):
    errors = [("/backbone/Conv_3", "DequantizeLinear", "only activation types allowed as input to this layer."),
              ("/head/Add", "Add", "Invalid Node -\nmulti-line\tdescription"),
              ("", "", "no node at all")]
    fake_builder(parse=errors)
    onnx_path = full_exports["sta_tiny"][0]
    lines: list[str] = []
    with pytest.raises(TensorRTError) as raised:
        build_engine(onnx_path, tmp_path / "m.engine", profiles=PROFILES, log=lines.append)
    assert str(raised.value) == (
        f"{onnx_path}: TensorRT's ONNX parser rejected it with 3 error(s): [1] node /backbone/Conv_3 "
        "(DequantizeLinear): only activation types allowed as input to this layer.; [2] node /head/Add (Add): Invalid "
        "Node - multi-line description; [3] no node at all")
    assert lines == [f"TensorRT ONNX parser error {i}/3: {text}" for i, text in enumerate([
        "node /backbone/Conv_3 (DequantizeLinear): only activation types allowed as input to this layer.",
        "node /head/Add (Add): Invalid Node - multi-line description", "no node at all"], 1)]
    assert not list(tmp_path.iterdir())


def test_parser_failure_without_errors_still_says_so(fake_builder, full_exports, tmp_path):
    fake_builder(parse=[])
    with pytest.raises(TensorRTError, match="TensorRT's ONNX parser rejected it without reporting an error"):
        build_engine(full_exports["sta_tiny"][0], tmp_path / "m.engine", profiles=PROFILES)
    assert "rejected it without" in parser_failure("x.onnx", types.SimpleNamespace(num_errors=0))


def test_cli_reports_a_mismatched_timing_cache_in_one_line(fake_builder, reid, full_exports, tmp_path):
    fake_builder()
    cache = tmp_path / "trt.cache"
    cache.write_bytes(b"other-gpu timings")
    run = reid("export", "--model", full_exports["sta_tiny"][0], "--format", "tensorrt", "--out",
               tmp_path / "m.engine", "--timing-cache", cache)
    assert run.code == 2 and run.out == ""
    assert run.err.strip().splitlines() == [
        f"Error: {cache}: TensorRT set_timing_cache refused it (ignore_mismatch=False): the cache was made by another "
        "TensorRT version or GPU; delete it or pass another --timing-cache path"]
