"""Which frames of a tracklet feed the model: random clips for training, deterministic clips for testing.

Every function returns frame indices in temporal (non-decreasing) order. A tracklet shorter than the
clip is padded by repetition in order: each frame appears ``seq_len // n`` or ``seq_len // n + 1``
times, earlier frames taking the extra copies (3 frames, ``seq_len`` 7 -> ``0 0 0 1 1 2 2``). The
same rule pads the last, incomplete chunk of ``dense`` sampling.
"""

from __future__ import annotations

import numpy as np

TRAIN_MODES: tuple[str, ...] = ("random", "restricted", "consecutive")
TEST_MODES: tuple[str, ...] = ("evenly", "dense", "all")


def _check_lengths(n_frames: int, seq_len: int) -> None:
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")


def _check_mode(mode: str, valid: tuple[str, ...]) -> None:
    if mode not in valid:
        raise ValueError(f"unknown sampling mode {mode!r}; expected one of {', '.join(valid)}")


def _repeat_in_order(n_frames: int, seq_len: int) -> np.ndarray:
    """``seq_len`` indices covering all ``n_frames`` (<= seq_len) frames, each repeated, in order."""
    return np.arange(seq_len, dtype=np.int64) * n_frames // seq_len


def _spread(n: int, k: int) -> np.ndarray:
    """``k`` distinct indices in ``[0, n)`` (``k <= n``), the middle of each of ``k`` near-equal chunks."""
    return (2 * np.arange(k, dtype=np.int64) + 1) * n // (2 * k)


def sample_train_indices(n_frames: int, seq_len: int, mode: str, rng: np.random.Generator) -> np.ndarray:
    """One training clip of ``seq_len`` frame indices of a tracklet of ``n_frames`` frames.

    ``random``: ``seq_len`` distinct frames drawn uniformly, kept in temporal order.
    ``restricted``: ``[0, n_frames)`` cut into ``seq_len`` near-equal chunks, one random frame per chunk.
    ``consecutive``: ``seq_len`` consecutive frames from a uniformly drawn start (the AITL authors' released code).
    Tracklets shorter than ``seq_len`` are padded by repetition in order (see the module docstring);
    that clip holds every frame, so it is the same whatever ``rng`` draws.
    """
    _check_lengths(n_frames, seq_len)
    _check_mode(mode, TRAIN_MODES)
    if n_frames < seq_len:
        return _repeat_in_order(n_frames, seq_len)
    if mode == "random":
        return np.sort(rng.choice(n_frames, size=seq_len, replace=False)).astype(np.int64)
    if mode == "consecutive":
        return int(rng.integers(0, n_frames - seq_len + 1)) + np.arange(seq_len, dtype=np.int64)
    edges = np.arange(seq_len + 1, dtype=np.int64) * n_frames // seq_len
    return rng.integers(edges[:-1], edges[1:]).astype(np.int64)


def sample_test_clips(n_frames: int, seq_len: int, mode: str, max_clips: int | None = None) -> np.ndarray:
    """The deterministic test clips of a tracklet, as an ``(n_clips, clip_len)`` int64 array.

    ``evenly``: one clip of ``seq_len`` frames, the middle frame of each of ``seq_len`` near-equal chunks.
    ``dense``: every frame, in consecutive chunks of ``seq_len``; the last chunk is padded by repetition in
    order. ``max_clips`` caps the number of chunks by keeping ones spread evenly over the tracklet.
    ``all``: one clip of all ``n_frames`` frames (``seq_len`` and ``max_clips`` play no part).
    """
    _check_lengths(n_frames, seq_len)
    _check_mode(mode, TEST_MODES)
    if max_clips is not None and max_clips < 1:
        raise ValueError(f"max_clips must be >= 1 or None, got {max_clips}")
    if mode == "all":
        return np.arange(n_frames, dtype=np.int64)[None]
    if n_frames < seq_len:
        return _repeat_in_order(n_frames, seq_len)[None]
    if mode == "evenly":
        return _spread(n_frames, seq_len)[None]

    n_full, rest = divmod(n_frames, seq_len)
    clips = np.arange(n_full * seq_len, dtype=np.int64).reshape(n_full, seq_len)
    if rest:
        last = n_full * seq_len + _repeat_in_order(rest, seq_len)
        clips = np.concatenate([clips, last[None]])
    if max_clips is not None and len(clips) > max_clips:
        clips = clips[_spread(len(clips), max_clips)]
    return clips
