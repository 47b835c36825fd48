"""OpenVINO backend: the toolkit's ONNX exports (FP32, FP16, INT8 QDQ; full graphs and split pairs) on OpenVINO.

OpenVINO reads the ``.onnx`` files directly (its ONNX frontend: no conversion step, no IR files), keeps the dynamic
``batch`` / ``seq`` axes, and runs an INT8 QDQ file's convolutions in u8 on CPUs with VNNI / AMX, which onnxruntime's
CPU provider does not fully do. The file's ``reid.*`` metadata comes through OpenVINO's ``rt_info["framework"]`` and
the graph is checked against the same contract as on onnxruntime (:mod:`reid_runtime.backends.onnx_graphs`).

Options (``reid_runtime.load(path, backend="openvino", ...)``):

- ``threads``: ``INFERENCE_NUM_THREADS`` [default: OpenVINO's choice, every core];
- ``streams``: ``NUM_STREAMS`` [default: from the hint, 1 with ``latency``]. With more than one stream a call's
  batch is split into as many parts, run side by side (one inference request per stream);
- ``hint``: ``PERFORMANCE_HINT``, ``latency`` (default) or ``throughput``;
- ``precision``: ``INFERENCE_PRECISION_HINT``, ``f32`` (default), ``bf16`` or ``f16``. OpenVINO's own default on CPUs
  with bf16 or fp16 units is to compute FP32 graphs in that lower precision; the toolkit asks for ``f32`` so results
  match the FP32 references (onnxruntime, PyTorch) to ~1e-5. An INT8 file still runs its quantized layers in u8 under
  ``f32``. On a CPU without native bf16 the ``bf16`` hint is emulated and several times slower;
- ``device``: the OpenVINO device, ``CPU`` (default), ``GPU``, ``AUTO`` ...;
- ``profile``: ``PERF_COUNT``, every executed layer's time and kernel per call, for ``op_times()``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reid_runtime.backends.base import NOT_PROFILED, OpTime
from reid_runtime.backends.onnx_graphs import OnnxGraphBackend, Port, check_graph, not_loadable, one_line
from reid_runtime.errors import ReidError
from reid_runtime.model_format import (
    INPUT_FRAMES,
    INPUT_FUSED,
    OUTPUT_EMBEDDING,
    OUTPUT_SCORES,
    OUTPUT_STRIPS,
    ModelInfo,
)

HINTS = ("latency", "throughput")
PRECISIONS = ("f32", "bf16", "f16")
_CONTRACT_NAMES = {INPUT_FRAMES, INPUT_FUSED, OUTPUT_EMBEDDING, OUTPUT_SCORES, OUTPUT_STRIPS}
_TYPE_NAMES = {"float32": "float", "float64": "double"}  # numpy dtype -> ONNX type name, where they differ


def _import_openvino(path: Path) -> Any:
    try:
        import openvino
    except ImportError as exc:
        raise ReidError(f"{path}: the openvino backend needs OpenVINO: pip install 'reid-toolkit[openvino]'") from exc
    return openvino


def _port(node: Any) -> Port:
    """An OpenVINO input or output as a :class:`Port` (its contract name when it has several)."""
    names = node.get_names()
    name = next((n for n in sorted(names) if n in _CONTRACT_NAMES), None) or node.get_any_name()
    partial = node.get_partial_shape()
    shape = [] if partial.rank.is_dynamic else [d.get_length() if d.is_static else None for d in partial]
    try:
        dtype = np.dtype(node.get_element_type().to_dtype()).name
    except (TypeError, ValueError, RuntimeError):  # an element type numpy has no dtype for
        dtype = node.get_element_type().get_type_name()
    return Port(name, shape, f"tensor({_TYPE_NAMES.get(dtype, dtype)})")


def metadata(model: Any) -> dict[str, str]:
    """The ONNX ``metadata_props`` of a model read by OpenVINO's ONNX frontend (its ``rt_info["framework"]``)."""
    if not model.has_rt_info("framework"):
        return {}
    props = {}
    for key, value in model.get_rt_info()["framework"].items():
        try:
            props[str(key)] = value.astype(str)
        except (TypeError, RuntimeError):
            props[str(key)] = str(value)
    return props


@dataclass
class _Graph:
    """One compiled graph: its ports (checked against the contract) and an inference request per stream."""

    compiled: Any
    inputs: list[Port]
    outputs: list[Port]
    requests: list[Any]


class OpenVINOBackend(OnnxGraphBackend):
    """A ``role=full`` ONNX graph, or a split pair found through ``companion``, compiled for one OpenVINO device.

    Calls on one instance are serialized (its inference requests are reused).
    """

    name = "openvino"

    def __init__(
        self,
        path: str | Path,
        threads: int | None = None,
        streams: int | None = None,
        hint: str = "latency",
        precision: str = "f32",
        device: str = "CPU",
        profile: bool = False,
    ) -> None:
        self.path = Path(path)
        for label, value in (("threads", threads), ("streams", streams)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ReidError(f"openvino backend: {label} must be a positive integer, got {value!r}")
        if str(hint).lower() not in HINTS:
            raise ReidError(f"openvino backend: hint {hint!r} is not one of {', '.join(HINTS)}")
        if str(precision).lower() not in PRECISIONS:
            raise ReidError(f"openvino backend: precision {precision!r} is not one of {', '.join(PRECISIONS)}")
        if not isinstance(device, str) or not device:
            raise ReidError(f"openvino backend: device must be an OpenVINO device name (CPU, GPU, AUTO ...), "
                            f"got {device!r}")
        self._ov = _import_openvino(self.path)
        from openvino.frontend import FrontEndManager

        self.threads, self.streams, self.device = threads, streams, device
        self._config: dict[str, Any] = {"PERFORMANCE_HINT": str(hint).upper(),
                                        "INFERENCE_PRECISION_HINT": str(precision).lower()}
        if threads is not None:
            self._config["INFERENCE_NUM_THREADS"] = int(threads)
        if streams is not None:
            self._config["NUM_STREAMS"] = int(streams)
        self._op_times: list[OpTime] | None = [] if profile else None
        self._calls: dict[str, int] = {}
        if profile:
            self._config["PERF_COUNT"] = True
        self._core = self._ov.Core()
        self._onnx = FrontEndManager().load_by_framework("onnx")
        self._lock = threading.Lock()
        self._load(self.path)

    def _open(self, path: Path) -> tuple[_Graph, ModelInfo]:
        if not path.is_file():
            raise ReidError(f"{path}: model file not found")
        try:  # the ONNX frontend only: a foreign file fails here, not in every other frontend OpenVINO has
            model = self._onnx.convert(self._onnx.load(str(path)))
        except Exception as exc:  # OpenVINO raises its own exception types (GeneralFailure, RuntimeError ...)
            raise not_loadable(path, exc) from exc
        info = ModelInfo.from_props(metadata(model), source=str(path))
        inputs, outputs = [_port(node) for node in model.inputs], [_port(node) for node in model.outputs]
        check_graph(inputs, outputs, info, path)
        try:
            compiled = self._core.compile_model(model, self.device, self._config)
        except Exception as exc:
            raise ReidError(f"{path}: OpenVINO could not compile the {info.role} graph for device {self.device} "
                            f"with {self._config} ({one_line(exc)})") from exc
        try:
            count = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        except (RuntimeError, TypeError, ValueError):
            count = 1
        requests = [compiled.create_infer_request() for _ in range(max(1, count))]
        return _Graph(compiled, inputs, outputs, requests), info

    def _ports(self, graph: _Graph) -> tuple[list[Port], list[Port]]:
        return graph.inputs, graph.outputs

    def _execute(self, graph: _Graph, outputs: list[str], feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        (name, array), = feed.items()
        parts = min(len(graph.requests), len(array))
        with self._lock:
            if parts <= 1:
                request = graph.requests[0]
                request.infer({name: array})
                self._record(graph, [request])
                return [request.get_tensor(output).data.copy() for output in outputs]
            chunks = np.array_split(array, parts)  # one part per stream, run side by side
            requests = graph.requests[:parts]
            for request, chunk in zip(requests, chunks):
                request.start_async({name: chunk})
            failure = None
            for request in requests:  # wait for every request, even after one failed
                try:
                    request.wait()
                except Exception as exc:  # OpenVINO's RuntimeError; re-raised below
                    failure = failure or exc
            if failure is not None:
                raise failure
            self._record(graph, requests)
            return [np.concatenate([request.get_tensor(output).data for request in requests]) for output in outputs]

    def _record(self, graph: _Graph, requests: list[Any]) -> None:
        """The executed layers' times of this call (all its requests) when profiling."""
        if self._op_times is None:
            return
        role = next(r for r, g in (("full", self.full), ("backbone", self.backbone), ("head", self.head))
                    if g is graph)
        call = self._calls[role] = self._calls.get(role, -1) + 1
        executed = self._ov.ProfilingInfo.Status.EXECUTED
        for request in requests:
            self._op_times += [OpTime(call, role, info.node_name, info.node_type, info.exec_type,
                                      info.real_time.total_seconds() * 1000)
                               for info in request.get_profiling_info() if info.status == executed]

    def op_times(self) -> list[OpTime]:
        """Per-layer times of every call since loading (``profile=True``), as OpenVINO's ``PERF_COUNT`` gives them:
        the layers after its fusions, with the kernel each ran."""
        if self._op_times is None:
            raise ReidError(NOT_PROFILED.format(path=self.path))
        return list(self._op_times)

    @property
    def providers(self) -> list[str]:
        graph = self.full if self.full is not None else self.backbone
        try:
            return [str(d) for d in graph.compiled.get_property("EXECUTION_DEVICES")]
        except RuntimeError:
            return [self.device]

    def _property(self, key: str) -> Any:
        graph = self.full if self.full is not None else self.backbone
        try:
            value = graph.compiled.get_property(key)
        except RuntimeError:
            return "-"
        if hasattr(value, "get_type_name"):  # an element type (precision hint)
            return value.get_type_name()
        return getattr(value, "name", value)  # an enum (performance hint)

    def describe(self) -> dict[str, Any]:
        return {
            "openvino": self._ov.__version__.split("-")[0],
            "graphs": self.graphs(),
            "threads": self._property("INFERENCE_NUM_THREADS"),
            "streams": self._property("NUM_STREAMS"),
            "hint": str(self._property("PERFORMANCE_HINT")).lower(),
            "precision": self._property("INFERENCE_PRECISION_HINT"),
        }
