"""Native TensorRT backend (TensorRT 10+ API): a plain ``.engine`` plus its ``<engine>.json`` sidecar.

The sidecar (written by ``reid export --format tensorrt``) holds the model metadata and the engine's optimization
profiles, buckets over the sequence length. Each request ``(B, T)`` goes to the profile whose T bucket holds T and
is split into chunks of at most that profile's max batch (``tensorrt_profiles.plan_batches``).

One execution context serves every profile: it is created once with the ``STATIC`` allocation strategy (activation
memory for the largest profile, reserved once) and switched with ``set_optimization_profile_async`` when the T bucket
of a request differs from the active one. Inputs are bound with ``set_input_shape`` / ``set_tensor_address`` and run
with ``execute_async_v3``; every TensorRT call that reports failure (``False``, ``None`` or, in the Python bindings
of some calls, a ``RuntimeError``) becomes a one-line :class:`ReidError` naming the engine and the call. Device
memory is handled with cuda-python. ``tensorrt`` and ``cuda`` are imported only when an engine is loaded.
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


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class TensorRTBackend(Backend):
    """A TensorRT engine on one GPU: one execution context, switched between the sidecar's profiles by T.

    Why one context: TensorRT 10 documents ``ExecutionContextAllocationStrategy.STATIC`` (the default of
    ``ICudaEngine.create_execution_context``) as "static allocation with the maximum size across all profiles", so
    every context reserves the activation memory of the largest profile; one context per profile reserved it once per
    profile. ``IExecutionContext.set_optimization_profile_async(index, stream)`` selects another profile on the same
    context; it must precede ``set_input_shape`` for the new profile, and the stream it is enqueued on must be ordered
    with the ``execute_async_v3`` stream -- both use ``self._stream_handle`` here. TensorRT notes that a switch
    triggers layer resource updates on the next enqueue, so the profile is switched only when the T bucket changes.
    """

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
        runtime = self._call("Runtime(Logger)", trt.Runtime, trt.Logger(trt.Logger.WARNING))
        self.engine = self._call_or_none("deserialize_cuda_engine", runtime.deserialize_cuda_engine,
                                         self.path.read_bytes())
        if self.engine is None:
            raise ReidError(f"{self.path}: TensorRT deserialize_cuda_engine returned None (built by another TensorRT "
                            "version or for another GPU? engines are tied to both; rebuild with `reid export --format "
                            "tensorrt`)")
        if self.engine.num_optimization_profiles != len(self.profiles):
            raise ReidError(f"{self.path}: the engine has {self.engine.num_optimization_profiles} optimization "
                            f"profiles but its sidecar lists {len(self.profiles)}; they do not belong together")
        self._check_input()
        self._stream = self._check(self._cudart.cudaStreamCreate())
        self._stream_handle = int(self._stream)  # TensorRT takes the raw cudaStream_t value
        self._buffers: dict[str, tuple[int, int]] = {}  # tensor name -> (device pointer, bytes)
        self.context = self._create_context()
        self._active_profile: int | None = None  # selected explicitly on first use, never assumed

    def _check(self, result: Any) -> Any:
        """cuda-python returns ``(error, *values)``; raise on an error, return the value."""
        error, *values = result if isinstance(result, tuple) else (result,)
        if int(error) != 0:
            raise ReidError(f"{self.path}: CUDA call failed with {error}")
        return values[0] if values else None

    def _call_or_none(self, call: str, func: Callable[..., Any], *args: Any, where: str = "") -> Any:
        """``func(*args)``, a raised error turned into one ReidError line naming ``call``; ``None`` passes through."""
        try:
            return func(*args)
        except ReidError:
            raise
        except Exception as exc:  # the bindings raise RuntimeError where the C++ API returns false (profile switch)
            raise ReidError(f"{self.path}: TensorRT {call} failed{where} ({_one_line(exc)})") from exc

    def _call(self, call: str, func: Callable[..., Any], *args: Any, where: str = "") -> Any:
        """Like :meth:`_call_or_none`, and a ``False`` or ``None`` result (TensorRT's failure values) raises too."""
        result = self._call_or_none(call, func, *args, where=where)
        if result is None or result is False:
            raise ReidError(f"{self.path}: TensorRT {call} returned {result}{where}")
        return result

    def _check_input(self) -> None:
        shape = tuple(self.engine.get_tensor_shape(INPUT_FRAMES))
        if shape[-2:] != tuple(self.info.input_size):
            raise ReidError(f"{self.path}: the engine takes {shape[-2]}x{shape[-1]} frames, its sidecar says "
                            f"{self.info.input_size[0]}x{self.info.input_size[1]}")

    def _device_memory_bytes(self) -> int | None:
        """Activation memory one context reserves (``device_memory_size_v2``, TensorRT 10.1+), if the engine says."""
        for attribute in ("device_memory_size_v2", "device_memory_size"):
            value = getattr(self.engine, attribute, None)
            if isinstance(value, int):
                return value
        return None

    def _create_context(self) -> Any:
        strategy = self._trt.ExecutionContextAllocationStrategy.STATIC
        context = self._call_or_none("create_execution_context", self.engine.create_execution_context, strategy)
        if context is None:
            size = self._device_memory_bytes()
            needs = f"; it needs {size / 2**20:.1f} MiB of activation memory" if size is not None else ""
            raise ReidError(f"{self.path}: TensorRT create_execution_context returned None (out of GPU memory on "
                            f"cuda:{self.device}?{needs})")
        return context

    def _select_profile(self, index: int) -> None:
        """Switch the one context to profile ``index`` when it is not the active one."""
        if index == self._active_profile:
            return
        self._active_profile = None  # unknown until the switch succeeds
        self._call(f"set_optimization_profile_async({index})", self.context.set_optimization_profile_async, index,
                   self._stream_handle, where=f" for profile {self.profiles[index]}")
        self._active_profile = index

    def _buffer(self, name: str, nbytes: int) -> int:
        pointer, size = self._buffers.get(name, (0, 0))
        if size < nbytes:
            if pointer:
                self._check(self._cudart.cudaFree(pointer))
                del self._buffers[name]
            pointer = self._check(self._cudart.cudaMalloc(nbytes))
            self._buffers[name] = (pointer, nbytes)
        return pointer

    def _execute(self, index: int, chunk: np.ndarray) -> np.ndarray:
        trt, cudart, context = self._trt, self._cudart, self.context
        self._select_profile(index)
        where = f" on profile {index} ({self.profiles[index]})"
        host_in = np.ascontiguousarray(chunk, dtype=trt.nptype(self.engine.get_tensor_dtype(INPUT_FRAMES)))
        self._call(f"set_input_shape({INPUT_FRAMES!r}, {host_in.shape})", context.set_input_shape, INPUT_FRAMES,
                   host_in.shape, where=where)
        out_shape = tuple(context.get_tensor_shape(OUTPUT_EMBEDDING))
        if any(dim < 0 for dim in out_shape) or out_shape[:1] != host_in.shape[:1]:
            raise ReidError(f"{self.path}: TensorRT get_tensor_shape({OUTPUT_EMBEDDING!r}) gave {out_shape} for "
                            f"input {host_in.shape}{where}; expected ({host_in.shape[0]}, D)")
        host_out = np.empty(out_shape, dtype=trt.nptype(self.engine.get_tensor_dtype(OUTPUT_EMBEDDING)))
        device_in = self._buffer(INPUT_FRAMES, host_in.nbytes)
        device_out = self._buffer(OUTPUT_EMBEDDING, host_out.nbytes)
        self._call(f"set_tensor_address({INPUT_FRAMES!r})", context.set_tensor_address, INPUT_FRAMES, device_in,
                   where=where)
        self._call(f"set_tensor_address({OUTPUT_EMBEDDING!r})", context.set_tensor_address, OUTPUT_EMBEDDING,
                   device_out, where=where)
        kind = cudart.cudaMemcpyKind
        self._check(cudart.cudaMemcpyAsync(device_in, host_in.ctypes.data, host_in.nbytes,
                                           kind.cudaMemcpyHostToDevice, self._stream))
        self._call("execute_async_v3", context.execute_async_v3, self._stream_handle,
                   where=f" for a {host_in.shape} batch{where}")
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
        facts: dict[str, Any] = {"tensorrt": self._trt.__version__,
                                 "profiles": ", ".join(map(str, self.profiles)), "execution_contexts": 1}
        size = self._device_memory_bytes()
        if size is not None:
            facts["context_memory_mib"] = round(size / 2**20, 1)
        return facts

    def __del__(self) -> None:
        cudart = getattr(self, "_cudart", None)
        if cudart is None:
            return
        self.context = None  # the context goes before the stream and buffers it uses
        for pointer, _ in getattr(self, "_buffers", {}).values():
            cudart.cudaFree(pointer)
        if getattr(self, "_stream", None) is not None:
            cudart.cudaStreamDestroy(self._stream)
