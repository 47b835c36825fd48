"""Multiply-accumulates (MACs) per clip: backbone, head and the head's attention, counted from the ops that run.

Conventions (the re-ID papers' "GFLOPs" are GMACs):

* Convolutions and matrix products are counted by ``torch.utils.flop_counter.FlopCounterMode`` (2 FLOPs per MAC,
  halved here). It sees functional ops, not only leaf modules.
* FlopCounterMode counts nothing else, so STA's parameter-free attention (pow / sum / div, argmax, weighted sums) would
  read as zero. A second dispatch mode counts the elementwise and reduction ops as MAC-equivalents: one per output
  element of an elementwise op (inference BatchNorm is one fused multiply-add per element), one per input element of a
  reduction (sum, mean, amax, argmax). Data movement (gather, cat, copy, views) counts zero. A sum of squares thus
  counts 2 per element where a fused kernel does one MAC: an upper bound, and a tiny one next to the convolutions.
* Backbone = its convolutions (and any linear layer) only, as in the published ResNet-50 figures: BatchNorm, ReLU,
  residual adds, pooling and the pixel normalisation are excluded from the totals and reported apart
  (``backbone_other``).
* Head = everything in ``model.head``. Its "attention" share is the code that weighs and aggregates frames: ops in an
  attention module (a class whose name contains ``Attention``, e.g. ASTA's spatio-temporal attention with its convs)
  and the parameter-free code written directly in the head's (or an attribute stream's) ``forward``. STA: Eq. 1-4,
  the arg-max selection and the weighted sums; TP: the temporal mean; ASTA: both attention modules, the re-weighting
  and the pooling. The learned layers (STA's FC, BNNecks, ASTA's 1x1 stream convs and attribute classifiers) are
  ``head_layers``.

Counts run on fake tensors (shapes only, no arithmetic), so a ResNet-50 clip takes well under a second to count.
The ONNX cross-check recounts Conv / Gemm / MatMul from the exported graph's inferred shapes at a fixed ``(B, T)``.
"""

from __future__ import annotations

import copy
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from reid_runtime.errors import ReidError
from reid_train.models import backbone_of

aten = torch.ops.aten

# MAC-equivalents per output element
_ELEMENTWISE = {
    aten.add, aten.sub, aten.mul, aten.div, aten.pow, aten.sqrt, aten.rsqrt, aten.exp, aten.log, aten.sigmoid,
    aten.tanh, aten.relu, aten.clamp, aten.clamp_min, aten.clamp_max, aten.maximum, aten.minimum, aten.neg, aten.abs,
    aten.reciprocal, aten.where, aten._softmax, aten.hardtanh, aten.add_, aten.mul_, aten.div_, aten.relu_,
    aten.clamp_min_, aten.sigmoid_, aten._native_batch_norm_legit_no_training, aten.native_batch_norm,
}
# MAC-equivalents per input element
_REDUCTIONS = {
    aten.sum, aten.mean, aten.amax, aten.amin, aten.max, aten.min, aten.argmax, aten.argmin,
    aten.linalg_vector_norm, aten.norm, aten.avg_pool2d, aten.max_pool2d_with_indices, aten.max_pool2d,
    aten._adaptive_avg_pool2d, aten.adaptive_avg_pool2d,
}


# Published costs of the same models: (model, (H, W), T) -> (label, GMACs, MARS mAP).
PUBLISHED_SOURCE = "AITL (Chen et al. 2020) Fig. 8"
PUBLISHED = {
    ("sta_resnet50", (256, 128), 4): ("STA (N=4)", 16.0, 80.8),
    ("sta_resnet50", (256, 128), 6): ("STA (N=6)", 24.0, 81.0),
    ("sta_resnet50", (256, 128), 8): ("STA (N=8)", 32.0, 81.2),
    ("asta_resnet50", (256, 128), 4): ("AITL/ASTA (T=4)", 20.7, 84.4),
}


# Published per-frame costs of backbones alone: (backbone, (H, W)) -> GMACs per frame (conv + linear layers).
BACKBONE_PUBLISHED_SOURCE = "torchreid model zoo (Zhou et al.), conv + linear MACs"
BACKBONE_PUBLISHED = {
    ("osnet_x1_0", (256, 128)): 0.9789,
    ("osnet_x0_75", (256, 128)): 0.5718,
    ("osnet_x0_5", (256, 128)): 0.2729,
    ("osnet_x0_25", (256, 128)): 0.0823,
}


@dataclass
class MacsCount:
    """MACs of one forward pass over ``batch`` clips of ``seq_len`` frames; per-clip figures are the properties."""

    model: str
    input_size: tuple[int, int]
    seq_len: int
    batch: int
    backbone: int
    head_layers: int
    attention: int
    backbone_other: int
    flop_counter_flops: int  # FlopCounterMode's own total (conv + matmul, 2 per MAC)
    by_op: dict[str, int] = field(default_factory=dict)

    @property
    def head(self) -> int:
        return self.head_layers + self.attention

    @property
    def total(self) -> int:
        return self.backbone + self.head

    @property
    def per_clip(self) -> int:
        return self.total // self.batch

    @property
    def per_frame(self) -> float:
        return self.total / (self.batch * self.seq_len)

    @property
    def conv_matmul(self) -> int:
        """What FlopCounterMode counts, in MACs: the figure the ONNX cross-check reproduces."""
        return self.flop_counter_flops // 2

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(head=self.head, total=self.total, per_clip=self.per_clip, per_frame=self.per_frame)
        return data


class _OpLedger(TorchDispatchMode):
    """Every op of the forward pass with its MACs, attributed to a section by the module stack kept by hooks."""

    def __init__(self, section: list[str]) -> None:
        super().__init__()
        self.section = section
        self.counts: dict[tuple[str, str], int] = defaultdict(int)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func._overloadpacket
        if packet in flop_registry:
            macs = flop_registry[packet](*args, **kwargs, out_val=out) // 2
            kind = "matmul"
        elif packet in _ELEMENTWISE:
            first = out[0] if isinstance(out, (tuple, list)) else out
            macs, kind = first.numel(), "elementwise"
        elif packet in _REDUCTIONS:
            macs, kind = args[0].numel(), "elementwise"
        else:
            return out
        if macs:
            self.counts[(self.section[-1] + ":" + kind, packet.__name__)] += int(macs)
        return out


def _sections(model: nn.Module) -> tuple[list[str], list[Any]]:
    """A live stack of the current section name, kept by forward hooks on every submodule."""
    attention_roots = {name for name, module in model.named_modules() if "Attention" in type(module).__name__}
    stack = ["input"]
    handles = []

    def section_of(name: str, module: nn.Module) -> str:
        if name.startswith("backbone"):
            return "backbone"
        if not name.startswith("head"):
            return "input"
        if any(name == root or name.startswith(root + ".") for root in attention_roots):
            return "attention"
        return "head_layers" if not list(module.children()) else "attention"

    for name, module in model.named_modules():
        if not name:
            continue
        section = section_of(name, module)
        handles.append(module.register_forward_pre_hook(lambda *_, s=section: stack.append(s)))
        handles.append(module.register_forward_hook(lambda *_: stack.pop() and None))  # None: keep the output
    return stack, handles


def count_macs(model: nn.Module, seq_len: int, batch: int = 1) -> MacsCount:
    """Count one eval forward of ``batch`` clips of ``seq_len`` frames at the model's input size (no arithmetic runs:
    the input is a fake tensor)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    if seq_len < 1 or batch < 1:
        raise ValueError(f"seq_len and batch must be >= 1, got seq_len={seq_len}, batch={batch}")
    height, width = model.input_size
    was_training = model.training
    model.eval()
    stack, handles = _sections(model)
    ledger = _OpLedger(stack)
    try:
        with torch.no_grad(), FakeTensorMode(allow_non_fake_inputs=True):
            frames = torch.empty(batch, seq_len, 3, height, width)
            with FlopCounterMode(display=False) as counter, ledger:
                model(frames)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    totals: dict[str, int] = defaultdict(int)
    for (section, _), macs in ledger.counts.items():
        totals[section] += macs
    matmul = sum(v for k, v in totals.items() if k.endswith(":matmul"))
    if 2 * matmul != counter.get_total_flops():
        raise RuntimeError(f"op ledger counts {2 * matmul} conv/matmul FLOPs, FlopCounterMode "
                           f"{counter.get_total_flops()}: an op was decomposed differently")
    return MacsCount(
        model=str(model.model_config.get("name", type(model).__name__)),
        input_size=(height, width),
        seq_len=seq_len,
        batch=batch,
        backbone=totals["backbone:matmul"],
        head_layers=totals["head_layers:matmul"] + totals["head_layers:elementwise"],
        attention=totals["attention:matmul"] + totals["attention:elementwise"],
        backbone_other=totals["backbone:elementwise"] + totals["input:elementwise"] + totals["input:matmul"],
        flop_counter_flops=int(counter.get_total_flops()),
        by_op={f"{section}/{op}": macs for (section, op), macs in sorted(ledger.counts.items())},
    )


def build_model(spec: str | Path, input_size: tuple[int, int] | None = None) -> nn.Module:
    """A registered model name (untrained, seed 0, e.g. ``sta_resnet50``) or a checkpoint path, on the CPU in eval
    mode. ``input_size`` applies to names; a checkpoint keeps the size it was trained at."""
    from reid_train.backends.torch_backend import MARS_TRAIN_IDS, build_named_model
    from reid_train.engine.checkpoint import load_model

    path = Path(spec)
    if path.suffix.lower() in (".pt", ".pth") or path.is_file():
        model, _ = load_model(path, map_location="cpu")
        if input_size is not None and tuple(model.input_size) != tuple(input_size):
            raise ReidError(f"{path}: the checkpoint's model takes {model.input_size[0]}x{model.input_size[1]} "
                            f"frames; --size applies to model names only")
        return model.eval()
    return build_named_model(str(spec), input_size, num_classes=MARS_TRAIN_IDS)


@dataclass
class OnnxCount:
    """Conv / Gemm / MatMul MACs of an ONNX graph at a fixed input shape."""

    conv: int
    gemm: int
    matmul: int
    shape: tuple[int, ...]

    @property
    def total(self) -> int:
        return self.conv + self.gemm + self.matmul


def onnx_macs(model: onnx.ModelProto | str | Path, input_shape: Iterable[int]) -> OnnxCount:
    """Count Conv / Gemm / MatMul MACs with ONNX shape inference after fixing the single input to ``input_shape``."""
    proto = onnx.load(str(model)) if isinstance(model, (str, Path)) else copy.deepcopy(model)
    shape = tuple(int(d) for d in input_shape)
    inputs = [i for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
    if len(inputs) != 1:
        raise ReidError(f"ONNX MAC count needs a graph with one input, found {[i.name for i in inputs]}")
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != len(shape):
        raise ReidError(f"input {inputs[0].name!r} has rank {len(dims)}, got shape {shape}")
    for dim, size in zip(dims, shape):
        dim.ClearField("dim_param")
        dim.dim_value = size
    del proto.graph.value_info[:]
    inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    shapes: dict[str, list[int]] = {t.name: list(t.dims) for t in inferred.graph.initializer}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else -1 for d in dims]
    for node in inferred.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    shapes[node.output[0]] = list(attr.t.dims)

    def known(name: str, node: onnx.NodeProto) -> list[int]:
        dims = shapes.get(name)
        if dims is None or any(d < 0 for d in dims):
            raise ReidError(f"ONNX MAC count: shape of {name!r} ({node.op_type} {node.name!r}) is not known at "
                            f"input shape {shape}: {dims}")
        return dims

    conv = gemm = matmul = 0
    for node in inferred.graph.node:
        if node.op_type == "Conv":
            out = known(node.output[0], node)
            weight = known(node.input[1], node)
            conv += int(np.prod(out, dtype=np.int64)) * int(np.prod(weight[1:], dtype=np.int64))
        elif node.op_type == "Gemm":
            a = known(node.input[0], node)
            trans_a = next((attr.i for attr in node.attribute if attr.name == "transA"), 0)
            inner = a[0] if trans_a else a[1]
            gemm += int(np.prod(known(node.output[0], node), dtype=np.int64)) * inner
        elif node.op_type == "MatMul":
            a = known(node.input[0], node)
            matmul += int(np.prod(known(node.output[0], node), dtype=np.int64)) * a[-1]
    return OnnxCount(conv, gemm, matmul, shape)


def onnx_cross_check(model: nn.Module, seq_lens: Iterable[int], batch: int = 1,
                     graph: onnx.ModelProto | None = None) -> dict[int, dict[str, float]]:
    """T -> torch conv/matmul MACs, ONNX Conv/Gemm/MatMul MACs and their relative difference, per clip batch.

    ``graph`` is the full-graph export of ``model`` (exported here on the CPU when not given).
    """
    if graph is None:
        from reid_export.onnx_export import export_graphs

        graph = export_graphs(model)["full"]
    height, width = model.input_size
    results = {}
    for seq in seq_lens:
        torch_count = count_macs(model, seq, batch).conv_matmul
        onnx_count = onnx_macs(graph, (batch, seq, 3, height, width)).total
        results[seq] = {"torch": torch_count, "onnx": onnx_count,
                        "rel_diff": (onnx_count - torch_count) / max(torch_count, 1)}
    return results


def flops_rows(spec: str | Path, seq_lens: Iterable[int], input_size: tuple[int, int] | None = None,
               onnx_check: bool = True, log: Callable[[str], None] = lambda line: None) -> list[dict[str, Any]]:
    """One row per T for a model name or checkpoint: backbone / head / attention / total MACs per clip and per frame,
    and, with ``onnx_check``, the ONNX Conv/Gemm/MatMul recount at B=1 and its relative difference."""
    model = build_model(spec, input_size)
    seq_lens = list(seq_lens)
    checks: dict[int, dict[str, float]] = {}
    if onnx_check:
        started = time.perf_counter()
        checks = onnx_cross_check(model, seq_lens)
        log(f"{spec}: exported and recounted the ONNX graph in {time.perf_counter() - started:.1f} s")
    rows = []
    for seq in seq_lens:
        count = count_macs(model, seq)
        row = {"model": count.model, "input_size": list(count.input_size), "seq_len": seq,
               "last_stride": model.model_config.get("last_stride"), **count.to_dict()}
        if seq in checks:
            row["onnx_conv_matmul"] = checks[seq]["onnx"]
            row["onnx_rel_diff"] = checks[seq]["rel_diff"]
        backbone_ref = BACKBONE_PUBLISHED.get((backbone_of(count.model), tuple(count.input_size)))
        if backbone_ref:
            row["backbone_published"] = {"source": BACKBONE_PUBLISHED_SOURCE, "gmacs_per_frame": backbone_ref,
                                         "rel_diff": (count.backbone / seq / 1e9 - backbone_ref) / backbone_ref}
        published = PUBLISHED.get((count.model, tuple(count.input_size), seq))
        if published:
            row["published"] = {"source": PUBLISHED_SOURCE, "label": published[0], "gmacs": published[1],
                                "mAP": published[2]}
        rows.append(row)
    return rows


@dataclass
class FlopsReport:
    """MACs per clip of one or more models at several T (``reid bench flops``)."""

    rows: list[dict[str, Any]]
    machine: dict[str, Any]
    onnx_check: bool
    notes: list[str] = field(default_factory=list)
    command: str = ""
    title: str = "MACs per clip"

    def to_dict(self) -> dict[str, Any]:
        return {"units": "MACs per clip (B=1); FLOPs = 2 x MACs", "onnx_check": self.onnx_check, "rows": self.rows,
                "published": self.published(), "notes": self.notes}

    def published(self) -> list[dict[str, Any]]:
        """Our count next to each published figure of the same model, T and frame size (for the picture)."""
        return [{**r["published"], "ours_gmacs": r["total"] / 1e9, "model": r["model"], "seq_len": r["seq_len"]}
                for r in self.rows if "published" in r]

    def table(self) -> str:
        """Terminal table in GMACs (MACs, not FLOPs)."""
        width = max([15, *(len(r["model"]) + 1 for r in self.rows)])
        head = (f"{'model':<{width}}{'size':>9}{'T':>4}{'backbone':>10}{'/frame':>8}{'vs ref':>8}{'head':>8}"
                f"{'attn MMACs':>12}{'total':>9}{'/frame':>8}{'ONNX diff':>11}")
        lines = ["GMACs per clip (multiply-accumulates; FLOPs = 2 x MACs)", head, "-" * len(head)]
        for r in self.rows:
            diff = f"{100 * r['onnx_rel_diff']:+.3f}%" if "onnx_rel_diff" in r else "-"
            ref = f"{100 * r['backbone_published']['rel_diff']:+.2f}%" if "backbone_published" in r else "-"
            size = "x".join(str(v) for v in r["input_size"])
            seq = r["seq_len"]
            lines.append(f"{r['model']:<{width}}{size:>9}{seq:>4}{r['backbone'] / 1e9:>10.3f}"
                         f"{r['backbone'] / seq / 1e9:>8.3f}{ref:>8}{r['head'] / 1e9:>8.3f}"
                         f"{r['attention'] / 1e6:>12.3f}{r['total'] / 1e9:>9.3f}{r['per_frame'] / 1e9:>8.3f}{diff:>11}")
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = ["GMACs = 10^9 multiply-accumulates per clip of T frames (the papers' \"GFLOPs\"; FLOPs = 2 x MACs), "
                 "B = 1.", "",
                 "| model | HxW | T | backbone | backbone / frame | backbone / frame published | head | "
                 "of which attention (MMACs) | total | total / frame | published | ours vs published | "
                 "ONNX recount vs torch |",
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            published = r.get("published")
            paper = f"{published['gmacs']:.1f} ({published['label']})" if published else "-"
            diff = f"{100 * (r['total'] / 1e9 - published['gmacs']) / published['gmacs']:+.1f}%" if published else "-"
            onnx = f"{100 * r['onnx_rel_diff']:+.3f}%" if "onnx_rel_diff" in r else "-"
            size = "x".join(str(v) for v in r["input_size"])
            ref = r.get("backbone_published")
            ref_cell = f"{ref['gmacs_per_frame']:.4f} ({100 * ref['rel_diff']:+.2f}%)" if ref else "-"
            lines.append(f"| {r['model']} | {size} | {r['seq_len']} | {r['backbone'] / 1e9:.3f} | "
                         f"{r['backbone'] / r['seq_len'] / 1e9:.3f} | {ref_cell} | {r['head'] / 1e9:.3f} | "
                         f"{r['attention'] / 1e6:.2f} | {r['total'] / 1e9:.3f} | {r['per_frame'] / 1e9:.3f} | "
                         f"{paper} | {diff} | {onnx} |")
        return "\n".join(lines)


NOTES = [
    "Backbone = its convolutions (and any linear layer) only, as in the published ResNet-50 figures; BatchNorm, ReLU, "
    "residual adds, pooling and the pixel normalisation are excluded and reported apart (JSON: backbone_other).",
    "Convolutions and matrix products: torch.utils.flop_counter.FlopCounterMode, halved. Elementwise and reduction "
    "ops of the head (STA's pow/sum/div, argmax, weighted sums; ASTA's sigmoid and re-weighting): a second op "
    "counter, one MAC-equivalent per output element (elementwise) or per input element (reduction); gather / cat / "
    "views count zero. 'Attention' = attention modules plus the parameter-free code of the head.",
    "Models built from a name carry a 625-identity classifier (MARS); TP and ASTA run it in the eager eval graph but "
    "the ONNX exporter drops the unused output, which is their ONNX recount difference.",
]
ONNX_NOTE = ("ONNX recount: Conv / Gemm / MatMul MACs from onnx.shape_inference (data propagation on) over the "
             "dynamo export with the input fixed to (1, T, 3, H, W).")


def count_flops(models: Iterable[str | Path], seq_lens: Iterable[int], input_size: tuple[int, int] | None = None,
                onnx_check: bool = True, log: Callable[[str], None] = lambda line: None) -> FlopsReport:
    """:func:`flops_rows` of every model, as a report (``reid bench flops``)."""
    from reid_runtime.bench.machine import describe_machine

    machine = describe_machine()
    seq_lens = list(seq_lens)
    if not seq_lens or min(seq_lens) < 1:
        raise ReidError(f"sequence lengths must be positive integers, got {seq_lens}")
    rows = [row for spec in models for row in flops_rows(spec, seq_lens, input_size, onnx_check, log)]
    notes = NOTES + ([ONNX_NOTE] if onnx_check else [])
    if any("published" in r for r in rows):
        notes.append(f"Published: {PUBLISHED_SOURCE} (ResNet-50, 256x128, MARS), read off the figure.")
    if any("backbone_published" in r for r in rows):
        notes.append(f"Backbone published per frame: {BACKBONE_PUBLISHED_SOURCE} at 256x128; vs ref = our backbone "
                     "count per frame against it.")
    return FlopsReport(rows, machine, onnx_check, notes)
