"""``load`` a re-ID model on any backend and ``embed`` tracklets of any length in batches, in bounded memory.

A tracklet's embedding is the mean of the embeddings of its test clips (``sample_test_clips``), as in training
evaluation. Clips of different lengths never share a call (nothing is padded), clips of several tracklets do. With a
split model the frames of a whole batch of tracklets go through one backbone call, each clip is aggregated in numpy
and all clips share one head call. Frames are decoded in a thread pool into one array per batch while the previous
batch runs.

Memory does not grow with a tracklet's length: a batch holds at most ``batch_size`` clips and the backbone takes at
most ``batch_size * seq_len`` frames per call, a tracklet with more clips spreads over several batches (its embedding
is a running mean), and ``sampling="all"`` on a model with per-frame terms streams the frames through the backbone
into the running aggregation of :class:`reid_runtime.aggregation.RunningFusion` (exact for STA and TP). Only a full
graph without per-frame terms needs the whole clip of ``sampling="all"`` at once.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reid_runtime.aggregation import RunningFusion, fuse
from reid_runtime.backends.base import Backend
from reid_runtime.data.frames import FrameReadError, load_frame
from reid_runtime.data.sampling import TEST_MODES, sample_test_clips
from reid_runtime.data.tracklet import Tracklet
from reid_runtime.errors import BackendOptionError, ReidError

TrackletInput = Tracklet | Sequence[str | os.PathLike] | np.ndarray

_DECODE_CHUNK = 16  # frames per decode task: a batch's frames spread over the workers


@dataclass(frozen=True)
class TrackletError:
    """A tracklet that ``embed`` skipped (non-strict mode): its position in the input and why."""

    index: int
    tracklet: str
    error: str


class ModelOutputError(ReidError):
    """The model produced NaN or infinite embeddings: a fault of the model, not of the input."""


@dataclass
class _Job:
    index: int
    name: str
    source: tuple[str, ...] | np.ndarray
    clips: np.ndarray  # (n_clips, L) frame indices


@dataclass
class _Piece:
    """The part of a job one batch decodes and runs: whole clips, or (``clips is None``) a run of consecutive frames
    of the one clip of ``sampling="all"``, streamed through the per-frame terms."""

    job: _Job
    frames: np.ndarray        # the distinct frame indices to decode, sorted
    clips: np.ndarray | None  # (n, L) frame indices, or None
    last: bool                # the job's last piece: its embedding is complete once this batch ran

    def positions(self) -> np.ndarray:
        """The clips as indices into ``frames``."""
        return np.searchsorted(self.frames, self.clips)


@dataclass
class _Decoding:
    frames: np.ndarray                             # (n, 3, H, W) float32, filled by the decode tasks
    tasks: list[tuple[_Piece, int, list[Future]]]  # piece, its first row in frames, its decode tasks


class _Run:
    """The state of one ``embed`` call: the running sum of clip embeddings per job, the running aggregation of the
    job streamed in pieces, and the jobs skipped for an unreadable frame."""

    def __init__(self, jobs: int, dim: int, per_frame: bool) -> None:
        self.per_frame = per_frame  # backbone + numpy aggregation + head, rather than whole-clip calls
        self.sums = np.zeros((jobs, dim), dtype=np.float64)
        self.counts = np.zeros(jobs, dtype=np.int64)
        self.states: dict[int, RunningFusion] = {}
        self.failed: set[int] = set()

    def add(self, owners: np.ndarray, embeddings: np.ndarray) -> None:
        np.add.at(self.sums, owners, embeddings)
        np.add.at(self.counts, owners, 1)


def load(
    model: str | os.PathLike,
    backend: str = "auto",
    threads: int | None = None,
    providers: list[Any] | None = None,
    **options: Any,
) -> ReidModel:
    """Load a model on a registered backend (``reid_runtime.plugins.backends()``).

    ``model`` is a file (``backend="auto"`` picks the backend registered for its suffix: ``.onnx`` onnxruntime,
    ``.engine``/``.plan`` tensorrt, ``.pt``/``.pth`` torch when ``reid_train`` is installed; a backend chosen by name
    may also run files it is not the ``auto`` choice for, as ``backend="openvino"`` runs ``.onnx``) or a registry name
    such as ``sta_resnet50`` (an untrained model, on the backend that builds models from names). ``threads`` sets the
    intra-op threads; ``providers`` the onnxruntime execution providers (names or the aliases cpu / cuda / tensorrt).
    Other ``options`` go to the backend (onnxruntime: ``trt_profiles``; tensorrt: ``device``; torch: ``input_size``;
    openvino: ``streams``, ``hint``, ``precision``, ``device``).
    """
    from reid_runtime.plugins import backend_for_model_name, backend_for_suffix, backends

    path = Path(model).expanduser()
    table = backends()
    if backend != "auto" and backend not in table:
        raise ReidError(f"unknown backend {backend!r}; expected auto or one of {', '.join(table)}")
    if path.exists():
        if path.is_dir():
            raise ReidError(f"{path}: is a folder; expected a model file (.onnx, .engine, .pt)")
        by_suffix = backend_for_suffix(path.suffix)
        if backend == "auto":
            if by_suffix is None:
                known = ", ".join(f"{', '.join(s.suffixes)} ({s.name})" for s in table.values() if s.suffixes)
                raise ReidError(f"{path}: cannot tell the model format from the suffix {path.suffix!r}; expected "
                                f"{known}, or pass a backend")
            spec = by_suffix
        else:
            spec = table[backend]
            if by_suffix is not None and not spec.runs(path.suffix):
                raise ReidError(f"{path}: a {path.suffix} file runs on the {by_suffix.name} backend, not {backend}")
    else:
        looks_like_file = path.suffix.lower() in {s for spec in table.values() for s in spec.suffixes}
        named = backend_for_model_name() if backend == "auto" else table[backend]
        if looks_like_file or os.sep in str(model) or named is None or not named.model_names:
            raise ReidError(f"{path}: model file not found")
        spec = named
    if providers is not None:
        options["providers"] = providers
    impl_class = spec.load()
    accepted = inspect.signature(impl_class).parameters
    if threads is not None and "threads" in accepted:
        options["threads"] = threads
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise BackendOptionError(f"the {spec.name} backend does not take {', '.join(unknown)}")
    impl: Backend = impl_class(path if path.exists() else str(model), **options)
    return ReidModel(impl, threads=threads)


class ReidModel:
    """A loaded model: ``embed`` tracklets, ``describe`` what runs where."""

    def __init__(self, backend: Backend, threads: int | None = None, decode_workers: int | None = None) -> None:
        self.backend = backend
        self.threads = threads
        self.decode_workers = decode_workers or min(4, os.cpu_count() or 1)
        self.last_errors: list[TrackletError] = []

    @property
    def path(self) -> Path:
        return self.backend.path

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def info(self):  # -> ModelInfo
        return self.backend.info

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(self.backend.info.input_size)

    @property
    def embedding_dim(self) -> int:
        return int(self.backend.info.embedding_dim)

    @property
    def metric(self) -> str:
        return self.backend.info.metric

    def describe(self) -> str:
        """A few lines saying which file runs on which backend and devices, and what it computes."""
        info = self.info
        height, width = self.input_size
        graph = "split backbone + head" if self.backend.mode == "split" else "full clip graph"
        streaming = "yes" if self.backend.has_frame_terms else "no (needs a split export)"
        lines = [
            f"model:        {self.path}",
            f"backend:      {self.backend_name} on {', '.join(self.backend.providers)}",
            f"architecture: {info.architecture} ({graph}, aggregation {info.aggregation}, precision {info.precision})",
            f"input:        {height}x{width} (HxW) raw RGB 0..255",
            f"embedding:    {info.embedding_dim}-d, metric {info.metric}",
            f"streaming:    {streaming}",
        ]
        lines += [f"{key + ':':<14}{value}" for key, value in self.backend.describe().items()]
        return "\n".join(lines)

    def embed(
        self,
        tracklets: Sequence[TrackletInput],
        seq_len: int = 4,
        sampling: str = "dense",
        batch_size: int = 16,
        progress: bool = False,
        strict: bool = False,
        max_clips: int | None = None,
    ) -> np.ndarray:
        """``(len(tracklets), D)`` float32 embeddings in input order.

        ``tracklets``: ``Tracklet`` records, lists of frame paths (decoded and resized to the model size) or uint8
        arrays ``(T, H, W, 3)`` already at the model size. A batch holds up to ``batch_size`` clips (whole-clip calls
        take clips of one length) and split backbone calls up to ``batch_size * seq_len`` frames; a tracklet with
        more clips spreads over several batches. With ``sampling="all"``, a model with per-frame terms (a split
        export, an STA / TP checkpoint) streams each tracklet through the backbone ``batch_size * seq_len`` frames at
        a time, so memory does not depend on the tracklet's length; a full graph without them takes the whole clip in
        one call (its memory grows with the tracklet). A frame that cannot be read skips its tracklet: its row is
        NaN and it is listed in ``last_errors``; ``strict=True`` raises instead. NaN or infinite embeddings raise
        :class:`ModelOutputError`, naming the model and the tracklet.
        """
        if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) or seq_len < 1:
            raise ValueError(f"seq_len must be a positive integer, got {seq_len!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if sampling not in TEST_MODES:
            raise ValueError(f"unknown sampling {sampling!r}; expected one of {', '.join(TEST_MODES)}")
        if isinstance(tracklets, (Tracklet, np.ndarray, str, os.PathLike)):
            raise ValueError("embed takes a sequence of tracklets; wrap a single one in a list")
        jobs = [self._job(i, item, seq_len, sampling, max_clips) for i, item in enumerate(tracklets)]
        self.last_errors = []
        max_frames = int(batch_size * seq_len)
        streaming = sampling == "all" and self.backend.has_frame_terms
        run = _Run(len(jobs), self.embedding_dim, per_frame=streaming or self.backend.mode == "split")
        if streaming:
            batches = _stream_batches(jobs, max_frames)
        else:
            by_length = not run.per_frame and sampling == "all"
            if by_length:
                jobs.sort(key=lambda job: job.clips.shape[1])  # equal lengths next to each other share calls
            batches = _clip_batches(jobs, int(batch_size), by_length)
        out = np.full((len(jobs), self.embedding_dim), np.nan, dtype=np.float32)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), unit="tracklet", desc="embed", leave=False)
        pool = ThreadPoolExecutor(self.decode_workers, thread_name_prefix="reid-decode")
        try:
            pending = self._submit(pool, batches[0], run.failed) if batches else None
            for k, batch in enumerate(batches):
                frames, ready = self._collect(pending, strict, run)
                pending = self._submit(pool, batches[k + 1], run.failed) if k + 1 < len(batches) else None
                if ready and run.per_frame:
                    self._run_terms(frames, ready, max_frames, run)
                elif ready:
                    self._run_full(frames, ready, int(batch_size), run)
                del frames
                ended = [piece.job for piece in batch if piece.last]
                finished = [job for job in ended if job.index not in run.failed]
                if finished:
                    rows = [job.index for job in finished]
                    embeddings = run.sums[rows] / run.counts[rows, None]
                    check_finite(self, embeddings, [job.name for job in finished])
                    out[rows] = embeddings
                if bar is not None:
                    bar.update(len(ended))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if bar is not None:
                bar.close()
        return out

    def _job(self, index: int, item: TrackletInput, seq_len: int, sampling: str, max_clips: int | None) -> _Job:
        source, name = self._source(index, item)
        if len(source) == 0:
            raise ReidError(f"{name} is empty: a tracklet needs at least one frame")
        return _Job(index, name, source, sample_test_clips(len(source), seq_len, sampling, max_clips))

    def _source(self, index: int, item: TrackletInput) -> tuple[tuple[str, ...] | np.ndarray, str]:
        if isinstance(item, Tracklet):
            return tuple(str(p) for p in item.frames), f"tracklet {index} (tid {item.tid})"
        if isinstance(item, np.ndarray):
            return check_frames_array(item, self.input_size, f"tracklet {index}"), f"tracklet {index}"
        if isinstance(item, (str, os.PathLike)):
            raise ValueError(f"tracklet {index} is a single path ({item}); give a tracklet as a list of frame paths")
        paths = tuple(str(p) for p in item)
        return paths, f"tracklet {index} ({paths[0]})" if paths else f"tracklet {index}"

    def _submit(self, pool: ThreadPoolExecutor, batch: list[_Piece], failed: set[int]) -> _Decoding:
        """Start decoding the frames of ``batch`` into one preallocated array (pieces of skipped jobs left out)."""
        height, width = self.input_size
        frames = np.empty((sum(len(piece.frames) for piece in batch), 3, height, width), dtype=np.float32)
        tasks: list[tuple[_Piece, int, list[Future]]] = []
        offset = 0
        for piece in batch:
            futures = [] if piece.job.index in failed else [
                pool.submit(_decode_into, frames, offset + i, piece.job.source, piece.frames[i:i + _DECODE_CHUNK],
                            self.input_size)
                for i in range(0, len(piece.frames), _DECODE_CHUNK)
            ]
            tasks.append((piece, offset, futures))
            offset += len(piece.frames)
        return _Decoding(frames, tasks)

    def _collect(self, decoding: _Decoding, strict: bool, run: _Run) -> tuple[np.ndarray, list[tuple[_Piece, int]]]:
        """The decoded frames of a batch, and ``(piece, its first row)`` of the pieces whose frames all decoded."""
        ready: list[tuple[_Piece, int]] = []
        for piece, offset, futures in decoding.tasks:
            job = piece.job
            if job.index in run.failed:
                continue
            try:
                for future in futures:
                    future.result()
            except FrameReadError as err:
                if strict:
                    raise FrameReadError(f"{job.name}: {err}") from err
                self.last_errors.append(TrackletError(job.index, job.name, str(err)))
                run.failed.add(job.index)
                run.states.pop(job.index, None)
                continue
            ready.append((piece, offset))
        frames = decoding.frames
        if len(ready) < len(decoding.tasks):  # keep only the rows of the pieces that run
            keep = [np.arange(offset, offset + len(piece.frames)) for piece, offset in ready]
            frames = frames[np.concatenate(keep)] if keep else frames[:0]
            starts = np.cumsum([0] + [len(piece.frames) for piece, _ in ready])
            ready = [(piece, int(start)) for (piece, _), start in zip(ready, starts)]
        return frames, ready

    def _run_full(self, frames: np.ndarray, ready: list[tuple[_Piece, int]], batch_size: int, run: _Run) -> None:
        for owners, positions in _clip_groups(ready):
            for start in range(0, len(owners), batch_size):
                rows = slice(start, start + batch_size)
                run.add(owners[rows], self.backend.run_full(_gather(frames, positions[rows])))

    def _run_terms(self, frames: np.ndarray, ready: list[tuple[_Piece, int]], max_frames: int, run: _Run) -> None:
        scores, strips = backbone_terms(self.backend, frames, max_frames)
        aggregation, fusion = self.info.aggregation, self.backend.fusion
        owner_parts, fused_parts = [], []
        if ready[0][0].clips is None:  # sampling "all": runs of frames of one clip each, streamed
            for piece, start in ready:
                index, stop = piece.job.index, start + len(piece.frames)
                state = run.states.setdefault(index, RunningFusion(aggregation, fusion))
                state.add(scores[start:stop], strips[start:stop])
                if piece.last:
                    fused_parts.append(run.states.pop(index).fused()[None])
                    owner_parts.append(np.array([index]))
        else:
            for owners, positions in _clip_groups(ready):
                fused_parts.append(fuse(aggregation, scores[positions], strips[positions], fusion))
                owner_parts.append(owners)
        if not fused_parts:
            return
        fused = np.concatenate(fused_parts)
        embedding = np.concatenate([self.backend.run_head(fused[i:i + max_frames])
                                    for i in range(0, len(fused), max_frames)])
        run.add(np.concatenate(owner_parts), embedding)


def check_finite(model: ReidModel, embeddings: np.ndarray, names: Sequence[str]) -> None:
    """Raise :class:`ModelOutputError` (one line naming the model file and the first tracklet at fault) unless every
    row of ``embeddings`` (one per entry of ``names``) is finite."""
    bad = np.flatnonzero(~np.isfinite(embeddings).all(axis=1))
    if len(bad):
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ModelOutputError(
            f"{model.path}: the model produced non-finite values (NaN or inf) in the embedding of {names[bad[0]]}"
            f"{more}; the model file is broken or overflows (an fp16 export?): check it with `reid verify`"
        )


def backbone_terms(backend: Backend, frames: np.ndarray, max_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame scores ``(N, K)`` and strips ``(N, K, C)`` of ``(N, 3, H, W)`` frames, ``max_frames`` per call."""
    parts = [backend.run_backbone(frames[i:i + max_frames]) for i in range(0, len(frames), max_frames)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def check_frames_array(frames: np.ndarray, size: tuple[int, int], name: str) -> np.ndarray:
    """Validate user frames ``(T, H, W, 3)`` at the model size ``(H, W)``; uint8 or float 0..255."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{name}: frames must be an array shaped (T, H, W, 3) of RGB, got shape {frames.shape}")
    if frames.dtype != np.uint8 and frames.dtype.kind != "f":
        raise ValueError(f"{name}: frames must be uint8 (or float 0..255), got dtype {frames.dtype}")
    if tuple(frames.shape[1:3]) != tuple(size):
        raise ReidError(
            f"{name}: the model expects frames of {size[0]}x{size[1]} (HxW), got {frames.shape[1]}x{frames.shape[2]}; "
            "resize the crops (frame paths are resized automatically)"
        )
    if frames.dtype.kind == "f" and not np.isfinite(frames).all():  # NaN pixels would pass for a model error
        raise ReidError(f"{name}: the frames hold NaN or infinite values; expected pixel values 0..255")
    return frames


def load_frames(source: tuple[str, ...] | np.ndarray, indices: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Frames ``indices`` of a tracklet as float32 ``(n, 3, H, W)``: decoded and resized (paths) or sliced (arrays)."""
    frames = np.empty((len(indices), 3, *size), dtype=np.float32)
    _decode_into(frames, 0, source, indices, size)
    return frames


def _decode_into(out: np.ndarray, start: int, source: tuple[str, ...] | np.ndarray, indices: np.ndarray,
                 size: tuple[int, int]) -> None:
    """Write frames ``indices`` of ``source`` into ``out[start:start + len(indices)]``, float32 ``(n, 3, H, W)``."""
    if isinstance(source, np.ndarray):
        out[start:start + len(indices)] = source[indices].transpose(0, 3, 1, 2)
        return
    for row, index in enumerate(indices, start):
        out[row] = load_frame(source[index], size).transpose(2, 0, 1)


def _gather(frames: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``frames[positions]``: clips ``(B, L, 3, H, W)``, a view when the clips are all the frames in order."""
    if positions.size == len(frames) and np.array_equal(positions.ravel(), np.arange(positions.size)):
        return frames.reshape(*positions.shape, *frames.shape[1:])
    return frames[positions]


def _fill(jobs: list[_Job], capacity: int, count: Callable[[_Job], int],
          same_batch: Callable[[_Job, _Job], bool] | None = None) -> Iterator[tuple[int, _Job, int, int]]:
    """``(batch, job, start, stop)``: items ``start:stop`` of each job, the jobs in order, filled into batches of
    ``capacity`` items (a job with more items than a batch has room for spreads over several). ``same_batch(previous,
    job)`` False closes the batch before ``job``."""
    batch, room, previous = -1, 0, None
    for job in jobs:
        if same_batch is not None and previous is not None and not same_batch(previous, job):
            room = 0
        start, total = 0, count(job)
        while start < total:
            if room == 0:
                batch, room = batch + 1, capacity
            stop = min(total, start + room)
            yield batch, job, start, stop
            room -= stop - start
            start = stop
        previous = job


def _grouped(pieces: Iterable[tuple[int, _Piece]]) -> list[list[_Piece]]:
    batches: list[list[_Piece]] = []
    for batch, piece in pieces:
        if batch == len(batches):
            batches.append([])
        batches[batch].append(piece)
    return batches


def _stream_batches(jobs: list[_Job], max_frames: int) -> list[list[_Piece]]:
    """``sampling="all"`` through per-frame terms: the frames of the jobs in order, cut into batches of ``max_frames``
    (a batch may end one tracklet and start the next; a long one spreads over many batches)."""
    return _grouped((batch, _Piece(job, np.arange(start, stop), None, stop == len(job.source)))
                    for batch, job, start, stop in _fill(jobs, max_frames, lambda job: len(job.source)))


def _clip_batches(jobs: list[_Job], max_clips: int, by_length: bool) -> list[list[_Piece]]:
    """Whole clips in batches of up to ``max_clips`` clips, jobs in order; a job with more clips than the batch has
    room for spreads over several batches. With ``by_length`` a batch holds clips of one length only, so whole-clip
    calls of ``sampling="all"`` are as full as the lengths allow."""
    same_length = (lambda previous, job: previous.clips.shape[1] == job.clips.shape[1]) if by_length else None
    spread = _fill(jobs, max_clips, lambda job: len(job.clips), same_length)
    return _grouped((batch, _Piece(job, np.unique(clips), clips, stop == len(job.clips)))
                    for batch, job, start, stop in spread for clips in [job.clips[start:stop]])


def _clip_groups(ready: list[tuple[_Piece, int]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Clips of the batch grouped by length: (owner job index per clip, clip frame positions in the batch frames)."""
    groups: dict[int, tuple[list[int], list[np.ndarray]]] = {}
    for piece, start in ready:
        positions = piece.positions() + start
        owners, rows = groups.setdefault(positions.shape[1], ([], []))
        owners.extend([piece.job.index] * len(positions))
        rows.append(positions)
    return [(np.asarray(owners), np.concatenate(rows)) for owners, rows in groups.values()]
