"""What every backend that runs the toolkit's ONNX files shares (onnxruntime, OpenVINO): the graph contract and the
loading of a full graph or a split (backbone + head) pair.

An ONNX file is untrusted input: before a model is used, its graph is checked against the contract of
:mod:`reid_runtime.model_format` for its role (input and output names, ranks, element types, the static dimensions
against the metadata: frame size, channels, embedding size, regions) and a split pair against each other (each names
the other as companion, same model metadata, the head takes what the backbone gives). Any mismatch, a file that is
not ONNX or is truncated, and a graph that fails while running raise one-line ``ReidError``s naming the file and
what was expected.

An engine plugs in through :class:`OnnxGraphBackend`: it opens one file (``_open``: its graph handle and the
``ModelInfo`` of the file's ``reid.*`` metadata, after :func:`check_graph`), lists a graph's inputs and outputs as
onnxruntime ``NodeArg``-like ports (``_ports``), and runs a graph on one input (``_execute``).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
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

FLOAT_TYPES = ("tensor(float)", "tensor(float16)")

# role -> ({input: (rank, layout)}, {output: (rank, layout)}): the graph contract of model_format
GRAPH_IO: dict[str, tuple[dict[str, tuple[int, str]], dict[str, tuple[int, str]]]] = {
    "full": ({INPUT_FRAMES: (5, "(batch, seq, 3, H, W)")}, {OUTPUT_EMBEDDING: (2, "(batch, D)")}),
    "backbone": ({INPUT_FRAMES: (4, "(frames, 3, H, W)")},
                 {OUTPUT_SCORES: (2, "(frames, K)"), OUTPUT_STRIPS: (3, "(frames, K, C)")}),
    "head": ({INPUT_FUSED: (2, "(batch, F)")}, {OUTPUT_EMBEDDING: (2, "(batch, D)")}),
}
PAIR_FIELDS = ("architecture", "input_size", "embedding_dim", "metric", "aggregation", "num_regions", "model_config")


@dataclass(frozen=True)
class Port:
    """One input or output of a graph, described like onnxruntime's ``NodeArg``: ``shape`` holds ints for static
    dimensions and ``None`` (or a name) for dynamic ones, ``type`` is ``"tensor(float)"``, ``"tensor(float16)"`` ..."""

    name: str
    shape: list[Any]
    type: str


def one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _shape(node: Any) -> str:
    return "[" + ", ".join(str(d) if isinstance(d, (int, str)) else "?" for d in (node.shape or [])) + "]"


def static_dim(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def check_graph(inputs: list[Any], outputs: list[Any], info: ModelInfo, path: Path) -> None:
    """Raise a one-line ``ReidError`` when a graph's ``inputs`` / ``outputs`` (:class:`Port` or onnxruntime
    ``NodeArg``) do not match the contract of ``info.role``."""
    inputs_expected, outputs_expected = GRAPH_IO[info.role]
    what = f"a role={info.role} graph"
    by_name = {node.name: node for node in inputs}
    (name, (rank, layout)), = inputs_expected.items()
    if list(by_name) != [name]:
        found = ", ".join(f"{n!r} {_shape(node)}" for n, node in by_name.items()) or "none"
        raise ReidError(f"{path}: expected one input {name!r} {layout} for {what}; this graph takes {found}")
    node = by_name[name]
    if len(node.shape or []) != rank:
        raise ReidError(f"{path}: input {name!r} has rank {len(node.shape or [])} {_shape(node)}; expected rank "
                        f"{rank} {layout} for {what}")
    if node.type not in FLOAT_TYPES:
        raise ReidError(f"{path}: input {name!r} is {node.type}; expected tensor(float) or tensor(float16) "
                        "(raw RGB 0..255)")
    if name == INPUT_FRAMES:
        channels, height, width = (static_dim(d) for d in node.shape[-3:])
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
    by_name = {node.name: node for node in outputs}
    for name, (rank, layout) in outputs_expected.items():
        node = by_name.get(name)
        if node is None:
            found = ", ".join(f"{n!r} {_shape(o)}" for n, o in by_name.items()) or "none"
            raise ReidError(f"{path}: expected an output {name!r} {layout} for {what}; this graph outputs {found}")
        if len(node.shape or []) != rank:
            raise ReidError(f"{path}: output {name!r} has rank {len(node.shape or [])} {_shape(node)}; expected "
                            f"rank {rank} {layout} for {what}")
    if OUTPUT_EMBEDDING in outputs_expected:
        dim = static_dim(by_name[OUTPUT_EMBEDDING].shape[-1])
        if dim is not None and dim != info.embedding_dim:
            raise ReidError(f"{path}: output 'embedding' is {dim}-d but its metadata says reid.embedding_dim "
                            f"{info.embedding_dim}; re-export the model")
    for name in (OUTPUT_SCORES, OUTPUT_STRIPS) if info.role == "backbone" else ():
        regions = static_dim(by_name[name].shape[1])
        if regions is not None and regions != info.num_regions:
            raise ReidError(f"{path}: output {name!r} has {regions} regions {_shape(by_name[name])} but its metadata "
                            f"says reid.num_regions {info.num_regions}; re-export the model")


def not_loadable(path: Path, exc: BaseException) -> ReidError:
    return ReidError(f"{path}: not a loadable ONNX model, the file is not ONNX, truncated or invalid "
                     f"({one_line(exc)})")


class OnnxGraphBackend(Backend):
    """A ``role=full`` graph, or a split pair found through ``companion`` (either file of the pair may be given).

    Only a split pair has per-frame terms (streaming). ``full`` / ``backbone`` / ``head`` hold the engine's handle of
    each graph (``None`` when absent). A subclass sets its options, then calls :meth:`_load`.
    """

    full: Any = None
    backbone: Any = None
    head: Any = None

    @abstractmethod
    def _open(self, path: Path) -> tuple[Any, ModelInfo]:
        """The engine's handle of the graph in ``path`` and its metadata, checked with :func:`check_graph`; one-line
        ``ReidError`` (:func:`not_loadable`) for a file that is missing, not ONNX or invalid."""

    @abstractmethod
    def _ports(self, graph: Any) -> tuple[list[Any], list[Any]]:
        """(inputs, outputs) of ``graph`` as :class:`Port`-like objects."""

    @abstractmethod
    def _execute(self, graph: Any, outputs: list[str], feed: dict[str, np.ndarray]) -> list[Any]:
        """Run ``graph`` on ``feed``; the named outputs in order. May raise the engine's own exceptions."""

    def _load(self, path: Path) -> None:
        self.full = self.backbone = self.head = None
        graph, info = self._open(path)
        self._paths = {info.role: path}
        if info.role == "full":
            self.full, self.info, self.mode = graph, info, "full"
        else:
            self.backbone, self.head, self.info = self._open_pair(path, graph, info)
            self.mode = "split"
        self.has_frame_terms = self.backbone is not None
        if self.has_frame_terms:
            self.fusion = self._split_fusion()

    def _open_pair(self, path: Path, graph: Any, info: ModelInfo) -> tuple[Any, Any, ModelInfo]:
        """(backbone graph, head graph, backbone info) of the split pair that ``path`` belongs to."""
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
            return graph, other, info
        return other, graph, other_info

    def _port(self, graph: Any, name: str, output: bool = False) -> Any:
        return next(p for p in self._ports(graph)[1 if output else 0] if p.name == name)

    def _split_fusion(self) -> bool:
        """Whether the head takes [selected, weighted] (2C) or weighted (C) features; a head that takes neither of
        the backbone's sizes does not belong to it."""
        strips = self._port(self.backbone, OUTPUT_STRIPS, output=True).shape
        fused = self._port(self.head, INPUT_FUSED).shape
        channels, width = static_dim(strips[-1]), static_dim(fused[-1])
        if channels is not None and width is not None:
            if width not in (channels, 2 * channels):
                raise ReidError(f"{self._paths['head']}: the head takes {width} features but its backbone "
                                f"{self._paths['backbone'].name} gives strips of {channels} channels; expected "
                                f"{channels} or {2 * channels}: the two files come from different exports")
            return width == 2 * channels
        return bool(self.info.model_config.get("fusion", True))

    def _feed(self, graph: Any, name: str, array: np.ndarray) -> dict[str, np.ndarray]:
        dtype = np.float16 if self._port(graph, name).type == "tensor(float16)" else np.float32
        return {name: np.ascontiguousarray(array, dtype=dtype)}

    def _run(self, role: str, graph: Any, outputs: list[str], feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """``_execute`` with the engine's failures as one line naming the file; results checked: float arrays,
        one row per input row."""
        try:
            results = self._execute(graph, outputs, feed)
        except Exception as exc:  # the engines' own exception types (onnxruntime Fail, OpenVINO RuntimeError ...)
            (name, array), = feed.items()
            raise ReidError(f"{self._paths[role]}: the {role} graph failed on {name} of shape {list(array.shape)} "
                            f"({one_line(exc)})") from exc
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

    def graphs(self) -> str:
        """The file(s) this backend runs, for ``describe``."""
        return self.path.name if self.full is not None else f"{self.path.name} (backbone + head pair)"
