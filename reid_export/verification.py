"""PyTorch vs ONNX Runtime on the same tracklets over a grid of (B, T), with tolerances relative to the output scale.

Random tracklets (except for INT8, see :func:`verify`), and real ones (dataset frames or held-out calibration clips)
when given. A case passes when ``max |torch - ort| <= max_abs * max(1, scale)`` (``scale``: the largest ``|torch|``
of the case; ``max_abs`` None: not checked) and every embedding's cosine with its reference is >= ``min_cosine``.

**Selection-aware for STA.** STA's fused feature takes, per region k, the strip of the frame with the highest score
(Algorithm 1): a hard choice. When two frames are nearly tied, the rounding of a lower precision (or merely another
summation order) can make the export pick the other frame, which moves the embedding by far more than the rounding
itself: a legitimate result that a plain cosine check calls an error, while a real error can hide behind the same
figure. So for a model with per-region selection (``model.aggregation == "sta"`` with fusion) the reference of a clip
is PyTorch run with the same frame selection as the export:

- a clip whose embedding matches PyTorch's (within the tolerance) has the same selection, or flips that change
  nothing measurable;
- otherwise the verifier looks for the selection the export made: it recomputes PyTorch's fused feature
  (``frame_terms`` on the same frames, then ``forward_fused``) with other frames selected in some regions, greedily,
  one region at a time, until the export's embedding matches one (within the tolerance). Only PyTorch is needed, so
  this works for any runner (full graph, split pair, another engine);
- each flipped (clip, region) is reported with its margin: the gap between the two frames' normalised scores
  ``S(n, k)`` (Eq. 4) in PyTorch, and that gap relative to the selected frame's score. A flip within the precision's
  epsilon (``Tolerance.flip_margin``, relative) is a near-tie, reported and accepted; a flip beyond it, or a clip that
  matches no selection (an embedding off where selections agree), fails the case.

The epsilons are relative score margins, ``(S(a, k) - S(b, k)) / S(a, k)`` with ``a`` PyTorch's frame and ``b`` the
export's (the normalisation over frames cancels, so it is the raw scores' relative gap): a flip needs the two scores'
relative errors to add up to the margin. Measured relative errors of the per-frame scores ``s_{n,k}`` against PyTorch
(the demo's trained sta_tiny at 128x64 on 200 random and 200 dataset frames, and an untrained sta_resnet50 at
256x128): FP32 ONNX at most 6e-7; FP16 at most 5.2e-4 (sta_tiny) and 5.8e-4 (ResNet-50); INT8 (QDQ, calibrated on
the dataset's crops) at most 2.8e-2. So a legitimate flip has a margin below about twice those, and the epsilons
leave room above that: 1e-4 for FP32 (any flip beyond it is a real difference), 5e-3 for FP16 (about 4x the largest
legitimate margin) and 0.1 for INT8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from reid_runtime import model_format as mf
from reid_runtime.aggregation import EPS as AGGREGATION_EPS
from reid_runtime.aggregation import sta_fuse
from reid_runtime.errors import ReidError

SEQ_LENGTHS = (1, 2, 3, 4, 7, 8, 16)
BATCH_SIZES = (1, 2, 5)
# precision -> (max_abs relative to max(1, scale), min cosine, flip margin: see the module doc for the measurements)
DEFAULT_TOLERANCES = {
    "fp32": (1e-3, 0.9999, 1e-4),
    "fp16": (None, 0.999, 5e-3),
    "int8": (None, 0.98, 0.1),
}


class VerificationError(ReidError):
    """ONNX Runtime output differs from PyTorch beyond the tolerance."""


@dataclass(frozen=True)
class Tolerance:
    max_abs: float | None
    min_cosine: float
    flip_margin: float = 0.0  # the largest relative score margin of an accepted selection flip (near-tie)

    def to_dict(self) -> dict[str, float | None]:
        return {"max_abs": self.max_abs, "min_cosine": self.min_cosine, "flip_margin": self.flip_margin}

    def __str__(self) -> str:
        parts = [] if self.max_abs is None else [f"max|diff| <= {self.max_abs:g} x max(1, scale)"]
        return ", ".join(parts + [f"cosine >= {self.min_cosine:g}"])


def tolerance_for(precision: str, *, max_abs: float | None = None, min_cosine: float | None = None,
                  flip_margin: float | None = None) -> Tolerance:
    """The default tolerance of ``precision``, with any part overridden."""
    if precision not in DEFAULT_TOLERANCES:
        raise ValueError(f"precision {precision!r} has no default tolerance; expected one of "
                         f"{', '.join(DEFAULT_TOLERANCES)}")
    default_abs, default_cos, default_flip = DEFAULT_TOLERANCES[precision]
    return Tolerance(default_abs if max_abs is None else max_abs, default_cos if min_cosine is None else min_cosine,
                     default_flip if flip_margin is None else flip_margin)


@dataclass(frozen=True)
class Flip:
    """One (clip, region) where the export selected another frame than PyTorch; scores are PyTorch's."""

    clip: int          # index of the clip in its case's batch
    region: int
    frame: int         # PyTorch's selection: argmax_n S(n, region)
    export_frame: int  # the export's
    gap: float         # S(frame, region) - S(export_frame, region), normalised scores (Eq. 4)
    margin: float      # gap / S(frame, region): the relative margin compared with the precision's epsilon
    accepted: bool     # margin <= epsilon: a near-tie

    def to_dict(self) -> dict[str, object]:
        return {"clip": self.clip, "region": self.region, "frame": self.frame, "export_frame": self.export_frame,
                "gap": self.gap, "margin": self.margin, "accepted": self.accepted}


@dataclass(frozen=True)
class Case:
    """One (source, B, T) comparison. ``max_abs`` / ``min_cosine`` are against PyTorch with the export's frame
    selection (PyTorch's own output wherever the selections agree); ``plain_min_cosine`` against PyTorch's output."""

    source: str
    batch: int
    seq: int
    max_abs: float
    scale: float
    min_cosine: float
    passed: bool
    selections: int = 0              # (clip, region) selections compared: B * K for STA with fusion, else 0
    flips: tuple[Flip, ...] = ()
    plain_min_cosine: float | None = None
    problem: str = ""                # why it failed: "embedding off", "flip beyond epsilon" (both: joined)
    spread_error: float = math.nan   # error / spread between the clips (see spread_error); nan for one clip

    @property
    def flip_margin(self) -> float:
        """The largest relative margin of a flip of this case (0 without flips)."""
        return max((flip.margin for flip in self.flips), default=0.0)

    @property
    def flipped_clips(self) -> int:
        return len({flip.clip for flip in self.flips})

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "batch": self.batch, "seq": self.seq, "max_abs": self.max_abs,
                "scale": self.scale, "min_cosine": self.min_cosine, "passed": self.passed,
                "plain_min_cosine": self.min_cosine if self.plain_min_cosine is None else self.plain_min_cosine,
                "selections": self.selections, "flips": [flip.to_dict() for flip in self.flips],
                "problem": self.problem, "spread_error": None if math.isnan(self.spread_error) else self.spread_error}


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

    @property
    def flips(self) -> list[tuple[Case, Flip]]:
        return [(case, flip) for case in self.cases for flip in case.flips]

    def selection_summary(self) -> dict[str, object]:
        """The flip figures over all cases: selections compared, flipped (accepted / beyond epsilon), worst margin."""
        flips = [flip for _, flip in self.flips]
        worst = max(flips, key=lambda flip: flip.margin, default=None)
        return {
            "compared": sum(case.selections for case in self.cases),
            "flipped": len(flips),
            "accepted": sum(flip.accepted for flip in flips),
            "beyond_epsilon": sum(not flip.accepted for flip in flips),
            "flipped_clips": sum(case.flipped_clips for case in self.cases),
            "clips": sum(case.batch for case in self.cases),
            "worst_margin": None if worst is None else worst.margin,
            "worst_gap": None if worst is None else worst.gap,
            "epsilon": self.tolerance.flip_margin,
        }

    def to_dict(self) -> dict[str, object]:
        return {"model": self.model, "reference": self.reference, "precision": self.precision,
                "passed": self.passed, "tolerance": self.tolerance.to_dict(), "seq_lens": self.seq_lengths,
                "batch_sizes": self.batch_sizes, "selections": self.selection_summary(),
                "cases": [case.to_dict() for case in self.cases]}

    def table(self) -> str:
        lines = [f"{'source':<14}{'B':>3}{'T':>4}{'max|diff|':>12}{'scale':>10}{'min cos':>11}{'flips':>7}"
                 f"{'margin':>10}  ok"]
        for c in self.cases:
            flips = f"{len(c.flips)}" if c.selections else "-"
            margin = f"{c.flip_margin:.2g}" if c.flips else "-"
            verdict = "yes" if c.passed else f"NO {c.problem}".rstrip()
            lines.append(f"{c.source:<14}{c.batch:>3}{c.seq:>4}{c.max_abs:>12.3g}{c.scale:>10.3g}"
                         f"{c.min_cosine:>11.6f}{flips:>7}{margin:>10}  {verdict}")
        return "\n".join(lines)

    def summary(self) -> str:
        worst_cos = min(c.min_cosine for c in self.cases)
        worst_abs = max(c.max_abs for c in self.cases)
        verdict = "passed" if self.passed else f"FAILED ({sum(not c.passed for c in self.cases)} cases)"
        tolerance = str(self.tolerance)
        if any(case.selections for case in self.cases):
            tolerance += f", flip margin <= {self.tolerance.flip_margin:g}"
        text = (f"verification {verdict}: {len(self.cases)} cases, T {self.seq_lengths}, B {self.batch_sizes}; "
                f"max|diff| {worst_abs:.3g}, min cosine {worst_cos:.6f} vs PyTorch FP32 ({tolerance})")
        return text + self._selection_line()

    def _selection_line(self) -> str:
        figures = self.selection_summary()
        if not figures["compared"]:
            return ""
        if not figures["flipped"]:
            return f"; frame selections: all {figures['compared']} (clip, region) agree with PyTorch"
        text = (f"; frame selections: {figures['flipped']} of {figures['compared']} (clip, region) flipped in "
                f"{figures['flipped_clips']} of {figures['clips']} clips, worst margin {figures['worst_margin']:.2g} "
                f"relative (score gap {figures['worst_gap']:.2g})")
        if figures["beyond_epsilon"]:
            return text + (f": {figures['beyond_epsilon']} beyond the {self.precision} epsilon "
                           f"{figures['epsilon']:g}, a real error")
        plain = min(c.plain_min_cosine for c in self.cases if c.flips and c.plain_min_cosine is not None)
        return text + (f" <= {figures['epsilon']:g}: near-ties, accepted (cosine {plain:.6f} vs PyTorch's own "
                       "selection on those clips)")


class FullRunner:
    """A full-graph ONNX Runtime session as ``frames (B, T, 3, H, W) -> (B, D)``.

    Built with :meth:`from_graph`, a graph with STA's selection (one ArgMax over the frame axis) also returns the
    export's selected frame per region: :meth:`run_with_selection`, used by the verification.
    """

    def __init__(self, session, selection: str | None = None) -> None:
        self.session = session
        self.selection = selection  # name of the ArgMax output (B, 1, K) exposed for verification, or None
        self.embedding = session.get_outputs()[0].name

    @classmethod
    def from_graph(cls, graph: onnx.ModelProto | str | Path) -> FullRunner:
        """A runner of ``graph`` whose session also outputs the ArgMax of STA's selection, when the graph has one.

        The extra output only exposes a tensor the graph computes anyway; the embedding is computed as in the file.
        """
        if not isinstance(graph, onnx.ModelProto):
            graph = onnx.load(str(graph))
        name = selection_output(graph)
        if name is None:
            return cls(ort_session(graph))
        probe = onnx.ModelProto.FromString(graph.SerializeToString())
        probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.INT64, None))
        return cls(ort_session(probe), selection=name)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return self.run_with_selection(frames)[0]

    def run_with_selection(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``(B, D)`` embeddings and the selected frame per region ``(B, K)`` (None without a selection)."""
        frames = np.asarray(frames, dtype=np.float32)
        names = [self.embedding] + ([self.selection] if self.selection else [])
        outputs = self.session.run(names, {mf.INPUT_FRAMES: frames})
        selection = outputs[1] if self.selection else None
        if selection is not None:
            selection = selection.reshape(len(frames), -1) if selection.shape[:2] == (len(frames), 1) else None
        return outputs[0], selection


def selection_output(graph: onnx.ModelProto) -> str | None:
    """The output of STA's per-region selection in a full graph: its one ArgMax over the frame axis (axis 1, kept,
    first maximum), or None (no selection, or not recognisable)."""
    argmax = [node for node in graph.graph.node if node.op_type == "ArgMax"]
    if len(argmax) != 1:
        return None
    attributes = {attribute.name: attribute.i for attribute in argmax[0].attribute}
    if (attributes.get("axis", 0), attributes.get("keepdims", 1), attributes.get("select_last_index", 0)) != (1, 1, 0):
        return None
    return argmax[0].output[0]


def run_with_selection(runner, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The export's embeddings ``(B, D)`` of ``frames`` and, when the runner can tell, its selected frame per region
    ``(B, K)``: a full graph's ArgMax (:class:`FullRunner`), or the normalised ``scores`` of a split backbone,
    selected as the runtime's aggregation does. Any other callable: embeddings only (the selection is then found
    from PyTorch's side, :func:`find_selection`)."""
    from reid_export.split_export import SplitRunner

    if isinstance(runner, FullRunner):
        return runner.run_with_selection(frames)
    if isinstance(runner, SplitRunner) and runner.aggregation == "sta" and runner.fusion:
        frames = np.asarray(frames, dtype=np.float32)
        batch, seq = frames.shape[:2]
        scores, strips = runner.backbone.run(None, {mf.INPUT_FRAMES: frames.reshape(batch * seq, *frames.shape[2:])})
        scores, strips = scores.reshape(batch, seq, -1), strips.reshape(batch, seq, *strips.shape[1:])
        fused = sta_fuse(scores, strips, fusion=True)
        weights = scores / np.maximum(scores.sum(axis=1, keepdims=True), AGGREGATION_EPS)  # as sta_fuse selects
        return runner.head.run(None, {mf.INPUT_FUSED: fused.astype(np.float32)})[0], weights.argmax(axis=1)
    return runner(frames), None


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
        return FullRunner.from_graph(path), info
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


def tracklet_frames(pool: list[np.ndarray], batch: int, seq: int, start: int = 0) -> np.ndarray:
    """``(B, T, 3, H, W)`` from a pool of tracklets ``(T_i, 3, H, W)``: tracklets ``start``, ``start + 1``, ... of the
    pool (cycling), frames 0..T-1 (cycling through a shorter tracklet)."""
    clips = []
    for b in range(batch):
        tracklet = pool[(start + b) % len(pool)]
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
    cosine = float(cosines(reference, output).min())
    return float(np.abs(reference - output).max()), float(np.abs(reference).max()), cosine


def spread_error(reference: np.ndarray, output: np.ndarray) -> float:
    """How large the error of ``output`` is against how much the ``reference`` embeddings differ between clips:
    sqrt(mean |o_i - r_i|^2 / mean |r_i - mean(r)|^2), on L2-normalized rows (nan for fewer than 2 rows).

    A min cosine of 0.9999 says nothing when every clip's embedding is nearly the same vector (a collapsed or
    barely trained model): retrieval ranks by the small differences between clips, and an error as large as them
    scrambles the ranking while every cosine stays near 1. Above 1, the error exceeds the spread it has to keep.
    """
    reference = np.asarray(reference, dtype=np.float64)
    output = np.asarray(output, dtype=np.float64)
    if len(reference) < 2:
        return math.nan
    reference = reference / np.maximum(np.linalg.norm(reference, axis=-1, keepdims=True), 1e-12)
    output = output / np.maximum(np.linalg.norm(output, axis=-1, keepdims=True), 1e-12)
    spread = ((reference - reference.mean(axis=0)) ** 2).sum(axis=-1).mean()
    error = ((output - reference) ** 2).sum(axis=-1).mean()
    return math.inf if spread == 0 else float(np.sqrt(error / spread))


def cosines(reference: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two ``(N, D)`` batches (float64)."""
    reference = np.asarray(reference, dtype=np.float64)
    output = np.asarray(output, dtype=np.float64)
    norms = np.linalg.norm(reference, axis=-1) * np.linalg.norm(output, axis=-1)
    return (reference * output).sum(axis=-1) / np.maximum(norms, 1e-12)


def has_selection(model: nn.Module) -> bool:
    """Whether the model's fused feature selects one frame per region (STA with fusion, Algorithm 1's F1)."""
    return getattr(model, "aggregation", "none") == "sta" and bool(getattr(model, "fusion", False))


class Reference:
    """PyTorch's embeddings of one batch of clips, with the per-frame terms to recompute them for another frame
    selection (models with per-region selection only).

    ``scores`` (B, T, K) are the normalised scores S(n, k) of Eq. 4 (float64), ``selection`` (B, K) PyTorch's
    choice (the first maximum, in float32 as the model computes it), ``strips`` (B, T, K, C) the region strips and
    ``weighted`` (B, C) the score-weighted half of the fused feature, which no selection changes.
    """

    def __init__(self, model: nn.Module, frames: np.ndarray) -> None:
        self.model = model
        self.selective = has_selection(model)
        with torch.no_grad():
            x = torch.from_numpy(frames)
            if not self.selective:
                self.embedding = model(x).numpy()
                return
            feats = model.forward_features(x)
            self.embedding = model.forward_head(feats).numpy()
            raw, strips = (t.float().numpy() for t in model.frame_terms(feats))
        weights = raw / np.maximum(raw.sum(axis=1, keepdims=True), 1e-12)  # as the model: float32, first maximum
        self.selection = weights.argmax(axis=1)
        self.scores = raw.astype(np.float64) / np.maximum(raw.astype(np.float64).sum(axis=1, keepdims=True), 1e-12)
        self.strips = strips
        self.weighted = sta_fuse(raw, strips, fusion=False)

    def embed_selections(self, clip: int, selections: np.ndarray) -> np.ndarray:
        """PyTorch's embeddings of clip ``clip`` with the frames ``selections`` (N, K) selected per region."""
        strips = self.strips[clip]  # (T, K, C)
        regions = np.arange(strips.shape[1])
        selected = strips[selections, regions].mean(axis=1)  # (N, C): GAP of F1 for each selection
        weighted = np.broadcast_to(self.weighted[clip], selected.shape)
        fused = np.concatenate([selected, weighted], axis=1).astype(np.float32)
        with torch.no_grad():
            return self.model.forward_fused(torch.from_numpy(fused)).numpy()

    def flip(self, clip: int, region: int, frame: int, epsilon: float) -> Flip:
        best = int(self.selection[clip, region])
        top = float(self.scores[clip, best, region])
        gap = top - float(self.scores[clip, frame, region])
        margin = gap / max(top, 1e-12)
        return Flip(clip, region, best, int(frame), gap, margin, margin <= epsilon)


def _within(output: np.ndarray, reference: np.ndarray, tolerance: Tolerance, scale: float) -> np.ndarray:
    """Per row: whether ``output`` matches ``reference`` within the tolerance (``scale``: the case's)."""
    ok = cosines(reference, output) >= tolerance.min_cosine
    if tolerance.max_abs is not None:
        diff = np.abs(np.asarray(reference, np.float64) - np.asarray(output, np.float64)).max(axis=-1)
        ok &= diff <= tolerance.max_abs * max(1.0, scale)
    return ok


def find_selection(reference: Reference, clip: int, output: np.ndarray, tolerance: Tolerance,
                   scale: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The frame selection (K,) of clip ``clip`` whose PyTorch embedding ``output`` matches, with that embedding.

    Greedy from PyTorch's selection: each round tries every other frame in every region and keeps the change that
    brings PyTorch's embedding closest to ``output``; it stops at a match (within the tolerance), when no change
    helps, or after K rounds. None when no selection matches (an embedding off, whatever frames were selected).
    """
    current = reference.selection[clip].copy()
    seq, regions = reference.strips.shape[1:3]
    if seq < 2:
        return None
    distance = float(np.linalg.norm(reference.embedding[clip] - output))
    for _ in range(regions):
        changes = [(k, n) for k in range(regions) for n in range(seq) if n != current[k]]
        candidates = np.repeat(current[None], len(changes), axis=0)
        for row, (k, n) in enumerate(changes):
            candidates[row, k] = n
        embeddings = reference.embed_selections(clip, candidates)
        distances = np.linalg.norm(embeddings.astype(np.float64) - output, axis=1)
        best = int(distances.argmin())
        if distances[best] >= distance:
            return None
        current, distance = candidates[best], float(distances[best])
        if _within(output[None], embeddings[best:best + 1], tolerance, scale)[0]:
            return current, embeddings[best]
    return None


def check_case(source: str, seq: int, reference: Reference, output: np.ndarray, tolerance: Tolerance,
               selection: np.ndarray | None = None) -> Case:
    """Compare the export's ``output`` (B, D) with PyTorch's ``reference``, selection-aware (see the module doc).

    ``selection`` (B, K): the export's selected frame per region when the runner tells it; each flipped clip is then
    compared with PyTorch recomputed with that selection. Without it, a clip that misses PyTorch's embedding is
    explained by the selection :func:`find_selection` finds, if any.
    """
    output = np.asarray(output, dtype=np.float64)
    _, scale, plain_cos = compare(reference.embedding, output)
    effective = np.array(reference.embedding, dtype=np.float64)
    selective = reference.selective
    if selective and selection is not None and np.shape(selection) != reference.selection.shape:
        raise VerificationError(f"the export selected frames of shape {np.shape(selection)}, PyTorch "
                                f"{reference.selection.shape} (clips, regions)")
    chosen = np.array(reference.selection) if selective else None
    if selective and selection is not None:
        chosen = np.asarray(selection, dtype=np.int64)
        if chosen.min() < 0 or chosen.max() >= seq:
            raise VerificationError(f"the export selected frames outside 0..{seq - 1} in clips of {seq} frames")
        for clip in np.flatnonzero((chosen != reference.selection).any(axis=1)):
            effective[clip] = reference.embed_selections(int(clip), chosen[clip][None])[0]
    problems: set[str] = set()
    for clip in np.flatnonzero(~_within(output, effective, tolerance, scale)):
        found = None
        if selective and selection is None:
            found = find_selection(reference, int(clip), output[clip], tolerance, scale)
        if found is None:
            problems.add("embedding off")
            continue
        chosen[clip], effective[clip] = found
    flips = []
    if selective:
        for clip, region in zip(*np.nonzero(chosen != reference.selection)):
            flips.append(reference.flip(int(clip), int(region), int(chosen[clip, region]), tolerance.flip_margin))
    if any(not flip.accepted for flip in flips):
        problems.add("flip beyond epsilon")
    max_abs = float(np.abs(effective - output).max())
    min_cos = float(cosines(effective, output).min())
    passed = not problems and min_cos >= tolerance.min_cosine and (
        tolerance.max_abs is None or max_abs <= tolerance.max_abs * max(1.0, scale))
    return Case(source, output.shape[0], seq, max_abs, scale, min_cos, passed,
                reference.selection.size if selective else 0, tuple(flips), plain_cos, ", ".join(sorted(problems)),
                spread_error(effective, output))


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
    For STA, selection-aware: a flip of the selected frame on a near-tie is reported and accepted (module doc).
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
        start = 0  # consecutive cases walk through the pool, so a pool larger than B is used whole
        for seq in seq_lengths:
            for batch in batch_sizes:
                frames = (random_frames(batch, seq, model.input_size, rng) if pool is None
                          else tracklet_frames(pool, batch, seq, start))
                start += batch
                output, selection = run_with_selection(runner, frames)
                report.cases.append(check_case(source, seq, Reference(model, frames), output, tolerance, selection))
    return report


def check_clips(model: nn.Module, runner, clips: np.ndarray, tolerance: Tolerance, source: str = "clips") -> Case:
    """One selection-aware case: ``runner`` vs PyTorch (``model``, FP32) on ``clips`` ``(N, T, 3, H, W)`` run as one
    batch; e.g. an INT8 graph on held-out calibration clips (``case.passed``, ``case.min_cosine`` with the same
    selection, ``case.plain_min_cosine`` and ``case.flips``)."""
    clips = np.asarray(clips, dtype=np.float32)
    output, selection = run_with_selection(runner, clips)
    return check_case(source, clips.shape[1], Reference(model.eval(), clips), output, tolerance, selection)


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
