"""ONNX Runtime backend: full graphs and split (backbone + head) pairs on the CPU, CUDA or TensorRT providers.

An ONNX file is untrusted input: before a model is used, its graph is checked against the contract of
:mod:`reid_runtime.model_format` for its role (input and output names, ranks, element types, the static dimensions
against the metadata: frame size, channels, embedding size, regions) and a split pair against each other (each names
the other as companion, same model metadata, the head takes what the backbone gives). Any mismatch, a file that is
not ONNX or is truncated, and a graph that fails while running raise one-line ``ReidError``s naming the file and
what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from reid_runtime.backends.base import Backend, as_frames
from reid_runtime.errors import ReidError
from reid_runtime.model_format import (
    INPUT_FRAMES,
    INPUT_FUSED,
    OUTPUT_EMBEDDING,
    OUTPUT_SCORES,
    OUTPUT_STRIPS,
    PREFIX,
    ModelInfo,
)
from reid_runtime.tensorrt_profiles import DEFAULT_PROFILES, Profile, parse_profiles

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
}
TENSORRT_EP = "TensorrtExecutionProvider"
FLOAT_TYPES = ("tensor(float)", "tensor(float16)")

# role -> ({input: (rank, layout)}, {output: (rank, layout)}): the graph contract of model_format
GRAPH_IO: dict[str, tuple[dict[str, tuple[int, str]], dict[str, tuple[int, str]]]] = {
    "full": ({INPUT_FRAMES: (5, "(batch, seq, 3, H, W)")}, {OUTPUT_EMBEDDING: (2, "(batch, D)")}),
    "backbone": ({INPUT_FRAMES: (4, "(frames, 3, H, W)")},
                 {OUTPUT_SCORES: (2, "(frames, K)"), OUTPUT_STRIPS: (3, "(frames, K, C)")}),
    "head": ({INPUT_FUSED: (2, "(batch, F)")}, {OUTPUT_EMBEDDING: (2, "(batch, D)")}),
}
PAIR_FIELDS = ("architecture", "input_size", "embedding_dim", "metric", "aggregation", "num_regions", "model_config")


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _shape(node: Any) -> str:
    return "[" + ", ".join(str(d) if isinstance(d, (int, str)) else "?" for d in (node.shape or [])) + "]"


def _static(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def check_graph(session: Any, info: ModelInfo, path: Path) -> None:
    """Raise a one-line ``ReidError`` when the graph of ``session`` does not match the contract of ``info.role``."""
    inputs_expected, outputs_expected = GRAPH_IO[info.role]
    what = f"a role={info.role} graph"
    inputs = {node.name: node for node in session.get_inputs()}
    (name, (rank, layout)), = inputs_expected.items()
    if list(inputs) != [name]:
        found = ", ".join(f"{n!r} {_shape(node)}" for n, node in inputs.items()) or "none"
        raise ReidError(f"{path}: expected one input {name!r} {layout} for {what}; this graph takes {found}")
    node = inputs[name]
    if len(node.shape or []) != rank:
        raise ReidError(f"{path}: input {name!r} has rank {len(node.shape or [])} {_shape(node)}; expected rank "
                        f"{rank} {layout} for {what}")
    if node.type not in FLOAT_TYPES:
        raise ReidError(f"{path}: input {name!r} is {node.type}; expected tensor(float) or tensor(float16) "
                        "(raw RGB 0..255)")
    if name == INPUT_FRAMES:
        channels, height, width = (_static(d) for d in node.shape[-3:])
        if channels not in (None, 3):
            raise ReidError(f"{path}: input 'frames' has {channels} channels {_shape(node)}; expected 3 (RGB)")
        expected_hw = tuple(info.input_size)
        if height is not None and width is not None and (height, width) != expected_hw:
            raise ReidError(f"{path}: the graph takes {height}x{width} frames but its metadata says "
                            f"{expected_hw[0]}x{expected_hw[1]} (reid.input_size); re-export the model")
        for label, dim, wanted in (("height", height, expected_hw[0]), ("width", width, expected_hw[1])):
            if dim is not None and dim != wanted:
                raise ReidError(f"{path}: the graph takes frames of {label} {dim} but its metadata says "
                                f"{expected_hw[0]}x{expected_hw[1]} (reid.input_size); re-export the model")
    outputs = {node.name: node for node in session.get_outputs()}
    for name, (rank, layout) in outputs_expected.items():
        node = outputs.get(name)
        if node is None:
            found = ", ".join(f"{n!r} {_shape(o)}" for n, o in outputs.items()) or "none"
            raise ReidError(f"{path}: expected an output {name!r} {layout} for {what}; this graph outputs {found}")
        if len(node.shape or []) != rank:
            raise ReidError(f"{path}: output {name!r} has rank {len(node.shape or [])} {_shape(node)}; expected "
                            f"rank {rank} {layout} for {what}")
    if OUTPUT_EMBEDDING in outputs_expected:
        dim = _static(outputs[OUTPUT_EMBEDDING].shape[-1])
        if dim is not None and dim != info.embedding_dim:
            raise ReidError(f"{path}: output 'embedding' is {dim}-d but its metadata says reid.embedding_dim "
                            f"{info.embedding_dim}; re-export the model")
    for name in (OUTPUT_SCORES, OUTPUT_STRIPS) if info.role == "backbone" else ():
        regions = _static(outputs[name].shape[1])
        if regions is not None and regions != info.num_regions:
            raise ReidError(f"{path}: output {name!r} has {regions} regions {_shape(outputs[name])} but its metadata "
                            f"says reid.num_regions {info.num_regions}; re-export the model")


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


class OnnxRuntimeBackend(Backend):
    """A ``role=full`` graph, or a split pair found through ``companion`` (either file of the pair may be given).

    Only a split pair has per-frame terms (streaming). With the TensorRT provider, ``trt_profiles``
    (``tensorrt_profiles`` syntax, default ``DEFAULT_PROFILES``) gives the shape range the EP builds its engine for.
    """

    name = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        threads: int | None = None,
        providers: list[Any] | None = None,
        trt_profiles: str | list[Profile] | None = None,
    ) -> None:
        self.path = Path(path)
        self._ort = _import_onnxruntime(self.path)
        self.threads = threads
        self._providers = resolve_providers(providers, self._ort.get_available_providers())
        if isinstance(trt_profiles, str) or trt_profiles is None:
            trt_profiles = parse_profiles(trt_profiles or DEFAULT_PROFILES)
        self._trt_profile = envelope(trt_profiles)
        self.full = self.backbone = self.head = None
        session, info = self._open(self.path)
        self._paths = {info.role: self.path}
        if info.role == "full":
            self.full, self.info, self.mode = session, info, "full"
        else:
            self.backbone, self.head, self.info = self._open_pair(self.path, session, info)
            self.mode = "split"
        self.has_frame_terms = self.backbone is not None
        if self.has_frame_terms:
            self.fusion = self._split_fusion()

    def _open(self, path: Path) -> tuple[Any, ModelInfo]:
        if not path.is_file():
            raise ReidError(f"{path}: model file not found")
        options = self._ort.SessionOptions()
        if self.threads is not None:
            options.intra_op_num_threads = int(self.threads)
            options.inter_op_num_threads = 1
        try:  # metadata first, from a CPU session: a foreign file fails before any GPU provider starts
            probe = self._ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable or invalid graphs
            raise ReidError(f"{path}: not a loadable ONNX model, the file is not ONNX, truncated or invalid "
                            f"({_one_line(exc)})") from exc
        info = ModelInfo.from_props(probe.get_modelmeta().custom_metadata_map, source=str(path))
        check_graph(probe, info, path)
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

    def _open_pair(self, path: Path, session: Any = None, info: ModelInfo | None = None) -> tuple[Any, Any, ModelInfo]:
        """(backbone session, head session, backbone info) of the split pair that ``path`` belongs to."""
        if session is None:
            session, info = self._open(path)
        if not info.companion:
            raise ReidError(f"{path}: this {info.role} graph names no companion graph; re-export the split pair")
        if Path(info.companion).name != info.companion or info.companion in (".", ".."):
            raise ReidError(f"{path}: metadata reid.companion is {info.companion!r}; expected the file name of the "
                            "other graph of the split export, beside this one")
        other_path = path.parent / info.companion
        if not other_path.is_file():
            raise ReidError(
                f"{path}: this {info.role} graph needs its companion {info.companion!r} beside it, which is missing; "
                "keep the backbone and head files of a split export together"
            )
        other, other_info = self._open(other_path)
        expected = "head" if info.role == "backbone" else "backbone"
        if other_info.role != expected:
            raise ReidError(f"{other_path}: expected the {expected} graph of {path.name}, "
                            f"found role {other_info.role!r}")
        if other_info.companion != path.name:
            raise ReidError(f"{other_path}: not the {expected} of {path.name}: it names {other_info.companion!r} as "
                            "its companion; keep the two files of one split export together, under their names")
        differ = [name for name in PAIR_FIELDS if getattr(info, name) != getattr(other_info, name)]
        if differ:
            raise ReidError(f"{other_path}: not the {expected} of {path.name}: their metadata differ in "
                            f"{', '.join(PREFIX + name for name in differ)}; the two files come from different exports")
        self._paths = {info.role: path, other_info.role: other_path}
        if info.role == "backbone":
            return session, other, info
        return other, session, other_info

    def _split_fusion(self) -> bool:
        """Whether the head takes [selected, weighted] (2C) or weighted (C) features; a head that takes neither of
        the backbone's sizes does not belong to it."""
        strips = next(o for o in self.backbone.get_outputs() if o.name == OUTPUT_STRIPS).shape
        fused = next(i for i in self.head.get_inputs() if i.name == INPUT_FUSED).shape
        channels, width = _static(strips[-1]), _static(fused[-1])
        if channels is not None and width is not None:
            if width not in (channels, 2 * channels):
                raise ReidError(f"{self._paths['head']}: the head takes {width} features but its backbone "
                                f"{self._paths['backbone'].name} gives strips of {channels} channels; expected "
                                f"{channels} or {2 * channels}: the two files come from different exports")
            return width == 2 * channels
        return bool(self.info.model_config.get("fusion", True))

    @property
    def providers(self) -> list[str]:
        session = self.full if self.full is not None else self.backbone
        return list(session.get_providers())

    @staticmethod
    def _feed(session: Any, name: str, array: np.ndarray) -> dict[str, np.ndarray]:
        node = next(i for i in session.get_inputs() if i.name == name)
        dtype = np.float16 if node.type == "tensor(float16)" else np.float32
        return {name: np.ascontiguousarray(array, dtype=dtype)}

    def _run(self, role: str, session: Any, outputs: list[str], feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """``session.run`` with onnxruntime's failures as one line naming the file; results checked: float arrays,
        one row per input row."""
        try:
            results = session.run(outputs, feed)
        except Exception as exc:  # onnxruntime's own exception types (Fail, InvalidArgument, RuntimeException)
            (name, array), = feed.items()
            raise ReidError(f"{self._paths[role]}: the {role} graph failed on {name} of shape {list(array.shape)} "
                            f"({_one_line(exc)})") from exc
        rows = next(iter(feed.values())).shape[0]
        for name, result in zip(outputs, results):
            if not isinstance(result, np.ndarray) or result.ndim < 2 or result.shape[0] != rows:
                shape = list(getattr(result, "shape", ()))
                raise ReidError(f"{self._paths[role]}: output {name!r} of the {role} graph has shape {shape} for "
                                f"{rows} input rows; expected {GRAPH_IO[role][1][name][1]}")
        return [result.astype(np.float32, copy=False) for result in results]

    def run_full(self, frames: np.ndarray) -> np.ndarray:
        if self.full is None:
            return super().run_full(frames)
        out, = self._run("full", self.full, [OUTPUT_EMBEDDING],
                         self._feed(self.full, INPUT_FRAMES, as_frames(frames, 5)))
        return self._embedding(out, "full")

    def run_backbone(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.backbone is None:
            return super().run_backbone(frames)
        feed = self._feed(self.backbone, INPUT_FRAMES, as_frames(frames, 4))
        scores, strips = self._run("backbone", self.backbone, [OUTPUT_SCORES, OUTPUT_STRIPS], feed)
        return scores, strips

    def run_head(self, fused: np.ndarray) -> np.ndarray:
        if self.head is None:
            return super().run_head(fused)
        out, = self._run("head", self.head, [OUTPUT_EMBEDDING], self._feed(self.head, INPUT_FUSED, fused))
        return self._embedding(out, "head")

    def _embedding(self, out: np.ndarray, role: str) -> np.ndarray:
        if out.ndim != 2 or out.shape[1] != self.info.embedding_dim:
            raise ReidError(f"{self._paths[role]}: output 'embedding' has shape {list(out.shape)}; its metadata "
                            f"says reid.embedding_dim {self.info.embedding_dim}: expected (batch, "
                            f"{self.info.embedding_dim})")
        return out

    def describe(self) -> dict[str, Any]:
        graphs = self.path.name if self.full is not None else f"{self.path.name} (backbone + head pair)"
        return {
            "onnxruntime": self._ort.__version__,
            "graphs": graphs,
            "threads": self.threads if self.threads is not None else "onnxruntime default",
        }
