"""Static INT8 quantization with ONNX Runtime: QDQ graphs whose every convolution runs in integer, calibrated on
frames of a training split.

Two schemes, because no one file is both what TensorRT's parser accepts and what ONNX Runtime's x86 CPU kernels fuse:

* ``tensorrt`` (format ``onnx-int8``): signed int8 activations with zero point 0 (symmetric), the only activation
  quantization TensorRT's explicit-quantization parser takes. ONNX Runtime on x86 fuses QDQ convolutions only for
  unsigned activations: it rewrites an int8 Q/DQ pair to uint8 where it can, but a ReLU between two quantized tensors
  with zero point 0 cannot be folded into the uint8 ranges, so it stays a float op between DequantizeLinear and
  QuantizeLinear, with layout Transposes around it. The file is correct on ONNX Runtime, fast on TensorRT and OpenVINO.
* ``cpu`` (format ``onnx-int8-cpu``): unsigned int8 activations with a zero point (asymmetric): a ReLU becomes the
  lower end of its output range and disappears, and ONNX Runtime fuses every convolution (QLinearConv) and every
  residual addition (QLinearAdd). TensorRT rejects uint8 Q/DQ; OpenVINO runs it.

Both schemes quantize the weights per output channel (symmetric int8, axis 0 for Conv, 1 for a MatMul's B), leave
the biases in float (no int32 bias DequantizeLinear, which TensorRT's parser refuses) and quantize the inputs and
outputs of Conv / MatMul / Gemm / Add / MaxPool / ReLU, so the residual additions of a ResNet are quantized too and
no convolution feeds a float op. Nothing of the FP32 region of :mod:`reid_export.fp16` is quantized (attention
scores, ArgMax / GatherElements, reductions and the head after them: their INT8 error would move the frame
selection). The opset domains the quantizer declares but no node uses are removed.

OSNet's channel gates (global pooling, two 1x1 convolutions, sigmoid, product with the stream) and MobileNetV3's
squeeze-excitation belong to the backbone, not to the FP32 region. In the ``cpu`` scheme :func:`integer_pooling`
first rewrites the backbone's pooling for integer kernels: the gates' ReduceMean over H, W becomes GlobalAveragePool
(quantized: QLinearGlobalAveragePool) and OSNet's 2x2 transition AveragePool a depthwise 2x2 Conv of weights 1/4
(QLinearConv; ONNX Runtime's own QLinearAveragePool took 8-10% of OSNet's time for those two nodes). The gates'
Sigmoid and Mul stay float between DequantizeLinear and QuantizeLinear on purpose. Measured side by side (issue #14;
untrained sta_osnet_x1_0 and sta_resnet50, 256x128, B=1, T=4, 2 threads, ``reid bench latency --rounds 3 --backends
auto,openvino``, calibrated on ``reid data synth --ids 4``, three runs on a shared 2-core box; throughput vs the
previous onnx-int8-cpu file of OSNet on ONNX Runtime):

==============================================  ==================  ==================
OSNet x1.0 onnx-int8-cpu                        ONNX Runtime        OpenVINO
==============================================  ==================  ==================
before (float ReduceMean, QLinearAveragePool)   1.00                2.04 - 2.10
with :func:`integer_pooling` (this file)        1.13 - 1.19         1.96 - 2.06
also Mul, Sigmoid quantized (4 other runs)      1.26 - 1.49         1.63 - 1.87
ResNet-50 onnx-int8-cpu (graph unchanged)       0.75 - 0.81         1.05 - 1.09
==============================================  ==================  ==================

So the rewrite buys 13-19% on ONNX Runtime and leaves OpenVINO, the fastest CPU path, within its noise (-6% .. +3%);
quantizing the gates' Mul and Sigmoid too (QLinearMul, QLinearSigmoid) would win another 5-14% on ONNX Runtime
but cost OpenVINO 9-15% against the previous file in the same run, so it is not done.
The ResNet graphs have no pooling outside the FP32 region: their file is identical. On OpenVINO OSNet x1.0 INT8 runs
1.9-2.0x the clips/s of ResNet-50 INT8 (the MACs ratio is 4.1: 0.98 vs 4.05 GMACs per frame); the held-out check
gave min cosine 0.999906 (OSNet) and 0.999866 (ResNet-50) on 9 clips.

Calibration reads a training split only: a dataset root (its train split through the dataset's own reader, so query
and gallery frames never calibrate) or a folder of person crops (searched recursively; a folder holding a test,
query or gallery subfolder is refused). 20% of the clips are held out to measure INT8 against FP32: min cosine
(``--min-cosine``, selection-aware) and the error relative to the spread between the clips' embeddings (at most 1,
``MAX_SPREAD_ERROR``). The second catches what cosine cannot: when every clip's embedding is nearly the same vector
(an 80-step MobileNetV3-Large STA, benchmarks/results/tradeoff_cpu/trained_128x64), INT8 can keep every cosine at
0.99999 and still scramble the ranking (its mAP halved, 11.1 -> 5.7, before this check; its error is 25,000x the
spread); ResNet-18, ResNet-50 and OSNet x1.0 trained the same way measure 0.05, 0.40 and 0.42.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from reid_export.formats import CALIB_METHODS
from reid_export.fp16 import fp32_nodes
from reid_runtime import model_format as mf
from reid_runtime.data.frames import load_clip
from reid_runtime.errors import ReidError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
HOLDOUT_FRACTION = 0.2
# Folder names under which datasets keep the frames of their test split: never calibration material.
TEST_FOLDERS = frozenset({"bbox_test", "query", "gallery", "test"})
QUANTIZED_OPS = ("Conv", "MatMul", "Gemm", "Add", "MaxPool", "Relu")
# The INT8 error may not exceed the spread between the held-out clips' embeddings (reid_export.verification.
# spread_error): beyond it, the ranking that retrieval needs is scrambled whatever the cosine says.
MAX_SPREAD_ERROR = 1.0
CALIB_CHUNK = 4  # clips whose intermediate tensors are held at once while calibrating (ResNet-50 256x128: ~0.4 GB each)
_METHODS = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
            "entropy": CalibrationMethod.Entropy}
assert set(_METHODS) == set(CALIB_METHODS)


class Int8AccuracyError(ReidError):
    """The INT8 graph is further from FP32 on held-out frames than the threshold allows."""


@dataclass(frozen=True)
class Scheme:
    """How activations are quantized (weights are always symmetric int8 per channel)."""

    name: str
    activation_type: QuantType
    symmetric: bool
    summary: str
    integer_pooling: bool = False  # rewrite the backbone's pooling for integer kernels (see the module docstring)

    @property
    def op_types(self) -> tuple[str, ...]:
        return QUANTIZED_OPS + (("GlobalAveragePool",) if self.integer_pooling else ())


SCHEMES = {
    "tensorrt": Scheme("tensorrt", QuantType.QInt8, True,
                       "int8 activations with zero point 0 (TensorRT explicit quantization)"),
    "cpu": Scheme("cpu", QuantType.QUInt8, False,
                  "uint8 asymmetric activations (ONNX Runtime and OpenVINO CPU integer kernels)", integer_pooling=True),
}


# ---------------------------------------------------------------- calibration frames


def find_images(root: str | Path) -> list[Path]:
    """Image files under ``root``, recursively, in sorted order."""
    root = Path(root)
    if not root.is_dir():
        raise ReidError(f"{root}: calibration folder not found")
    images = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise ReidError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) found for INT8 calibration")
    return images


def detect_dataset(root: str | Path) -> str | None:
    """The dataset whose layout ``root`` has (its reader accepts it), or None for a plain folder."""
    from reid_runtime.data.registry import DATASETS, load_dataset

    for name in DATASETS:
        try:
            splits = load_dataset(name, root, attributes=False)
        except (ReidError, OSError, ValueError, KeyError, IndexError, TypeError):
            continue
        if splits.train:
            return name
    return None


def dataset_clip_paths(root: str | Path, dataset: str, seq_len: int, max_images: int) -> list[tuple[str, ...]]:
    """Clips of ``seq_len`` consecutive frames of the TRAIN split of ``dataset`` at ``root`` (read by the dataset's
    reader), at most ``max_images`` frames in all, spread evenly over the tracklets (a shorter tracklet repeats its
    frames). Query and gallery frames are never read."""
    from reid_runtime.data.registry import load_dataset

    splits = load_dataset(dataset, root, attributes=False)
    if not splits.train:
        raise ReidError(f"{root}: the {dataset} train split is empty; INT8 calibrates on training frames only")
    candidates: list[tuple[str, ...]] = []
    for tracklet in splits.train:
        frames = tracklet.frames
        for start in range(0, max(1, len(frames) - seq_len + 1), seq_len):
            candidates.append(tuple(frames[(start + i) % len(frames)] for i in range(seq_len)))
    count = min(len(candidates), max_images // seq_len)
    if count < 2:
        raise ReidError(f"{root}: the {dataset} train split ({len(splits.train)} tracklets) and --calib-max-images "
                        f"{max_images} make {count} clip(s) of {seq_len} frames; INT8 needs at least 2 (one to "
                        "calibrate, one held out): raise --calib-max-images or lower --calib-seq-len")
    return [candidates[i] for i in np.linspace(0, len(candidates) - 1, count).round().astype(int)]


def folder_clip_paths(root: str | Path, seq_len: int, max_images: int) -> list[tuple[str, ...]]:
    """Clips of ``seq_len`` images of a plain folder, grouped in sorted order (which keeps a tracklet's frames
    together in dataset layouts), at most ``max_images`` images spread evenly over the folder. A folder holding a
    test split (a ``bbox_test``, ``query``, ``gallery`` or ``test`` subfolder) is refused."""
    root = Path(root)
    images = find_images(root)
    leaked = next((p for p in images if TEST_FOLDERS & set(p.relative_to(root).parts[:-1])), None)
    if leaked is not None:
        folder = next(part for part in leaked.relative_to(root).parts[:-1] if part in TEST_FOLDERS)
        raise ReidError(f"{root}: holds test-split frames ({folder}/, e.g. {leaked.relative_to(root)}); INT8 "
                        "calibrates on training frames only: give the dataset root with --calib-dataset NAME (its "
                        "train split is read) or a folder of training crops")
    if len(images) > max_images:
        images = [images[i] for i in np.linspace(0, len(images) - 1, max_images).round().astype(int)]
    count = len(images) // seq_len
    if count < 2:
        raise ReidError(f"{root}: {len(images)} usable images make {count} clip(s) of {seq_len} frames; INT8 needs at "
                        "least 2 (one to calibrate, one held out): add images or lower --calib-seq-len")
    return [tuple(str(p) for p in images[i * seq_len:(i + 1) * seq_len]) for i in range(count)]


@dataclass
class Calibration:
    """Calibration clips ``(N, T, 3, H, W)`` and where they came from."""

    clips: np.ndarray
    source: str  # e.g. "the mars train split at DIR" or "the images under DIR"
    paths: list[tuple[str, ...]] = field(default_factory=list)


def calibration_paths(root: str | Path, seq_len: int, max_images: int = 256,
                      dataset: str | None = None) -> tuple[list[tuple[str, ...]], str]:
    """The frame paths of the calibration clips and a description of the source (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise ReidError(f"{root}: calibration folder not found")
    dataset = dataset or detect_dataset(root)
    if dataset is not None:
        paths, source = dataset_clip_paths(root, dataset, seq_len, max_images), f"the {dataset} train split at {root}"
    else:
        paths, source = folder_clip_paths(root, seq_len, max_images), f"the images under {root}"
    return paths, source


def load_calibration(root: str | Path, input_size: tuple[int, int], seq_len: int, max_images: int = 256,
                     dataset: str | None = None) -> Calibration:
    """The calibration clips of ``root`` resized to ``input_size``, as float32 raw RGB ``(N, T, 3, H, W)``."""
    paths, source = calibration_paths(root, seq_len, max_images, dataset)
    flat = [path for clip in paths for path in clip]
    frames = load_clip(flat, input_size).transpose(0, 3, 1, 2).astype(np.float32)
    return Calibration(frames.reshape(len(paths), seq_len, *frames.shape[1:]), source, paths)


def split_holdout(clips: np.ndarray, fraction: float = HOLDOUT_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """(calibration, held-out): every k-th clip is held out, at least one of each."""
    held = max(1, int(round(len(clips) * fraction)))
    if held >= len(clips):
        raise ReidError(f"{len(clips)} calibration clips leave none to calibrate on after holding out {held}")
    mask = np.zeros(len(clips), dtype=bool)
    mask[np.linspace(0, len(clips) - 1, held + 2)[1:-1].round().astype(int)] = True
    return clips[~mask], clips[mask]


class ClipReader(CalibrationDataReader):
    """ONNX Runtime calibration reader: one clip per call, ``(1, T, 3, H, W)`` for a full graph, ``(T, 3, H, W)``
    for a split backbone. ``set_range`` lets the calibrator take the clips a few at a time (bounded memory)."""

    def __init__(self, clips: np.ndarray, role: str) -> None:
        self.clips = clips
        self.role = role
        self.index, self.end = 0, len(clips)

    def __len__(self) -> int:
        return len(self.clips)

    def set_range(self, start_index: int, end_index: int) -> None:
        self.index, self.end = start_index, min(end_index, len(self.clips))

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.index >= self.end:
            return None
        clip = self.clips[self.index]
        self.index += 1
        return {mf.INPUT_FRAMES: clip[None] if self.role == "full" else clip}

    def rewind(self) -> None:
        self.index, self.end = 0, len(self.clips)


# ---------------------------------------------------------------- quantization


def quantize_int8(model: onnx.ModelProto, clips: np.ndarray, role: str = "full", *, scheme: str = "tensorrt",
                  method: str = "minmax") -> onnx.ModelProto:
    """QDQ INT8 copy of ``model`` calibrated on ``clips`` ``(N, T, 3, H, W)`` with ``method`` (minmax, percentile,
    entropy) in ``scheme`` (tensorrt, cpu: see the module docstring); metadata copied unchanged."""
    if role not in ("full", "backbone"):
        raise ReidError(f"INT8 calibration feeds frames; the {role!r} graph takes no frames")
    if scheme not in SCHEMES:
        raise ReidError(f"INT8 scheme {scheme!r} is unknown; expected one of {', '.join(SCHEMES)}")
    if method not in _METHODS:
        raise ReidError(f"calibration method {method!r} is unknown; expected one of {', '.join(_METHODS)}")
    chosen = SCHEMES[scheme]
    with tempfile.TemporaryDirectory(prefix="reid-int8-") as tmp, _quiet_quantizer():
        source, prepared, output = (Path(tmp) / name for name in ("fp32.onnx", "prepared.onnx", "int8.onnx"))
        onnx.save(model, source)
        quant_pre_process(str(source), str(prepared))  # shape inference + folding, as ORT recommends
        prepared_model = onnx.load(str(prepared))
        if chosen.integer_pooling:
            integer_pooling(prepared_model)
        quantize_static(
            prepared_model, str(output), ClipReader(clips, role), quant_format=QuantFormat.QDQ, per_channel=True,
            op_types_to_quantize=list(chosen.op_types), nodes_to_exclude=fp32_nodes(prepared_model),
            activation_type=chosen.activation_type, weight_type=QuantType.QInt8, calibrate_method=_METHODS[method],
            extra_options={
                "ActivationSymmetric": chosen.symmetric, "WeightSymmetric": True,
                "QuantizeBias": False,  # float bias: TensorRT's parser refuses an int32 bias DequantizeLinear
                "CalibTensorRangeSymmetric": chosen.symmetric,  # percentile would symmetrize uint8 ranges
                "CalibStridedMinMax": _chunk(len(clips)),  # every method: a few clips' tensors in memory at once
                "QDQOpTypePerChannelSupportToAxis": {"MatMul": 1},  # the output channels of a MatMul's B
            },
        )
        quantized = onnx.load(str(output))
    drop_unused_opsets(quantized)
    del quantized.metadata_props[:]
    quantized.metadata_props.extend(model.metadata_props)
    quantized.metadata_props.add(key="quantization", value=f"QDQ {scheme}: {chosen.summary}; int8 per-channel "
                                                           f"symmetric weights, float bias; calibration {method}")
    return quantized


def integer_pooling(model: onnx.ModelProto) -> dict[str, int]:
    """Rewrite, outside the FP32 region, the backbone pooling that ONNX Runtime would run in float or slowly: a
    ReduceMean over H and W of a 4-D map (keepdims) becomes GlobalAveragePool (QLinearGlobalAveragePool once
    quantized), a non-overlapping k x k AveragePool without padding becomes a depthwise k x k Conv of weights
    1 / k^2 (exact in int8 per channel; QLinearConv). Same arithmetic in FP32; returns the count per rewrite."""
    graph = model.graph
    region = set(fp32_nodes(model))
    inferred = onnx.shape_inference.infer_shapes(model).graph
    dims = {value.name: [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
            for value in list(inferred.value_info) + list(inferred.input)}
    constants = {tensor.name: tensor for tensor in graph.initializer}
    counts = {"GlobalAveragePool": 0, "depthwise Conv": 0}
    nodes = []
    for node in graph.node:
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        shape = dims.get(node.input[0]) if node.input else None
        if node.name in region or shape is None or len(shape) != 4:
            nodes.append(node)
        elif node.op_type == "ReduceMean" and attributes.get("keepdims", 1) == 1 and _axes(node, constants) == {2, 3}:
            nodes.append(onnx.helper.make_node("GlobalAveragePool", [node.input[0]], list(node.output),
                                               name=node.name))
            counts["GlobalAveragePool"] += 1
        elif (node.op_type == "AveragePool" and shape[1] and len(set(attributes["kernel_shape"])) == 1
              and list(attributes.get("strides", [])) == list(attributes["kernel_shape"])
              and not any(attributes.get("pads", [])) and attributes.get("auto_pad", b"NOTSET") == b"NOTSET"
              and not attributes.get("ceil_mode", 0)):
            kernel, channels = list(attributes["kernel_shape"]), shape[1]
            weight = f"{node.output[0]}_depthwise_weight"
            graph.initializer.append(onnx.numpy_helper.from_array(
                np.full((channels, 1, *kernel), 1 / np.prod(kernel), dtype=np.float32), weight))
            nodes.append(onnx.helper.make_node("Conv", [node.input[0], weight], list(node.output), name=node.name,
                                               group=channels, kernel_shape=kernel, strides=kernel))
            counts["depthwise Conv"] += 1
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return counts


def _axes(node: onnx.NodeProto, constants: dict[str, onnx.TensorProto]) -> set[int] | None:
    """The reduced axes of a 4-D ReduceMean (an attribute before opset 18, a constant input since), or None."""
    if len(node.input) > 1 and node.input[1]:
        if node.input[1] not in constants:
            return None
        axes = onnx.numpy_helper.to_array(constants[node.input[1]]).tolist()
    else:
        axes = next((list(a.ints) for a in node.attribute if a.name == "axes"), None)
    return None if axes is None else {int(axis) % 4 for axis in axes}


def drop_unused_opsets(model: onnx.ModelProto) -> list[str]:
    """Remove the ``opset_import`` entries of domains no node (or local function) uses; the default domain stays.
    Returns the removed domains."""
    used = {node.domain or "" for node in model.graph.node}
    for function in model.functions:
        used.add(function.domain or "")
        used |= {node.domain or "" for node in function.node}
    kept = [entry for entry in model.opset_import if (entry.domain or "") in used | {""}]
    removed = [entry.domain for entry in model.opset_import if (entry.domain or "") not in used | {""}]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    return removed


def _chunk(count: int) -> int:
    """The largest divisor of ``count`` up to :data:`CALIB_CHUNK` (ORT's strided calibration needs a divisor)."""
    return max(d for d in range(1, min(CALIB_CHUNK, count) + 1) if count % d == 0)


# ---------------------------------------------------------------- agreement with FP32


def cosines(reference: Callable[[np.ndarray], np.ndarray], candidate: Callable[[np.ndarray], np.ndarray],
            clips: np.ndarray) -> np.ndarray:
    """Cosine of ``candidate`` vs ``reference`` runners per clip of ``clips`` (one clip per call)."""
    values = []
    for clip in clips:
        a = np.asarray(reference(clip[None]), dtype=np.float64)[0]
        b = np.asarray(candidate(clip[None]), dtype=np.float64)[0]
        values.append(float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)))
    return np.asarray(values)


@dataclass
class Int8Graphs:
    """What :func:`quantize_graphs` made: the graphs (the quantized one replaced), the precision per role, notes
    for the export summary and the held-out clips (real frames for the verification)."""

    graphs: dict[str, onnx.ModelProto]
    precisions: dict[str, str]
    notes: list[str]
    holdout: np.ndarray
    min_cosine: float
    spread_error: float  # error / spread between the held-out clips' embeddings (nan for one clip)


def quantize_graphs(graphs: dict[str, onnx.ModelProto], model: Any, calib: str | Path, *,
                    runner: Callable[[dict[str, onnx.ModelProto]], Callable[[np.ndarray], np.ndarray]],
                    scheme: str = "tensorrt", method: str = "minmax", dataset: str | None = None, seq_len: int = 4,
                    max_images: int = 256, threshold: float | None = None,
                    out: str | Path = "the export") -> Int8Graphs:
    """Quantize the frame graph of ``graphs`` (full, or the backbone of a split pair) calibrated on ``calib``; compare
    with FP32 on the held-out clips and raise :class:`Int8AccuracyError` below ``threshold`` (None: report only).

    ``runner(graphs)`` builds a ``frames (B, T, 3, H, W) -> (B, D)`` callable of a set of graphs."""
    calibration = load_calibration(calib, tuple(model.input_size), seq_len, max_images, dataset)
    fitting, holdout = split_holdout(calibration.clips)
    role = "full" if "full" in graphs else "backbone"
    quantized = {**graphs, role: quantize_int8(graphs[role], fitting, role=role, scheme=scheme, method=method)}
    precisions = dict.fromkeys(graphs, "int8")
    notes = [f"INT8 {SCHEMES[scheme].summary}; calibrated with {method} on {len(fitting)} clips of T={seq_len} "
             f"from {calibration.source}"]
    if role == "backbone":
        precisions["head"] = "fp32"
        notes.append("split INT8: the backbone is quantized, the head (one linear layer) stays FP32")
    # Selection-aware, like every verification: a near-tie flip of STA's per-region frame choice is reported, not
    # counted as an error (reid_export.verification).
    from reid_export.verification import check_clips, tolerance_for

    tolerance = tolerance_for("int8", min_cosine=threshold)
    case = check_clips(model, runner(quantized), holdout, tolerance, source="held-out training clips")
    flips = (f"; {len(case.flips)} of {case.selections} frame selections flipped (worst relative margin "
             f"{case.flip_margin:.2g}), plain min cosine {case.plain_min_cosine:.6f}") if case.flips else ""
    spread_ok = not case.spread_error > MAX_SPREAD_ERROR  # nan (one held-out clip): not measurable, not refused
    verdict = "not checked" if threshold is None else ("ok" if case.passed and spread_ok else "BELOW")
    notes.append(f"INT8 vs PyTorch FP32 on {len(holdout)} held-out training clips of T={seq_len}: min cosine "
                 f"{case.min_cosine:.6f}{flips}, error {case.spread_error:.3g} x the spread between the clips "
                 f"(thresholds {'-' if threshold is None else f'{threshold:g}'} and {MAX_SPREAD_ERROR:g}: {verdict})")
    head = f"{out}: INT8 vs PyTorch FP32 on {len(holdout)} held-out training clips:"
    if threshold is not None and not case.passed:
        raise Int8AccuracyError(
            f"{head} min cosine {case.min_cosine:.6f} < {threshold:g} ({case.problem or 'below the threshold'}); "
            "nothing was written. Try another --calib-method (percentile, entropy), more --calib-max-images or "
            "calibration frames closer to the target cameras, or lower --min-cosine")
    if threshold is not None and not spread_ok:
        raise Int8AccuracyError(
            f"{head} the INT8 error is {case.spread_error:.3g} x the spread between the clips' embeddings (allowed "
            f"{MAX_SPREAD_ERROR:g}; min cosine {case.min_cosine:.6f}): the differences that tell people apart are "
            "lost; nothing was written. The FP32 embeddings barely differ between clips, as in a collapsed or barely "
            "trained model: train longer or from ImageNet weights, or deploy FP32 / FP16")
    return Int8Graphs(quantized, precisions, notes, holdout, float(case.min_cosine), float(case.spread_error))


# ---------------------------------------------------------------- what TensorRT's parser takes


QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
WEIGHT_INPUTS = {"Conv": 1, "ConvTranspose": 1, "Gemm": 1, "MatMul": 1}


def tensorrt_problems(model: onnx.ModelProto) -> list[str]:
    """What TensorRT's ONNX parser would reject in a QDQ graph for explicit quantization, one line each (empty: none
    found): int8 Q/DQ with zero point 0 only; Q/DQ on activations and on the weights of Conv / Gemm / MatMul only
    (no int32 bias DequantizeLinear); per-tensor activation scales; per-channel weight scales along the output
    channels; only standard-domain nodes; no opset import that no node uses."""
    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    producers = {name: node for node in graph.node for name in node.output}
    consumers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for index, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, index))
    problems = []
    for node in graph.node:
        label = f"{node.op_type} {node.name or node.output[0]}"
        if node.domain not in ("", "ai.onnx"):
            problems.append(f"{label}: domain {node.domain!r} (TensorRT parses the standard ONNX domain)")
        if node.op_type not in QDQ_OPS:
            continue
        zero = initializers.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        scale = initializers.get(node.input[1])
        if zero is None or zero.data_type != onnx.TensorProto.INT8:
            kind = "absent" if zero is None else onnx.TensorProto.DataType.Name(zero.data_type)
            problems.append(f"{label}: zero point {kind}, TensorRT takes int8 Q/DQ only")
        elif np.any(onnx.numpy_helper.to_array(zero) != 0):
            problems.append(f"{label}: non-zero zero point, TensorRT takes symmetric quantization only")
        if scale is None:
            problems.append(f"{label}: scale is not a constant initializer")
            continue
        channels = int(np.prod(scale.dims)) if scale.dims else 1
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        source = node.input[0]
        if node.op_type == "QuantizeLinear":
            if source in initializers:
                problems.append(f"{label}: quantizes a constant (weights go in as int8 through DequantizeLinear)")
            if channels != 1:
                problems.append(f"{label}: per-channel activation scale, TensorRT takes per-tensor activations")
            continue
        if source in initializers:  # a DequantizeLinear of stored weights
            weights = initializers[source]
            if weights.data_type != onnx.TensorProto.INT8:
                problems.append(f"{label}: dequantizes a {onnx.TensorProto.DataType.Name(weights.data_type)} "
                                "constant (an int32 bias?), TensorRT takes int8 weights only")
            users = consumers.get(node.output[0], [])
            if not users or any(WEIGHT_INPUTS.get(user.op_type) != index for user, index in users):
                problems.append(f"{label}: dequantized constant does not feed the weight input of a Conv, Gemm or "
                                "MatMul")
            elif channels != 1:
                user = users[0][0]
                trans_b = next((a.i for a in user.attribute if a.name == "transB"), 0)
                expected = {"Conv": 0, "ConvTranspose": 1, "MatMul": 1, "Gemm": 0 if trans_b else 1}[user.op_type]
                if axis % len(weights.dims) != expected or channels != weights.dims[expected]:
                    problems.append(f"{label}: per-channel scale along axis {axis} with {channels} values; the "
                                    f"{user.op_type} weight {list(weights.dims)} has its output channels on axis "
                                    f"{expected}")
        else:
            if producers.get(source) is None or producers[source].op_type != "QuantizeLinear":
                problems.append(f"{label}: dequantizes {source!r}, which no QuantizeLinear produces")
            if channels != 1:
                problems.append(f"{label}: per-channel activation scale, TensorRT takes per-tensor activations")
    used = {node.domain or "" for node in graph.node} | {function.domain or "" for function in model.functions}
    unused = [entry.domain for entry in model.opset_import if (entry.domain or "") not in used | {""}]
    if unused:
        problems.append(f"opset imports no node uses: {', '.join(unused)}")
    return problems


@contextlib.contextmanager
def _quiet_quantizer():
    """ORT's quantizer logs advice on the root logger at WARNING and its histogram calibrators print to stdout; keep
    the export output (and ``--json``'s stdout) to our own summary."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)

