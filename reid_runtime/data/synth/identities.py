"""Person ids of the splits and, per identity, its look, attribute values and tracklets (camera, length)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reid_runtime.data.synth.appearance import Appearance, draw_identity
from reid_runtime.data.synth.config import SynthConfig, make_rng

_PIDS_KEY = 2
_IDENTITY_KEY = 3
MAX_PID = 9999  # pids are written with 4 digits


@dataclass(frozen=True)
class Identity:
    """One person: look, ID-relevant attribute values (CSV order) and tracklets as (camera, frames), by camera."""

    pid: int
    look: Appearance
    attributes: tuple[int, ...]
    tracklets: tuple[tuple[int, int], ...]

    @property
    def cameras(self) -> tuple[int, ...]:
        return tuple(sorted({camera for camera, _ in self.tracklets}))


def assign_pids(config: SynthConfig, extra: int = 0) -> tuple[list[int], list[int], list[int]]:
    """Sorted, disjoint, non-contiguous pids for train, test and ``extra`` more identities (e.g. distractors)."""
    total = 2 * config.ids + extra
    pool = min(MAX_PID, int(total * 1.25) + 2)
    rng = make_rng(config.seed, _PIDS_KEY)
    pids = rng.choice(np.arange(1, pool + 1), size=total, replace=False)
    train, test, rest = pids[:config.ids], pids[config.ids:2 * config.ids], pids[2 * config.ids:]
    return sorted(int(p) for p in train), sorted(int(p) for p in test), sorted(int(p) for p in rest)


def tracklet_length(rng: np.random.Generator, config: SynthConfig) -> int:
    return int(rng.integers(config.min_len, config.max_len + 1))


def draw_person(config: SynthConfig, pid: int, *, repeat_rates: tuple[float, ...] = (0.4, 0.12),
                one_per_camera: bool = False, two_cameras_with_repeats: bool = False,
                single_tracklet: bool = False) -> Identity:
    """An identity seen in 2..4 cameras (1 camera with ``single_tracklet``).

    ``repeat_rates``: chance of a 2nd, 3rd, ... tracklet in each of its cameras. ``one_per_camera``: exactly one
    tracklet per camera. ``two_cameras_with_repeats``: at least two cameras hold two or more tracklets, so every
    per-camera query keeps a cross-camera match outside the query set.
    """
    rng = make_rng(config.seed, _IDENTITY_KEY, pid)
    look, attributes = draw_identity(rng, config.layout)
    cameras = config.num_cameras
    popularity = 1.0 / (1.0 + 0.25 * np.arange(cameras))
    if single_tracklet:
        chosen = [int(rng.choice(cameras, p=popularity / popularity.sum())) + 1]
    else:
        k = min(cameras, int(rng.choice([2, 3, 4], p=[0.45, 0.35, 0.2])))
        chosen = sorted(int(c) + 1 for c in rng.choice(cameras, size=k, replace=False,
                                                       p=popularity / popularity.sum()))
    counts = [1] * len(chosen)
    if not (single_tracklet or one_per_camera):
        extra = rng.random((len(chosen), len(repeat_rates))) < np.asarray(repeat_rates)
        counts = [1 + int(row.sum()) for row in extra]
        if two_cameras_with_repeats:
            for i in range(len(counts)):
                if sum(c >= 2 for c in counts) >= 2:
                    break
                counts[i] = max(counts[i], 2)
    tracklets = tuple((camera, tracklet_length(rng, config)) for camera, n in zip(chosen, counts) for _ in range(n))
    return Identity(pid, look, attributes, tracklets)
