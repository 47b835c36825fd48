"""What a model is: a checkpoint, an ONNX export (full or split), a TensorRT engine or a registry name.

The job behind ``reid info``. Models load through ``reid_runtime.load`` (the backend registry), so a checkpoint or a
registry name needs the PyTorch backend of ``reid-toolkit[train]`` and says so in one line where it is missing; an
ONNX file needs onnxruntime only; a TensorRT engine is described from its JSON sidecar, without a GPU. The dynamic
axes of an ONNX graph are read from its onnxruntime session (symbolic dimensions are strings), not from the ``onnx``
package, so this runs on the edge install.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reid_runtime import __version__
from reid_runtime.errors import ReidError
from reid_runtime.model_format import ModelInfo

if TYPE_CHECKING:
    from reid_runtime.model import ReidModel

KINDS = ("checkpoint", "onnx full", "onnx split backbone", "onnx split head", "tensorrt engine", "registry name")
ENGINE_SUFFIXES = (".engine", ".plan")
_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
           "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(uint8)": "uint8"}


@dataclass
class ModelDescription:
    """Everything ``reid info`` reports about a model.

    ``graphs`` lists per ONNX graph (``full``, or ``backbone`` and ``head``) its file and its input and output
    tensors (``name``, ``shape`` with symbolic dimensions as strings, ``dtype``); ``dynamic_axes`` maps each tensor to
    its dynamic dimensions. Verified (B, T) lists are those the export checked against its checkpoint (empty when
    not recorded; PyTorch runs any). ``file_size`` is in bytes (None for a registry name), both files of a split
    export together; ``companion`` is the other file of a split pair or an engine's sidecar. A TensorRT engine also
    has its optimization ``profiles`` and ``build`` facts (TensorRT version, GPU, source ONNX).
    """

    path: str
    kind: str
    backend: str
    architecture: str
    input_size: tuple[int, int]
    input_layout: str
    embedding_dim: int
    metric: str
    precision: str
    aggregation: str
    num_regions: int
    streaming: bool
    dynamic_axes: dict[str, list[str]] = field(default_factory=dict)
    graphs: list[dict[str, Any]] = field(default_factory=list)
    seq_lengths_verified: list[int] = field(default_factory=list)
    batch_sizes_verified: list[int] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    normalization: str = ""
    model_config: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    toolkit_version: str = ""
    file_size: int | None = None
    companion: str | None = None
    build: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"input_size": list(self.input_size)}

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs, in the order ``reid info`` prints them."""
        height, width = self.input_size
        any_shape = self.kind in ("checkpoint", "registry name")
        rows = [
            ("model", self.path),
            ("kind", self.kind),
            ("backend", self.backend),
            ("architecture", self.architecture),
            ("input", f"{height}x{width} (HxW); {self.input_layout}"),
            ("dynamic axes", "; ".join(f"{name}: {', '.join(axes)}" for name, axes in self.dynamic_axes.items())
             or "none"),
        ]
        rows += [(f"graph {graph['graph']}", _graph_line(graph)) for graph in self.graphs]
        rows += [
            ("verified T", _ints(self.seq_lengths_verified, any_shape)),
            ("verified B", _ints(self.batch_sizes_verified, any_shape)),
        ]
        rows += [("profile", profile) for profile in self.profiles]
        if self.build:
            rows.append(("built", ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in self.build.items())))
        rows += [
            ("precision", self.precision),
            ("embedding", f"{self.embedding_dim}-d, metric {self.metric}"),
            ("aggregation", f"{self.aggregation}, {self.num_regions} region{'s' if self.num_regions != 1 else ''}"),
            ("streaming", "yes (per-frame terms)" if self.streaming else "no (needs a split export of STA or TP)"),
            ("recipe", _recipe_line(self.recipe)),
            ("toolkit", self.toolkit_version or "not recorded"),
            ("file size", _size(self.file_size)),
        ]
        if self.companion:
            rows.append(("companion", self.companion))
        if self.normalization:
            rows.append(("normalization", self.normalization))
        return rows

    def text(self) -> str:
        """The description as aligned ``label: value`` lines."""
        rows = self.lines()
        width = max(len(label) for label, _ in rows) + 2
        return "\n".join(f"{label + ':':<{width}}{value}" for label, value in rows)


def inspect_model(model: str | os.PathLike[str] | ReidModel) -> ModelDescription:
    """Describe ``model``: a model file, a registry name (``sta_resnet50``) or a loaded ``ReidModel``.

    Raises :class:`ReidError` for a file that is not a reid-toolkit model, and
    :class:`reid_runtime.plugins.MissingExtraError` (one line naming the extra) when the backend it needs is missing.
    """
    from reid_runtime.model import ReidModel
    from reid_runtime.services.loading import load_model

    if isinstance(model, ReidModel):
        return _describe_loaded(model, str(model.path), model.path.is_file())
    if not isinstance(model, (str, os.PathLike)):
        raise ReidError(f"model must be a file path or a registry name, got {type(model).__name__}")
    path = Path(model).expanduser()
    if path.is_file() and path.suffix.lower() in ENGINE_SUFFIXES:
        return _describe_engine(path)
    return _describe_loaded(load_model(model), str(model), path.is_file())


def _describe_loaded(model: ReidModel, label: str, is_file: bool) -> ModelDescription:
    backend, info = model.backend, model.info
    sessions = {role: getattr(backend, role, None) for role in ("full", "backbone", "head")}
    sessions = {role: s for role, s in sessions.items() if s is not None and hasattr(s, "get_inputs")}
    path = Path(label)
    companion = None
    if not sessions:
        kind = "checkpoint" if is_file else "registry name"
        graphs: list[dict[str, Any]] = []
        dynamic = {"frames": ["batch", "seq"], "embedding": ["batch"]}
        layout = _clip_layout("float32")
    else:
        graphs = [_graph(role, session) for role, session in sessions.items()]
        dynamic = {t["name"] if len(graphs) == 1 else f"{g['graph']}.{t['name']}": _dynamic(t["shape"])
                   for g in graphs for t in [*g["inputs"], *g["outputs"]] if _dynamic(t["shape"])}
        if "full" in sessions:
            kind, layout = "onnx full", _clip_layout(_frames_dtype(graphs[0]))
        else:
            head_file = info.companion
            backbone_file = _props(sessions["head"]).get("reid.companion", "")
            given_head = path.name == head_file
            kind = "onnx split head" if given_head else "onnx split backbone"
            companion = str(path.with_name(backbone_file if given_head else head_file))
            for graph in graphs:
                graph["file"] = head_file if graph["graph"] == "head" else backbone_file
            frames_dtype = _frames_dtype(next(g for g in graphs if g["graph"] == "backbone"))
            layout = (f"backbone: frames (frames, 3, H, W) raw RGB {frames_dtype} 0..255; the runtime aggregates "
                      f"each clip ({info.aggregation}) and the head maps fused (batch, F) to the embedding")
        for graph in graphs:
            graph.setdefault("file", path.name)
    size = None
    if is_file:
        size = path.stat().st_size + (Path(companion).stat().st_size if companion and Path(companion).is_file()
                                      else 0)
    return _description(info, label, kind, model.backend_name, layout, model.backend.has_frame_terms, dynamic,
                        graphs, size, companion)


def _describe_engine(path: Path) -> ModelDescription:
    from reid_runtime.backends.tensorrt_backend import read_sidecar, sidecar_path

    info, profiles = read_sidecar(path)
    sidecar = sidecar_path(path)
    content = json.loads(sidecar.read_text(encoding="utf-8"))
    description = _description(info, str(path), "tensorrt engine", "tensorrt", _clip_layout("float32"), False,
                               {"frames": ["batch", "seq"], "embedding": ["batch"]}, [],
                               path.stat().st_size, str(sidecar), profiles=[str(p) for p in profiles])
    description.build = {key: str(content[key]) for key in ("tensorrt_version", "gpu", "source_onnx")
                         if content.get(key)}
    return description


def _description(info: ModelInfo, label: str, kind: str, backend: str, layout: str, streaming: bool,
                 dynamic: dict[str, list[str]], graphs: list[dict[str, Any]], size: int | None,
                 companion: str | None, profiles: list[str] | None = None) -> ModelDescription:
    return ModelDescription(
        path=label, kind=kind, backend=backend, architecture=info.architecture,
        input_size=(int(info.input_size[0]), int(info.input_size[1])), input_layout=layout,
        embedding_dim=int(info.embedding_dim), metric=info.metric, precision=info.precision,
        aggregation=info.aggregation, num_regions=int(info.num_regions), streaming=bool(streaming),
        dynamic_axes=dynamic, graphs=graphs, seq_lengths_verified=list(info.seq_lengths_verified),
        batch_sizes_verified=list(info.batch_sizes_verified), profiles=profiles or [],
        normalization=info.normalization, model_config=dict(info.model_config), recipe=dict(info.recipe),
        toolkit_version=info.toolkit_version or (__version__ if kind == "registry name" else ""),
        file_size=size, companion=companion,
    )


def _clip_layout(dtype: str) -> str:
    return f"frames (batch, seq, 3, H, W) raw RGB {dtype} 0..255"


def _props(session: Any) -> dict[str, str]:
    return dict(session.get_modelmeta().custom_metadata_map)


def _tensor(node: Any) -> dict[str, Any]:
    shape = [d if isinstance(d, (int, str)) else "?" for d in (node.shape or [])]
    return {"name": node.name, "shape": shape, "dtype": _DTYPES.get(node.type, node.type)}


def _graph(role: str, session: Any) -> dict[str, Any]:
    return {"graph": role, "inputs": [_tensor(n) for n in session.get_inputs()],
            "outputs": [_tensor(n) for n in session.get_outputs()]}


def _dynamic(shape: list[Any]) -> list[str]:
    return [d if isinstance(d, str) else f"dim{i}" for i, d in enumerate(shape) if not isinstance(d, int)]


def _frames_dtype(graph: dict[str, Any]) -> str:
    return next((t["dtype"] for t in graph["inputs"] if t["name"] == "frames"), "float32")


def _graph_line(graph: dict[str, Any]) -> str:
    def tensors(items: list[dict[str, Any]]) -> str:
        return ", ".join(f"{t['name']} [{', '.join(map(str, t['shape']))}] {t['dtype']}" for t in items)

    return f"{graph['file']}: {tensors(graph['inputs'])} -> {tensors(graph['outputs'])}"


def _ints(values: list[int], any_shape: bool) -> str:
    if values:
        return ", ".join(map(str, values))
    return "any (PyTorch)" if any_shape else "not recorded"


def _recipe_line(recipe: dict[str, Any]) -> str:
    if not recipe:
        return "none recorded (an untrained model, or not trained by reid train)"
    facts = []
    for section, key in (("model", "name"), ("data", "dataset"), ("data", "input_size"), ("data", "seq_len"),
                         ("optim", "epochs")):
        value = recipe.get(section, {}).get(key) if isinstance(recipe.get(section), dict) else None
        if value is not None:
            facts.append(f"{section}.{key} {json.dumps(value)}")
    head = str(recipe.get("description", "")).strip()
    return "; ".join(p for p in (head, ", ".join(facts)) if p) + " (all of it with --json)"


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.1f} {unit} ({size} bytes)"
