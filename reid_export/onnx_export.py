"""ONNX export of a checkpoint: dynamo exporter, dynamic batch and seq axes, metadata, optional precision, verification.

Measured exporter behaviour this module relies on (see the environment notes): the dynamo exporter keeps B and T
symbolic where the legacy one may bake them in, cannot produce opsets below 18 (it then silently stays at 18, so the
saved ``opset_import`` is checked), and writes external data unless told not to. The example input has B, T >= 2
because a size-1 example axis can be specialised even when declared dynamic.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import onnx
import torch
from torch import nn

from reid_runtime import __version__
from reid_runtime import model_format as mf
from reid_runtime.errors import ReidError
from reid_runtime.io import write_bytes_atomic

if TYPE_CHECKING:
    from reid_export.verification import VerifyReport

DEFAULT_OPSET = 20
MIN_OPSET = 18
TRACE_SHAPE = (2, 3)  # (B, T) of the example input
MAX_DIM = 1024        # upper bound of the symbolic batch and seq dims
PRECISIONS = ("fp32", "fp16", "int8")


class ExportError(ReidError):
    """An export that cannot be done as asked, or whose graph is not what the runtime contract promises."""


@dataclass
class OnnxExport:
    """What an ONNX export wrote and how it checked out (``reid_export.api.ExportResult`` is the public result)."""

    files: list[Path]
    precisions: list[str]  # per file: the head of a split FP16/INT8 export stays fp32
    seconds: float
    verification: VerifyReport | None = None  # None with verify=False
    notes: list[str] = field(default_factory=list)
    spread_error: float | None = None  # INT8: error / spread between the held-out clips (reid_export.int8)


def aggregation_of(model: nn.Module) -> str:
    """What the model declares: ``sta``, ``mean`` (TP and STA's avg ablation) or ``none`` (ASTA)."""
    return model.aggregation


def model_info(model: nn.Module, recipe: dict[str, Any] | None = None, *, role: str = "full",
               precision: str = "fp32", companion: str = "") -> mf.ModelInfo:
    """The metadata contract of an exported graph of ``model``."""
    return mf.ModelInfo(
        role=role,
        architecture=model.model_config.get("name", type(model).__name__),
        input_size=tuple(model.input_size),
        embedding_dim=int(model.embedding_dim),
        metric=model.metric,
        aggregation=aggregation_of(model),
        num_regions=model.num_regions,
        precision=precision,
        model_config=dict(model.model_config),
        recipe=dict(recipe or {}),
        companion=companion,
        toolkit_version=__version__,
    )


def check_opset(opset: int) -> None:
    if opset < MIN_OPSET:
        raise ExportError(f"opset {opset} is not possible: the dynamo exporter cannot go below opset {MIN_OPSET} "
                          f"(it would silently write {MIN_OPSET}); use --opset {MIN_OPSET}..{DEFAULT_OPSET}")


def dynamo_export(module: nn.Module, example: tuple[torch.Tensor, ...], *, input_names: list[str],
                  output_names: list[str], dynamic_shapes: dict[str, Any], opset: int) -> onnx.ModelProto:
    """``torch.onnx.export(dynamo=True)`` into one self-contained ModelProto at exactly ``opset``."""
    check_opset(opset)
    module = module.eval()
    # The exporter logs one warning per torchvision op it cannot register (torchvision is not a dependency).
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    # The exporter prints progress lines to stdout and warns about internals; the caller prints its own summary.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            program = torch.onnx.export(
                module, example, dynamo=True, input_names=input_names, output_names=output_names,
                dynamic_shapes=dynamic_shapes, opset_version=opset, external_data=False, verbose=False,
            )
    proto = program.model_proto
    check_opset_import(proto, opset)
    return proto


def check_opset_import(proto: onnx.ModelProto, opset: int, source: str = "exported graph") -> None:
    found = {entry.domain or "ai.onnx": entry.version for entry in proto.opset_import}
    if found.get("ai.onnx") != opset:
        raise ExportError(f"{source}: asked for opset {opset}, the graph declares {found.get('ai.onnx')}")


def graph_dims(proto: onnx.ModelProto) -> dict[str, list[str | int]]:
    """Input and output name -> dims, a symbolic dim as its name and an unknown one as ``"?"``."""
    dims: dict[str, list[str | int]] = {}
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims[value.name] = [d.dim_param or (d.dim_value if d.HasField("dim_value") else "?")
                            for d in value.type.tensor_type.shape.dim]
    return dims


def check_dims(proto: onnx.ModelProto, expected: dict[str, tuple[str | int, ...]], source: str) -> None:
    """Every expected IO tensor exists with these dims: str = that symbolic name, int = that fixed size."""
    found = graph_dims(proto)
    for name, dims in expected.items():
        if found.get(name) != list(dims):
            raise ExportError(f"{source}: tensor {name!r} has dims {found.get(name)}, expected {list(dims)} "
                              f"(graph IO: {found})")


def set_metadata(proto: onnx.ModelProto, props: dict[str, str]) -> None:
    """Replace the toolkit's ``reid.*`` entries of ``metadata_props`` by ``props``."""
    kept = [(p.key, p.value) for p in proto.metadata_props if not p.key.startswith(mf.PREFIX)]
    del proto.metadata_props[:]
    for key, value in kept + sorted(props.items()):
        proto.metadata_props.add(key=key, value=value)


def read_info(path: str | Path) -> mf.ModelInfo:
    """The :class:`ModelInfo` stored in an exported ONNX file."""
    path = Path(path)
    if not path.is_file():
        raise ReidError(f"{path}: ONNX file not found")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises several types for a foreign file
        raise ReidError(f"{path}: not a readable ONNX model ({exc})") from exc
    return mf.ModelInfo.from_props({p.key: p.value for p in proto.metadata_props}, source=str(path))


def export_full(model: nn.Module, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """The monolithic graph ``frames`` (batch, seq, 3, H, W) -> ``embedding`` (batch, D)."""
    from torch.export import Dim

    height, width = model.input_size
    example = torch.rand(*TRACE_SHAPE, 3, height, width) * 255
    proto = dynamo_export(
        model, (example,), input_names=[mf.INPUT_FRAMES], output_names=[mf.OUTPUT_EMBEDDING],
        dynamic_shapes={"frames": {0: Dim("batch", min=1, max=MAX_DIM), 1: Dim("seq", min=1, max=MAX_DIM)}},
        opset=opset,
    )
    check_dims(proto, {
        mf.INPUT_FRAMES: ("batch", "seq", 3, height, width),
        mf.OUTPUT_EMBEDDING: ("batch", model.embedding_dim),
    }, "full graph")
    return proto


def simplify(proto: onnx.ModelProto) -> onnx.ModelProto:
    """onnxslim, keeping the metadata and the IO dims (checked by the caller)."""
    import onnxslim

    with contextlib.redirect_stdout(io.StringIO()):
        slim = onnxslim.slim(proto)
    set_metadata(slim, {p.key: p.value for p in proto.metadata_props if p.key.startswith(mf.PREFIX)})
    return slim


def check_precision(precision: str, calib: str | Path | None = None) -> None:
    if precision not in PRECISIONS:
        raise ExportError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "int8" and calib is None:
        raise ExportError("INT8 export needs calibration frames: pass --calib DIR (a dataset root, whose train "
                          "split is used, or a folder of training crops)")


def export_graphs(model: nn.Module, *, opset: int = DEFAULT_OPSET, split: bool = False,
                  simplify_graph: bool = False) -> dict[str, onnx.ModelProto]:
    """FP32 graphs of ``model`` by role: ``{"full": ...}`` or ``{"backbone": ..., "head": ...}``; IO dims checked."""
    from reid_export.split_export import export_split

    if split:
        backbone, head = export_split(model, opset)
        graphs = {"backbone": backbone, "head": head}
    else:
        graphs = {"full": export_full(model, opset)}
    if simplify_graph:
        expected = {role: graph_dims(graph) for role, graph in graphs.items()}
        graphs = {role: simplify(graph) for role, graph in graphs.items()}
        for role, graph in graphs.items():
            check_dims(graph, {k: tuple(v) for k, v in expected[role].items()}, f"simplified {role} graph")
    return graphs


def finish_export(
    model: nn.Module,
    graphs: dict[str, onnx.ModelProto],
    out: str | Path,
    *,
    recipe: dict[str, Any] | None = None,
    precision: str = "fp32",
    calib: str | Path | None = None,
    calib_seq_len: int = 4,
    calib_max_images: int = 256,
    calib_dataset: str | None = None,
    calib_method: str = "minmax",
    int8_scheme: str = "tensorrt",
    verify: bool = True,
    max_abs: float | None = None,
    min_cosine: float | None = None,
    seq_lengths: tuple[int, ...] | None = None,
    batch_sizes: tuple[int, ...] | None = None,
    started: float | None = None,
) -> OnnxExport:
    """Convert FP32 ``graphs`` to ``precision``, stamp the metadata, verify against ``model``, write atomically.

    Nothing is written when verification fails; ``verify=False`` writes the graphs with no verified T/B in metadata.
    INT8 (``int8_scheme`` tensorrt or cpu) is calibrated on the training frames of ``calib`` with ``calib_method``,
    compared with FP32 on held-out clips (refused below ``min_cosine`` unless ``verify=False``) and verified on them
    (see :func:`reid_export.int8.quantize_graphs` and ``verification.verify``).
    """
    from reid_export import verification
    from reid_export.split_export import split_paths

    started = time.perf_counter() if started is None else started
    check_precision(precision, calib)
    out = Path(out)
    opset = _opset(next(iter(graphs.values())))
    if "full" in graphs:
        paths, companions = {"full": out}, {"full": ""}
    else:
        backbone_path, head_path = split_paths(out)
        paths = {"backbone": backbone_path, "head": head_path}
        companions = {"backbone": head_path.name, "head": backbone_path.name}
    precisions = dict.fromkeys(graphs, precision)
    notes: list[str] = []
    spread_error: float | None = None
    real = None
    if precision == "fp16":
        from reid_export.fp16 import convert_fp16

        graphs = {role: graph if role == "head" else convert_fp16(graph) for role, graph in graphs.items()}
        if "head" in graphs:
            precisions["head"] = "fp32"
            notes.append("split FP16: the backbone is converted, the head (one linear layer) stays FP32")
    elif precision == "int8":
        from reid_export import int8

        threshold = verification.tolerance_for("int8", min_cosine=min_cosine).min_cosine if verify else None
        done = int8.quantize_graphs(graphs, model, calib, runner=lambda graphs: _runner(graphs, model),
                                    scheme=int8_scheme, method=calib_method, dataset=calib_dataset,
                                    seq_len=calib_seq_len, max_images=calib_max_images, threshold=threshold, out=out)
        graphs, notes = done.graphs, notes + done.notes
        spread_error = None if math.isnan(done.spread_error) else done.spread_error  # nan: one held-out clip
        precisions.update(done.precisions)
        real = ("calib-holdout", list(done.holdout))

    def stamp(seq: list[int], batch: list[int]) -> None:
        for role, graph in graphs.items():
            info = model_info(model, recipe, role=role, precision=precisions[role], companion=companions[role])
            info.seq_lengths_verified, info.batch_sizes_verified = seq, batch
            set_metadata(graph, info.to_props())

    stamp([], [])
    report = None
    if verify:
        report = verification.verify(
            model, _runner(graphs, model), precision=precision,
            tolerance=verification.tolerance_for(precision, max_abs=max_abs, min_cosine=min_cosine), real=real,
            seq_lengths=seq_lengths or verification.SEQ_LENGTHS, batch_sizes=batch_sizes or verification.BATCH_SIZES,
        )
        if not report.passed:
            raise verification.VerificationError(
                f"{out}: the exported graph does not match PyTorch; nothing was written\n{report.table()}\n"
                "Loosen --max-abs / --min-cosine if this precision loss is acceptable, or pass --no-verify."
            )
        stamp(report.seq_lengths, report.batch_sizes)
    for role, graph in graphs.items():
        check_opset_import(graph, opset, f"{precisions[role]} {role} graph")
        write_bytes_atomic(paths[role], graph.SerializeToString())
    return OnnxExport(files=list(paths.values()), precisions=list(precisions.values()),
                      seconds=time.perf_counter() - started, verification=report, notes=notes,
                      spread_error=spread_error)


def export_model(
    model: nn.Module,
    out: str | Path,
    *,
    recipe: dict[str, Any] | None = None,
    opset: int = DEFAULT_OPSET,
    simplify_graph: bool = False,
    split: bool = False,
    log: Callable[[str], None] = lambda line: None,
    started: float | None = None,
    **options: Any,
) -> OnnxExport:
    """Export a built model: :func:`export_graphs` then :func:`finish_export` (``options`` go there)."""
    check_opset(opset)
    check_precision(options.get("precision", "fp32"), options.get("calib"))
    started = time.perf_counter() if started is None else started
    graphs = export_graphs(model.eval(), opset=opset, split=split, simplify_graph=simplify_graph)
    log(f"exported the {' and '.join(graphs)} graph{'s' if split else ''} with the dynamo exporter at opset {opset}"
        + (", simplified with onnxslim" if simplify_graph else ""))
    return finish_export(model, graphs, out, recipe=recipe, started=started, **options)


def export_checkpoint(checkpoint: str | Path, out: str | Path, **options: Any) -> OnnxExport:
    """Export a training checkpoint with :func:`export_model` (its recipe goes into the metadata)."""
    from reid_train.engine.checkpoint import load_model

    check_opset(options.get("opset", DEFAULT_OPSET))
    check_precision(options.get("precision", "fp32"), options.get("calib"))
    started = time.perf_counter()
    model, ckpt = load_model(checkpoint)
    return export_model(model, out, recipe=ckpt.get("config") or {}, started=started, **options)


def _opset(graph: onnx.ModelProto) -> int:
    return {entry.domain or "ai.onnx": entry.version for entry in graph.opset_import}["ai.onnx"]


def _runner(graphs: dict[str, onnx.ModelProto], model: nn.Module):
    """An ONNX Runtime callable ``frames (B, T, 3, H, W) -> (B, D)`` over in-memory graphs (full or split)."""
    from reid_export.split_export import SplitRunner
    from reid_export.verification import FullRunner, ort_session

    if "full" in graphs:
        return FullRunner.from_graph(graphs["full"])  # with its selection exposed for the verification
    return SplitRunner(ort_session(graphs["backbone"]), ort_session(graphs["head"]), aggregation_of(model),
                       fusion=bool(model.model_config.get("fusion", True)))
