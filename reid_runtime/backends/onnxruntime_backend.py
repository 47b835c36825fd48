"""ONNX Runtime backend: full graphs and split (backbone + head) pairs on the CPU, CUDA or TensorRT providers.

The checks of an untrusted ONNX file (graph contract, split pair, one-line errors) are those of
:mod:`reid_runtime.backends.onnx_graphs`, shared with the OpenVINO backend.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from reid_runtime.backends.base import NOT_PROFILED, OpTime
from reid_runtime.backends.onnx_graphs import OnnxGraphBackend, check_graph, not_loadable
from reid_runtime.errors import ReidError
from reid_runtime.model_format import INPUT_FRAMES, ModelInfo
from reid_runtime.tensorrt_profiles import DEFAULT_PROFILES, Profile, parse_profiles

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
}
TENSORRT_EP = "TensorrtExecutionProvider"


def _import_onnxruntime(path: Path) -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ReidError(
            f"{path}: the onnxruntime backend needs ONNX Runtime: pip install 'reid-toolkit[cpu]' "
            "(or [gpu] for onnxruntime-gpu)"
        ) from exc
    return onnxruntime


def resolve_providers(requested: list[Any] | None, available: list[str]) -> list[Any]:
    """Provider names (aliases cpu / cuda / tensorrt accepted) in priority order, the CPU provider always last.

    ``None`` picks CUDA when this onnxruntime build has it, then CPU; TensorRT only when asked for. An entry may be a
    ``(name, options)`` pair, passed on as is.
    """
    if requested is None:
        names: list[Any] = [p for p in ("CUDAExecutionProvider",) if p in available]
    else:
        names = []
        for entry in requested:
            name = entry[0] if isinstance(entry, tuple) else PROVIDER_ALIASES.get(str(entry).lower(), str(entry))
            if name not in available:
                raise ReidError(
                    f"execution provider {name!r} is not in this onnxruntime build "
                    f"(available: {', '.join(available)}); "
                    "CUDA and TensorRT need the onnxruntime-gpu package instead of onnxruntime"
                )
            names.append(entry if isinstance(entry, tuple) else name)
    if not any((n[0] if isinstance(n, tuple) else n) == "CPUExecutionProvider" for n in names):
        names.append("CPUExecutionProvider")
    return names


def envelope(profiles: list[Profile]) -> Profile:
    """One profile spanning all of ``profiles`` (the TensorRT EP takes one range per input), tuned for the first
    (shortest) T bucket, where dense and evenly sampled clips fall."""
    return Profile(
        min(p.min_batch for p in profiles), max(p.max_batch for p in profiles),
        min(p.min_seq for p in profiles), max(p.max_seq for p in profiles),
        profiles[0].opt_batch, profiles[0].opt_seq,
    )


def trt_profile_shapes(session: Any, profile: Profile) -> dict[str, str]:
    """TensorRT EP options ``trt_profile_{min,opt,max}_shapes`` for every input of ``session``.

    ``frames`` of a full graph gets (batch, seq); the per-frame ``frames`` of a backbone gets batch * seq frames and
    a head's ``fused`` as many rows (the runtime sends at most that many clips per head call).
    """
    levels = {
        "min": (profile.min_batch, profile.min_seq),
        "opt": (profile.opt_batch, profile.opt_seq),
        "max": (profile.max_batch, profile.max_seq),
    }
    options = {}
    for level, (batch, seq) in levels.items():
        parts = []
        for node in session.get_inputs():
            static = [d for d in node.shape[1:] if isinstance(d, int)]
            if node.name == INPUT_FRAMES and len(node.shape) == 5:
                dims = [batch, seq, *static[-3:]]
            else:
                dims = [batch * seq, *static]
            parts.append(f"{node.name}:{'x'.join(str(d) for d in dims)}")
        options[f"trt_profile_{level}_shapes"] = ",".join(parts)
    return options


class OnnxRuntimeBackend(OnnxGraphBackend):
    """A ``role=full`` graph, or a split pair found through ``companion`` (either file of the pair may be given).

    Only a split pair has per-frame terms (streaming). With the TensorRT provider, ``trt_profiles``
    (``tensorrt_profiles`` syntax, default ``DEFAULT_PROFILES``) gives the shape range the EP builds its engine for.
    ``profile=True`` records every node's time (onnxruntime's profiler) for :meth:`op_times`.
    """

    name = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        threads: int | None = None,
        providers: list[Any] | None = None,
        trt_profiles: str | list[Profile] | None = None,
        profile: bool = False,
    ) -> None:
        self.path = Path(path)
        self._profile_dir = tempfile.TemporaryDirectory(prefix="reid_ort_profile_") if profile else None
        self._op_times: list[OpTime] | None = None
        self._ort = _import_onnxruntime(self.path)
        self.threads = threads
        self._providers = resolve_providers(providers, self._ort.get_available_providers())
        if isinstance(trt_profiles, str) or trt_profiles is None:
            trt_profiles = parse_profiles(trt_profiles or DEFAULT_PROFILES)
        self._trt_profile = envelope(trt_profiles)
        self._load(self.path)

    def _open(self, path: Path) -> tuple[Any, ModelInfo]:
        if not path.is_file():
            raise ReidError(f"{path}: model file not found")
        options = self._ort.SessionOptions()
        if self.threads is not None:
            options.intra_op_num_threads = int(self.threads)
            options.inter_op_num_threads = 1
        if self._profile_dir is not None:
            options.enable_profiling = True
            options.profile_file_prefix = str(Path(self._profile_dir.name) / path.stem)
        try:  # metadata first, from a CPU session: a foreign file fails before any GPU provider starts
            probe = self._ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable or invalid graphs
            raise not_loadable(path, exc) from exc
        info = ModelInfo.from_props(probe.get_modelmeta().custom_metadata_map, source=str(path))
        check_graph(probe.get_inputs(), probe.get_outputs(), info, path)
        providers = [self._with_trt_options(p, probe) for p in self._providers]
        if providers == ["CPUExecutionProvider"]:
            return probe, info
        return self._ort.InferenceSession(str(path), options, providers=providers), info

    def _with_trt_options(self, provider: Any, session: Any) -> Any:
        """The TensorRT provider with profile shapes for this graph; options the caller gave take precedence."""
        name, options = provider if isinstance(provider, tuple) else (provider, {})
        if name != TENSORRT_EP:
            return provider
        return (TENSORRT_EP, {**trt_profile_shapes(session, self._trt_profile), **options})

    def _ports(self, graph: Any) -> tuple[list[Any], list[Any]]:
        return graph.get_inputs(), graph.get_outputs()

    def _execute(self, graph: Any, outputs: list[str], feed: dict[str, np.ndarray]) -> list[Any]:
        return graph.run(outputs, feed)

    def op_times(self) -> list[OpTime]:
        """Per-node times of every call since loading (``profile=True``); ends onnxruntime's profiling, so later
        calls are not recorded."""
        if self._profile_dir is None:
            raise ReidError(NOT_PROFILED.format(path=self.path))
        if self._op_times is None:
            self._op_times = []
            for role, session in (("full", self.full), ("backbone", self.backbone), ("head", self.head)):
                if session is not None:
                    self._op_times += read_profile(Path(session.end_profiling()), role)
        return self._op_times

    @property
    def providers(self) -> list[str]:
        session = self.full if self.full is not None else self.backbone
        return list(session.get_providers())

    def describe(self) -> dict[str, Any]:
        return {
            "onnxruntime": self._ort.__version__,
            "graphs": self.graphs(),
            "threads": self.threads if self.threads is not None else "onnxruntime default",
        }


def read_profile(path: Path, graph: str) -> list[OpTime]:
    """The node times of an onnxruntime profile file (Chrome trace JSON), each given the ``model_run`` call it fell
    in; the session's loading and initialization are left out."""
    events = json.loads(path.read_text())
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                  if e.get("cat") == "Session" and e.get("name") == "model_run")
    times = []
    for event in events:
        name = str(event.get("name", ""))
        if event.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        call = next((i for i, (start, end) in enumerate(runs) if start <= event["ts"] <= end), None)
        if call is None:
            continue
        args = event.get("args", {})
        times.append(OpTime(call, graph, name.removesuffix("_kernel_time"), str(args.get("op_name", "?")),
                            str(args.get("provider", "?")).removesuffix("ExecutionProvider"), event["dur"] / 1000))
    return times
