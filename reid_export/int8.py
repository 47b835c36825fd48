"""Static INT8 quantization with ONNX Runtime: QDQ, per-channel weights, calibrated on real person crops.

Only Conv / MatMul / Gemm are quantized, and none of the FP32 region of :mod:`reid_export.fp16` (attention scores,
ArgMax / GatherElements, reductions and the head after them): their INT8 error would move the frame selection.
Activations and weights are symmetric (zero point 0), the only kind TensorRT's explicit quantization accepts, so the
same file builds an INT8 engine. 20% of the calibration clips are held out to measure the loss against FP32.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from reid_export.fp16 import fp32_nodes
from reid_runtime import model_format as mf
from reid_runtime.data.frames import load_clip
from reid_runtime.errors import ReidError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
HOLDOUT_FRACTION = 0.2


def find_images(root: str | Path) -> list[Path]:
    """Image files under ``root``, recursively, in sorted order."""
    root = Path(root)
    if not root.is_dir():
        raise ReidError(f"{root}: calibration folder not found")
    images = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise ReidError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) found for INT8 calibration")
    return images


def load_calibration_clips(root: str | Path, input_size: tuple[int, int], seq_len: int,
                           max_images: int = 256) -> np.ndarray:
    """Images under ``root`` resized to ``input_size`` and grouped in order into clips ``(N, seq_len, 3, H, W)``.

    Sorted paths keep a tracklet's frames together in dataset layouts; at most ``max_images`` are used, spread evenly
    over the folder.
    """
    images = find_images(root)
    if len(images) > max_images:
        images = [images[i] for i in np.linspace(0, len(images) - 1, max_images).round().astype(int)]
    count = len(images) // seq_len
    if count < 2:
        raise ReidError(f"{root}: {len(images)} usable images make {count} clip(s) of {seq_len} frames; INT8 needs at "
                        f"least 2 (one to calibrate, one held out): add images or lower --calib-seq-len")
    frames = load_clip(images[:count * seq_len], input_size).transpose(0, 3, 1, 2).astype(np.float32)
    return frames.reshape(count, seq_len, *frames.shape[1:])


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
    for a split backbone."""

    def __init__(self, clips: np.ndarray, role: str) -> None:
        self.clips = clips
        self.role = role
        self.index = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.index >= len(self.clips):
            return None
        clip = self.clips[self.index]
        self.index += 1
        return {mf.INPUT_FRAMES: clip[None] if self.role == "full" else clip}

    def rewind(self) -> None:
        self.index = 0


def quantize_int8(model: onnx.ModelProto, clips: np.ndarray, role: str = "full") -> onnx.ModelProto:
    """QDQ INT8 copy of ``model`` calibrated on ``clips`` ``(N, T, 3, H, W)``; metadata copied unchanged."""
    if role not in ("full", "backbone"):
        raise ReidError(f"INT8 calibration feeds frames; the {role!r} graph takes no frames")

    with tempfile.TemporaryDirectory(prefix="reid-int8-") as tmp, _quiet_quantizer():
        source, prepared, output = (Path(tmp) / name for name in ("fp32.onnx", "prepared.onnx", "int8.onnx"))
        onnx.save(model, source)
        quant_pre_process(str(source), str(prepared))  # shape inference + folding, as ORT recommends
        prepared_model = onnx.load(str(prepared))
        quantize_static(
            prepared_model, str(output), ClipReader(clips, role), quant_format=QuantFormat.QDQ, per_channel=True,
            op_types_to_quantize=["Conv", "MatMul", "Gemm"], nodes_to_exclude=fp32_nodes(prepared_model),
            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
        )
        quantized = onnx.load(str(output))
    del quantized.metadata_props[:]
    quantized.metadata_props.extend(model.metadata_props)
    return quantized


def compare(reference, candidate, clips: np.ndarray) -> str:
    """Cosine of ``candidate`` vs ``reference`` runners on ``clips`` (one clip per call), as one report line."""
    cosines = []
    for clip in clips:
        a = np.asarray(reference(clip[None]), dtype=np.float64)[0]
        b = np.asarray(candidate(clip[None]), dtype=np.float64)[0]
        cosines.append(float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)))
    return f"min cosine {min(cosines):.6f}, mean {float(np.mean(cosines)):.6f}"


@contextlib.contextmanager
def _quiet_quantizer():
    """ORT's quantizer logs advice on the root logger at WARNING; keep the export output to our own summary."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
