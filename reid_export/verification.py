"""PyTorch vs ONNX Runtime on the same tracklets over a grid of (B, T), with tolerances relative to the output scale.

Random tracklets (except for INT8, see :func:`verify`), and real ones (dataset frames or held-out calibration clips)
when given. A case passes when ``max |torch - ort| <= max_abs * max(1, scale)`` (``scale``: the largest ``|torch|``
of the case; ``max_abs`` None: not checked) and every embedding's cosine with its reference is >= ``min_cosine``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from reid_runtime import model_format as mf
from reid_runtime.errors import ReidError

SEQ_LENGTHS = (1, 2, 3, 4, 7, 8, 16)
BATCH_SIZES = (1, 2, 5)
DEFAULT_TOLERANCES = {  # precision -> (max_abs relative to max(1, scale), min cosine)
    "fp32": (1e-3, 0.9999),
    "fp16": (None, 0.999),
    "int8": (None, 0.98),
}


class VerificationError(ReidError):
    """ONNX Runtime output differs from PyTorch beyond the tolerance."""


@dataclass(frozen=True)
class Tolerance:
    max_abs: float | None
    min_cosine: float

    def to_dict(self) -> dict[str, float | None]:
        return {"max_abs": self.max_abs, "min_cosine": self.min_cosine}

    def __str__(self) -> str:
        parts = [] if self.max_abs is None else [f"max|diff| <= {self.max_abs:g} x max(1, scale)"]
        return ", ".join(parts + [f"cosine >= {self.min_cosine:g}"])


def tolerance_for(precision: str, *, max_abs: float | None = None, min_cosine: float | None = None) -> Tolerance:
    """The default tolerance of ``precision``, with either part overridden."""
    if precision not in DEFAULT_TOLERANCES:
        raise ValueError(f"precision {precision!r} has no default tolerance; expected one of "
                         f"{', '.join(DEFAULT_TOLERANCES)}")
    default_abs, default_cos = DEFAULT_TOLERANCES[precision]
    return Tolerance(default_abs if max_abs is None else max_abs, default_cos if min_cosine is None else min_cosine)


@dataclass(frozen=True)
class Case:
    source: str
    batch: int
    seq: int
    max_abs: float
    scale: float
    min_cosine: float
    passed: bool

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "batch": self.batch, "seq": self.seq, "max_abs": self.max_abs,
                "scale": self.scale, "min_cosine": self.min_cosine, "passed": self.passed}


@dataclass
class VerifyReport:
    """Every (source, B, T) case of a comparison with PyTorch; ``model`` / ``reference`` name the files compared."""

    precision: str
    tolerance: Tolerance
    cases: list[Case] = field(default_factory=list)
    model: str = ""
    reference: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(case.passed for case in self.cases)

    @property
    def seq_lengths(self) -> list[int]:
        return sorted({case.seq for case in self.cases})

    @property
    def batch_sizes(self) -> list[int]:
        return sorted({case.batch for case in self.cases})

    def to_dict(self) -> dict[str, object]:
        return {"model": self.model, "reference": self.reference, "precision": self.precision,
                "passed": self.passed, "tolerance": self.tolerance.to_dict(), "seq_lens": self.seq_lengths,
                "batch_sizes": self.batch_sizes, "cases": [case.to_dict() for case in self.cases]}

    def table(self) -> str:
        lines = [f"{'source':<14}{'B':>3}{'T':>4}{'max|diff|':>12}{'scale':>10}{'min cos':>11}  ok"]
        for c in self.cases:
            lines.append(f"{c.source:<14}{c.batch:>3}{c.seq:>4}{c.max_abs:>12.3g}{c.scale:>10.3g}"
                         f"{c.min_cosine:>11.6f}  {'yes' if c.passed else 'NO'}")
        return "\n".join(lines)

    def summary(self) -> str:
        worst_cos = min(c.min_cosine for c in self.cases)
        worst_abs = max(c.max_abs for c in self.cases)
        verdict = "passed" if self.passed else f"FAILED ({sum(not c.passed for c in self.cases)} cases)"
        return (f"verification {verdict}: {len(self.cases)} cases, T {self.seq_lengths}, B {self.batch_sizes}; "
                f"max|diff| {worst_abs:.3g}, min cosine {worst_cos:.6f} vs PyTorch FP32 ({self.tolerance})")


class FullRunner:
    """A full-graph ONNX Runtime session as ``frames (B, T, 3, H, W) -> (B, D)``."""

    def __init__(self, session) -> None:
        self.session = session

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return self.session.run(None, {mf.INPUT_FRAMES: np.asarray(frames, dtype=np.float32)})[0]


def ort_session(model: str | Path | bytes | onnx.ModelProto):
    """An ONNX Runtime CPU session from a path, serialized bytes or a ModelProto."""
    import onnxruntime as ort

    if isinstance(model, onnx.ModelProto):
        model = model.SerializeToString()
    elif isinstance(model, Path):
        model = str(model)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Spinning ORT worker threads would starve the PyTorch reference that runs between the ORT calls.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def open_onnx(path: str | Path) -> tuple[object, mf.ModelInfo]:
    """A runner and the metadata of an exported file; a split file brings its companion (backbone <-> head)."""
    from reid_export.onnx_export import read_info
    from reid_export.split_export import SplitRunner

    path = Path(path)
    info = read_info(path)
    if info.role == "full":
        return FullRunner(ort_session(path)), info
    companion = path.with_name(info.companion)
    if not info.companion or not companion.is_file():
        raise ReidError(f"{path}: split {info.role} graph whose companion {info.companion!r} is not beside it; "
                        "keep model.backbone.onnx and model.head.onnx together")
    backbone, head = (path, companion) if info.role == "backbone" else (companion, path)
    backbone_info = read_info(backbone)
    runner = SplitRunner(ort_session(backbone), ort_session(head), backbone_info.aggregation,
                         fusion=bool(backbone_info.model_config.get("fusion", True)))
    return runner, backbone_info


def random_frames(batch: int, seq: int, input_size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Uniform raw RGB frames ``(B, T, 3, H, W)`` in 0..255."""
    return rng.uniform(0.0, 255.0, size=(batch, seq, 3, *input_size)).astype(np.float32)


def tracklet_frames(pool: list[np.ndarray], batch: int, seq: int) -> np.ndarray:
    """``(B, T, 3, H, W)`` from a pool of tracklets ``(T_i, 3, H, W)``: tracklet b of the pool (cycling), frames
    0..T-1 (cycling through a shorter tracklet)."""
    clips = []
    for b in range(batch):
        tracklet = pool[b % len(pool)]
        clips.append(tracklet[np.arange(seq) % len(tracklet)])
    return np.stack(clips).astype(np.float32)


def dataset_pool(dataset: str, data_root: str | Path, input_size: tuple[int, int], count: int = max(BATCH_SIZES),
                 frames: int = max(SEQ_LENGTHS)) -> list[np.ndarray]:
    """``count`` test tracklets spread over the query and gallery of a dataset, first ``frames`` frames each."""
    from reid_runtime.data.frames import load_clip
    from reid_runtime.data.registry import load_dataset

    splits = load_dataset(dataset, data_root, attributes=False)
    tracklets = splits.query + splits.gallery
    if not tracklets:
        raise ReidError(f"{data_root}: the {dataset} test split has no tracklets to verify on")
    picks = np.linspace(0, len(tracklets) - 1, num=min(count, len(tracklets))).round().astype(int)
    pool = []
    for index in picks:
        paths = tracklets[index].frames[:frames]
        pool.append(load_clip(paths, input_size).transpose(0, 3, 1, 2).astype(np.float32))
    return pool


def compare(reference: np.ndarray, output: np.ndarray) -> tuple[float, float, float]:
    """``(max |diff|, scale, min cosine)`` of two ``(B, D)`` embedding batches."""
    reference = np.asarray(reference, dtype=np.float64)
    output = np.asarray(output, dtype=np.float64)
    if reference.shape != output.shape:
        raise VerificationError(f"output shape {output.shape} differs from PyTorch's {reference.shape}")
    norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(output, axis=1)
    cosine = (reference * output).sum(axis=1) / np.maximum(norms, 1e-12)
    return float(np.abs(reference - output).max()), float(np.abs(reference).max()), float(cosine.min())


def verify(
    model: nn.Module,
    runner,
    *,
    precision: str = "fp32",
    tolerance: Tolerance | None = None,
    seq_lengths: tuple[int, ...] = SEQ_LENGTHS,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    real: tuple[str, list[np.ndarray]] | None = None,
    seed: int = 0,
) -> VerifyReport:
    """Compare ``model`` (eval, FP32) and ``runner`` on random tracklets and ``real = (name, pool)`` ones.

    INT8 is checked on real tracklets only: its activation ranges are calibrated on person crops, and uniform noise
    saturates them (cosine about 0.97 on a model that keeps 0.9997 on held-out crops), which says nothing about use.
    """
    tolerance = tolerance or tolerance_for(precision)
    if precision == "int8" and real is None:
        raise ReidError("INT8 models are verified on real frames (uniform noise falls outside the calibrated ranges): "
                        "pass --data-root and --dataset")
    model = model.eval()
    rng = np.random.default_rng(seed)
    report = VerifyReport(precision, tolerance)
    sources = ([] if precision == "int8" else [("random", None)]) + ([real] if real is not None else [])
    for source, pool in sources:
        for seq in seq_lengths:
            for batch in batch_sizes:
                frames = (random_frames(batch, seq, model.input_size, rng) if pool is None
                          else tracklet_frames(pool, batch, seq))
                with torch.no_grad():
                    reference = model(torch.from_numpy(frames)).numpy()
                max_abs, scale, min_cos = compare(reference, runner(frames))
                passed = min_cos >= tolerance.min_cosine and (
                    tolerance.max_abs is None or max_abs <= tolerance.max_abs * max(1.0, scale))
                report.cases.append(Case(source, batch, seq, max_abs, scale, min_cos, passed))
    return report


def reference_model(reference: str | Path, input_size: tuple[int, int] | None = None) -> nn.Module:
    """The PyTorch model to compare with: a checkpoint, or a registry name built untrained (seed 0, as exported)."""
    from reid_train.backends.torch_backend import build_named_model
    from reid_train.engine.checkpoint import load_model

    text = str(reference)
    if Path(text).suffix.lower() in (".pt", ".pth") or Path(text).exists() or "/" in text:
        if not Path(text).is_file():
            raise ReidError(f"{text}: reference checkpoint not found")
        return load_model(text)[0]
    return build_named_model(text, input_size)


def verify_files(
    reference: str | Path,
    model_path: str | Path,
    *,
    data_root: str | Path | None = None,
    dataset: str | None = None,
    max_abs: float | None = None,
    min_cosine: float | None = None,
    seq_lengths: tuple[int, ...] = SEQ_LENGTHS,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
) -> VerifyReport:
    """``reid verify``: an exported file (full or split) against its checkpoint (or registry name), on random and
    dataset tracklets."""
    if (data_root is None) != (dataset is None):
        raise ReidError("give --data-root and --dataset together (real tracklets), or neither (random ones only)")
    runner, info = open_onnx(model_path)
    model = reference_model(reference, tuple(info.input_size))
    if tuple(info.input_size) != tuple(model.input_size) or info.embedding_dim != model.embedding_dim:
        raise ReidError(f"{model_path}: exported for input {info.input_size} and D={info.embedding_dim}, but "
                        f"{reference} has input {tuple(model.input_size)} and D={model.embedding_dim}")
    real = None
    if dataset is not None:
        real = (dataset, dataset_pool(dataset, data_root, model.input_size, max(batch_sizes), max(seq_lengths)))
    tolerance = tolerance_for(info.precision, max_abs=max_abs, min_cosine=min_cosine)
    report = verify(model, runner, precision=info.precision, tolerance=tolerance, seq_lengths=seq_lengths,
                    batch_sizes=batch_sizes, real=real)
    report.model, report.reference = str(model_path), str(reference)
    return report
