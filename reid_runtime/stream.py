"""Streaming tracklet embeddings: feed frames as a tracker produces them, read a track's embedding at any time.

Each track keeps O(K * C) numbers, whatever its length: a ``reid_runtime.aggregation.RunningFusion`` (running sums of
score-weighted strips and of scores, and the best score and its strip per region, for STA; a running sum of strips for
temporal pooling). The result equals the offline embedding of all frames seen as one clip
(``embed(..., sampling="all")``) up to float rounding; ``ReidModel.embed`` streams long tracklets through the same
arithmetic.
"""

from __future__ import annotations

import os
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from reid_runtime.aggregation import RunningFusion
from reid_runtime.errors import ReidError
from reid_runtime.model import ReidModel, backbone_terms, check_finite, check_frames_array, load_frames


@dataclass
class _Track:
    state: RunningFusion
    last_seen: float = 0.0
    cached: np.ndarray | None = field(default=None, repr=False)


class TrackletStream:
    """Running per-track aggregation on a model with per-frame terms (a split export, or an STA / TP checkpoint).

    ``timestamp`` values (``update``) and ``now`` (``evict_older_than``) are any increasing clock: the default is
    ``time.monotonic()``, a tracker may pass frame numbers instead.
    """

    def __init__(self, model: ReidModel, batch_size: int = 64) -> None:
        if not model.backend.has_frame_terms:
            raise ReidError(model.backend.frame_terms_missing())
        if model.info.aggregation not in ("sta", "mean"):
            raise ReidError(f"{model.path}: streaming supports aggregation 'sta' or 'mean', "
                            f"not {model.info.aggregation!r}")
        self.model = model
        self.batch_size = batch_size
        self._tracks: dict[Hashable, _Track] = {}

    def __len__(self) -> int:
        return len(self._tracks)

    def __contains__(self, track_id: Hashable) -> bool:
        return track_id in self._tracks

    def tracks(self) -> list[Hashable]:
        """Open track ids, in the order they were first seen."""
        return list(self._tracks)

    def num_frames(self, track_id: Hashable) -> int:
        return self._track(track_id).state.frames

    def update(self, track_id: Hashable, frames: np.ndarray | Sequence[str | os.PathLike],
               timestamp: float | None = None) -> None:
        """Add frames to a track: uint8 ``(T, H, W, 3)`` (or one ``(H, W, 3)``) at the model size, or frame paths."""
        self.update_many({track_id: frames}, timestamp)

    def update_many(self, updates: Mapping[Hashable, np.ndarray | Sequence[str | os.PathLike]],
                    timestamp: float | None = None) -> None:
        """Add frames to several tracks with one backbone pass (e.g. every crop of one video frame)."""
        now = time.monotonic() if timestamp is None else timestamp
        arrays, owners = [], []
        for track_id, frames in updates.items():
            array = self._frames(track_id, frames)
            arrays.append(array)
            owners.append((track_id, len(array)))
        if not arrays:
            return
        scores, strips = backbone_terms(self.model.backend, np.concatenate(arrays), self.batch_size)
        start = 0
        for track_id, count in owners:
            track = self._tracks.get(track_id)
            if track is None:
                track = self._tracks[track_id] = _Track(RunningFusion(self.model.info.aggregation,
                                                                      self.model.backend.fusion))
            track.state.add(scores[start:start + count], strips[start:start + count])
            track.cached = None
            track.last_seen = now
            start += count

    def embedding(self, track_id: Hashable) -> np.ndarray:
        """``(D,)`` float32: the embedding of every frame seen so far as one clip."""
        track = self._track(track_id)
        if track.cached is None:
            track.cached = self._head(np.stack([track.state.fused()]), [track_id])[0]
        return track.cached

    def embeddings(self, track_ids: Sequence[Hashable] | None = None) -> np.ndarray:
        """``(n, D)`` embeddings of ``track_ids`` (default: all open tracks, in ``tracks()`` order), one head call."""
        ids = self.tracks() if track_ids is None else list(track_ids)
        stale = [i for i in ids if self._track(i).cached is None]
        if stale:
            fused = np.stack([self._tracks[i].state.fused() for i in stale])
            for i, row in zip(stale, self._head(fused, stale)):
                self._tracks[i].cached = row
        if not ids:
            return np.zeros((0, self.model.embedding_dim), dtype=np.float32)
        return np.stack([self._tracks[i].cached for i in ids])

    def close(self, track_id: Hashable) -> np.ndarray:
        """Forget a track and return its final embedding."""
        embedding = self.embedding(track_id)
        del self._tracks[track_id]
        return embedding

    def evict_older_than(self, age: float, now: float | None = None) -> dict[Hashable, np.ndarray]:
        """Close every track not updated within ``age`` of ``now``; returns their final embeddings."""
        now = time.monotonic() if now is None else now
        old = [i for i, track in self._tracks.items() if now - track.last_seen > age]
        return {i: self.close(i) for i in old}

    def _track(self, track_id: Hashable) -> _Track:
        try:
            return self._tracks[track_id]
        except KeyError:
            raise KeyError(f"unknown track {track_id!r}: no frames were given for it (or it was closed)") from None

    def _frames(self, track_id: Hashable, frames: np.ndarray | Sequence[str | os.PathLike]) -> np.ndarray:
        name = f"track {track_id!r}"
        if isinstance(frames, np.ndarray):
            if frames.ndim == 3:
                frames = frames[None]
            source = check_frames_array(frames, self.model.input_size, name)
        elif isinstance(frames, (str, os.PathLike)):
            source = (str(frames),)
        else:
            source = tuple(str(p) for p in frames)
        if len(source) == 0:
            raise ValueError(f"{name}: update needs at least one frame")
        return load_frames(source, np.arange(len(source)), self.model.input_size)

    def _head(self, fused: np.ndarray, track_ids: Sequence[Hashable]) -> np.ndarray:
        embeddings = self.model.backend.run_head(fused)
        check_finite(self.model, embeddings, [f"track {i!r}" for i in track_ids])
        return embeddings
