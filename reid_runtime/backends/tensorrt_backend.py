"""Native TensorRT backend (TensorRT 10+ API): a plain ``.engine`` plus its ``<engine>.json`` sidecar.

The sidecar (written by ``reid export --format tensorrt``) holds the model metadata and the engine's optimization
profiles, buckets over the sequence length. Each request ``(B, T)`` goes to the profile whose T bucket holds T and
is split into chunks of at most that profile's max batch (``tensorrt_profiles.plan_batches``). Each profile gets its own
execution context, made on first use (``set_optimization_profile_async``); inputs are bound with
``set_input_shape`` / ``set_tensor_address`` and run with ``execute_async_v3``. Device memory is handled with
cuda-python. ``tensorrt`` and ``cuda`` are imported only when an engine is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from reid_runtime.backends.base import Backend, as_frames
from reid_runtime.errors import ReidError
from reid_runtime.model_format import INPUT_FRAMES, OUTPUT_EMBEDDING, ModelInfo
from reid_runtime.tensorrt_profiles import Profile, plan_batches, profiles_from_json

SIDECAR_FORMAT = "reid-toolkit-engine/1"


def sidecar_path(engine: str | Path) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")


def read_sidecar(engine: str | Path) -> tuple[ModelInfo, list[Profile]]:
    """The model metadata and optimization profiles recorded beside ``engine``."""
    path = sidecar_path(engine)
    if not path.is_file():
        raise ReidError(f"{path}: missing; a TensorRT engine needs the sidecar that "
                        "`reid export --format tensorrt` writes beside it")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReidError(f"{path}: not a JSON sidecar ({exc})") from exc
    if not isinstance(content, dict) or content.get("format") != SIDECAR_FORMAT:
        found = content.get("format") if isinstance(content, dict) else type(content).__name__
        raise ReidError(f"{path}: not a reid-toolkit engine sidecar (format {found!r}, expected {SIDECAR_FORMAT!r})")
    info = ModelInfo.from_props(content.get("metadata") or {}, source=str(path))
    if info.role != "full":
        raise ReidError(f"{path}: the TensorRT backend runs full-graph engines, this one has role {info.role!r}")
    if not content.get("profiles"):
        raise ReidError(f"{path}: lists no optimization profiles")
    return info, profiles_from_json(content["profiles"])


def run_planned(profiles: list[Profile], frames: np.ndarray,
                execute: Callable[[int, np.ndarray], np.ndarray]) -> np.ndarray:
    """``(B, T, ...)`` frames through ``execute(profile_index, chunk)`` in the chunks the profiles accept, in order."""
    batch, seq = frames.shape[:2]
    parts = [execute(index, frames[start:stop]) for index, start, stop in plan_batches(profiles, batch, seq)]
    return np.concatenate(parts).astype(np.float32, copy=False)


def _import_cudart() -> Any:
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError as exc:
            raise ReidError("the tensorrt backend needs cuda-python for device memory: "
                            "pip install cuda-python") from exc
    return cudart


class TensorRTBackend(Backend):
    name = "tensorrt"
    mode = "full"

    def __init__(self, path: str | Path, device: int = 0) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ReidError(f"{self.path}: engine file not found")
        self.info, self.profiles = read_sidecar(self.path)
        try:
            import tensorrt as trt
        except ImportError as exc:
            raise ReidError(
                f"{self.path}: the tensorrt backend needs TensorRT 10+ (pip install tensorrt, NVIDIA GPU and driver); "
                "without a GPU run the ONNX export with the onnxruntime backend"
            ) from exc
        self._trt = trt
        self._cudart = _import_cudart()
        self._check(self._cudart.cudaSetDevice(device))
        self.device = device
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise ReidError(f"{self.path}: TensorRT cannot deserialize it (built by another TensorRT version or for "
                            "another GPU? engines are tied to both; rebuild with `reid export --format tensorrt`)")
        if self.engine.num_optimization_profiles != len(self.profiles):
            raise ReidError(f"{self.path}: the engine has {self.engine.num_optimization_profiles} optimization "
                            f"profiles but its sidecar lists {len(self.profiles)}; they do not belong together")
        self._check_input()
        self._stream = self._check(self._cudart.cudaStreamCreate())
        self._stream_handle = int(self._stream)  # TensorRT takes the raw cudaStream_t value
        self._contexts: dict[int, Any] = {}
        self._buffers: dict[str, tuple[int, int]] = {}  # tensor name -> (device pointer, bytes)

    def _check(self, result: Any) -> Any:
        """cuda-python returns ``(error, *values)``; raise on an error, return the value."""
        error, *values = result if isinstance(result, tuple) else (result,)
        if int(error) != 0:
            raise ReidError(f"{self.path}: CUDA call failed with {error}")
        return values[0] if values else None

    def _check_input(self) -> None:
        shape = tuple(self.engine.get_tensor_shape(INPUT_FRAMES))
        if shape[-2:] != tuple(self.info.input_size):
            raise ReidError(f"{self.path}: the engine takes {shape[-2]}x{shape[-1]} frames, its sidecar says "
                            f"{self.info.input_size[0]}x{self.info.input_size[1]}")

    def _context(self, index: int) -> Any:
        if index not in self._contexts:
            context = self.engine.create_execution_context()
            context.set_optimization_profile_async(index, self._stream_handle)
            self._contexts[index] = context
        return self._contexts[index]

    def _buffer(self, name: str, nbytes: int) -> int:
        pointer, size = self._buffers.get(name, (0, 0))
        if size < nbytes:
            if pointer:
                self._check(self._cudart.cudaFree(pointer))
            pointer = self._check(self._cudart.cudaMalloc(nbytes))
            self._buffers[name] = (pointer, nbytes)
        return pointer

    def _execute(self, index: int, chunk: np.ndarray) -> np.ndarray:
        trt, cudart = self._trt, self._cudart
        context = self._context(index)
        host_in = np.ascontiguousarray(chunk, dtype=trt.nptype(self.engine.get_tensor_dtype(INPUT_FRAMES)))
        if not context.set_input_shape(INPUT_FRAMES, host_in.shape):
            raise ReidError(f"{self.path}: shape {host_in.shape} is outside profile {self.profiles[index]}")
        host_out = np.empty(tuple(context.get_tensor_shape(OUTPUT_EMBEDDING)),
                            dtype=trt.nptype(self.engine.get_tensor_dtype(OUTPUT_EMBEDDING)))
        device_in = self._buffer(INPUT_FRAMES, host_in.nbytes)
        device_out = self._buffer(OUTPUT_EMBEDDING, host_out.nbytes)
        context.set_tensor_address(INPUT_FRAMES, device_in)
        context.set_tensor_address(OUTPUT_EMBEDDING, device_out)
        kind = cudart.cudaMemcpyKind
        self._check(cudart.cudaMemcpyAsync(device_in, host_in.ctypes.data, host_in.nbytes,
                                           kind.cudaMemcpyHostToDevice, self._stream))
        if not context.execute_async_v3(self._stream_handle):
            raise ReidError(f"{self.path}: TensorRT failed to run a {host_in.shape} batch on profile {index}")
        self._check(cudart.cudaMemcpyAsync(host_out.ctypes.data, device_out, host_out.nbytes,
                                           kind.cudaMemcpyDeviceToHost, self._stream))
        self._check(cudart.cudaStreamSynchronize(self._stream))
        return host_out

    def run_full(self, frames: np.ndarray) -> np.ndarray:
        return run_planned(self.profiles, as_frames(frames, 5), self._execute)

    @property
    def providers(self) -> list[str]:
        return [f"cuda:{self.device}"]

    def describe(self) -> dict[str, Any]:
        return {"tensorrt": self._trt.__version__, "profiles": ", ".join(map(str, self.profiles))}

    def __del__(self) -> None:
        cudart = getattr(self, "_cudart", None)
        if cudart is None:
            return
        for pointer, _ in getattr(self, "_buffers", {}).values():
            cudart.cudaFree(pointer)
        if getattr(self, "_stream", None) is not None:
            cudart.cudaStreamDestroy(self._stream)
