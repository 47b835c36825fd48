"""``load`` a re-ID model on any backend and ``embed`` tracklets of any length in batches.

A tracklet's embedding is the mean of the embeddings of its test clips (``sample_test_clips``), as in training
evaluation. Clips of different lengths never share a call (nothing is padded), clips of several tracklets do. With a
split model the frames of a whole batch of tracklets go through one backbone call, each clip is aggregated in numpy
and all clips share one head call. Frames are decoded in a thread pool while the previous batch runs.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reid_runtime.aggregation import fuse
from reid_runtime.backends.base import Backend
from reid_runtime.data.frames import FrameReadError, load_frame
from reid_runtime.data.sampling import TEST_MODES, sample_test_clips
from reid_runtime.data.tracklet import Tracklet
from reid_runtime.errors import ReidError

TrackletInput = Tracklet | Sequence[str | os.PathLike] | np.ndarray

_DECODE_CHUNK = 32  # frames per decode task: long tracklets still spread over the workers


@dataclass(frozen=True)
class TrackletError:
    """A tracklet that ``embed`` skipped (non-strict mode): its position in the input and why."""

    index: int
    tracklet: str
    error: str


@dataclass
class _Job:
    index: int
    name: str
    source: tuple[str, ...] | np.ndarray
    clips: np.ndarray   # (n_clips, L) frame indices
    frames: np.ndarray  # the distinct frame indices the clips use, sorted

    def positions(self) -> np.ndarray:
        """The clips as indices into ``frames``."""
        return np.searchsorted(self.frames, self.clips)


def load(
    model: str | os.PathLike,
    backend: str = "auto",
    threads: int | None = None,
    providers: list[Any] | None = None,
    **options: Any,
) -> ReidModel:
    """Load a model on a registered backend (``reid_runtime.plugins.backends()``).

    ``model`` is a file (``backend="auto"`` picks the backend registered for its suffix: ``.onnx`` onnxruntime,
    ``.engine``/``.plan`` tensorrt, ``.pt``/``.pth`` torch when ``reid_train`` is installed) or a registry name such
    as ``sta_resnet50`` (an untrained model, on the backend that builds models from names). ``threads`` sets the
    intra-op threads; ``providers`` the onnxruntime execution providers (names or the aliases cpu / cuda / tensorrt).
    Other ``options`` go to the backend (onnxruntime: ``trt_profiles``; tensorrt: ``device``; torch: ``input_size``).
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
            if by_suffix is not None and by_suffix.name != spec.name:
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
        raise ReidError(f"the {spec.name} backend does not take {', '.join(unknown)}")
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
        arrays ``(T, H, W, 3)`` already at the model size. A batch of tracklets holds up to ``batch_size`` clips (a
        tracklet with more gets a batch to itself): whole-clip calls take up to ``batch_size`` clips of one length,
        split backbone calls up to ``batch_size * seq_len`` frames. A frame that cannot be read skips its
        tracklet: its row is NaN and it is listed in ``last_errors``; ``strict=True`` raises instead.
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
        out = np.full((len(jobs), self.embedding_dim), np.nan, dtype=np.float32)
        split = self.backend.mode == "split"
        by_length = not split and sampling == "all"
        if by_length:
            jobs.sort(key=lambda job: len(job.frames))  # equal lengths next to each other share whole-clip calls
        batches = _batches(jobs, batch_size, by_length)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), unit="tracklet", desc="embed", leave=False)
        pool = ThreadPoolExecutor(self.decode_workers, thread_name_prefix="reid-decode")
        try:
            pending = self._submit(pool, batches[0]) if batches else []
            for k, batch in enumerate(batches):
                decoded = self._collect(batch, pending, strict)
                if k + 1 < len(batches):
                    pending = self._submit(pool, batches[k + 1])  # decodes while this batch runs
                ready = [(job, frames) for job, frames in zip(batch, decoded) if frames is not None]
                if ready:
                    rows = [job.index for job, _ in ready]
                    if split:
                        out[rows] = self._run_split(ready, batch_size * seq_len)
                    else:
                        out[rows] = self._run_full(ready, batch_size)
                if bar is not None:
                    bar.update(len(batch))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if bar is not None:
                bar.close()
        return out

    def _job(self, index: int, item: TrackletInput, seq_len: int, sampling: str, max_clips: int | None) -> _Job:
        source, name = self._source(index, item)
        if len(source) == 0:
            raise ReidError(f"{name} is empty: a tracklet needs at least one frame")
        clips = sample_test_clips(len(source), seq_len, sampling, max_clips)
        return _Job(index, name, source, clips, np.unique(clips))

    def _source(self, index: int, item: TrackletInput) -> tuple[tuple[str, ...] | np.ndarray, str]:
        if isinstance(item, Tracklet):
            return tuple(str(p) for p in item.frames), f"tracklet {index} (tid {item.tid})"
        if isinstance(item, np.ndarray):
            return check_frames_array(item, self.input_size, f"tracklet {index}"), f"tracklet {index}"
        if isinstance(item, (str, os.PathLike)):
            raise ValueError(f"tracklet {index} is a single path ({item}); give a tracklet as a list of frame paths")
        paths = tuple(str(p) for p in item)
        return paths, f"tracklet {index} ({paths[0]})" if paths else f"tracklet {index}"

    def _submit(self, pool: ThreadPoolExecutor, batch: list[_Job]) -> list[list[Future]]:
        return [
            [pool.submit(load_frames, job.source, job.frames[i:i + _DECODE_CHUNK], self.input_size)
             for i in range(0, len(job.frames), _DECODE_CHUNK)]
            for job in batch
        ]

    def _collect(self, batch: list[_Job], futures: list[list[Future]], strict: bool) -> list[np.ndarray | None]:
        decoded: list[np.ndarray | None] = []
        for job, parts in zip(batch, futures):
            try:
                decoded.append(np.concatenate([part.result() for part in parts]))
            except FrameReadError as err:
                if strict:
                    raise FrameReadError(f"{job.name}: {err}") from err
                self.last_errors.append(TrackletError(job.index, job.name, str(err)))
                decoded.append(None)
        return decoded

    def _run_full(self, ready: list[tuple[_Job, np.ndarray]], batch_size: int) -> np.ndarray:
        frames = np.concatenate([decoded for _, decoded in ready])
        sums = np.zeros((len(ready), self.embedding_dim), dtype=np.float64)
        counts = np.zeros(len(ready), dtype=np.int64)
        for owners, positions in _clip_groups(ready):
            for start in range(0, len(owners), batch_size):
                rows = slice(start, start + batch_size)
                embedding = self.backend.run_full(frames[positions[rows]])
                np.add.at(sums, owners[rows], embedding)
                np.add.at(counts, owners[rows], 1)
        return (sums / counts[:, None]).astype(np.float32)

    def _run_split(self, ready: list[tuple[_Job, np.ndarray]], max_frames: int) -> np.ndarray:
        frames = np.concatenate([decoded for _, decoded in ready])
        scores, strips = backbone_terms(self.backend, frames, max_frames)
        owner_parts, fused_parts = [], []
        for owners, positions in _clip_groups(ready):
            fused_parts.append(fuse(self.info.aggregation, scores[positions], strips[positions], self.backend.fusion))
            owner_parts.append(owners)
        fused = np.concatenate(fused_parts)
        owners = np.concatenate(owner_parts)
        embedding = np.concatenate([self.backend.run_head(fused[i:i + max_frames])
                                    for i in range(0, len(fused), max_frames)])
        sums = np.zeros((len(ready), embedding.shape[1]), dtype=np.float64)
        np.add.at(sums, owners, embedding)
        return (sums / np.bincount(owners, minlength=len(ready))[:, None]).astype(np.float32)


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
    return frames


def load_frames(source: tuple[str, ...] | np.ndarray, indices: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Frames ``indices`` of a tracklet as float32 ``(n, 3, H, W)``: decoded and resized (paths) or sliced (arrays)."""
    if isinstance(source, np.ndarray):
        clip = source[indices]
    else:
        clip = np.stack([load_frame(source[i], size) for i in indices])
    return np.ascontiguousarray(clip.transpose(0, 3, 1, 2), dtype=np.float32)


def _batches(jobs: list[_Job], max_clips: int, by_length: bool) -> list[list[_Job]]:
    """Consecutive jobs holding up to ``max_clips`` clips (at least one job each); with ``by_length`` a batch also
    holds one clip length only, so whole-clip calls of ``sampling="all"`` are as full as the lengths allow."""
    batches: list[list[_Job]] = []
    clips = 0
    for job in jobs:
        fits = batches and clips + len(job.clips) <= max_clips
        if fits and (not by_length or len(batches[-1][0].frames) == len(job.frames)):
            batches[-1].append(job)
            clips += len(job.clips)
        else:
            batches.append([job])
            clips = len(job.clips)
    return batches


def _clip_groups(ready: list[tuple[_Job, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Clips of the batch grouped by length: (owner slot per clip, clip frame positions in the batch frames)."""
    groups: dict[int, tuple[list[int], list[np.ndarray]]] = {}
    offset = 0
    for slot, (job, decoded) in enumerate(ready):
        positions = job.positions() + offset
        owners, rows = groups.setdefault(positions.shape[1], ([], []))
        owners.extend([slot] * len(positions))
        rows.append(positions)
        offset += len(decoded)
    return [(np.asarray(owners), np.concatenate(rows)) for owners, rows in groups.values()]
