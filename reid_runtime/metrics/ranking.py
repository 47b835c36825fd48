"""CMC, mAP and mINP of a query-gallery distance matrix under the Python-style and official MARS protocols."""

from __future__ import annotations

import numpy as np

PROTOCOLS = ("standard", "official")

# Queries are ranked this many distance entries at a time, which bounds the temporaries to ~100 MB.
_CHUNK_ELEMENTS = 2_000_000


def _as_labels(x: np.ndarray, name: str, length: int) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {x.shape}")
    if len(x) != length:
        raise ValueError(f"{name} has {len(x)} entries but the distance matrix needs {length}")
    if x.dtype.kind in "iu":
        return x.astype(np.int64)
    if x.dtype.kind == "f" and np.isfinite(x).all() and (x == np.round(x)).all():
        return x.astype(np.int64)
    raise ValueError(f"{name} must hold integer ids, got dtype {x.dtype}")


def evaluate_ranking(
    distmat: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_camids: np.ndarray,
    g_camids: np.ndarray,
    max_rank: int = 50,
    protocol: str = "standard",
) -> dict:
    """Rank the gallery for every query (smaller distance = better) and score the ranking.

    All scores are fractions in 0..1 (multiply by 100 for the usual percentages). Ties are broken by gallery
    index: the sort is stable, like MATLAB's ``sort``.

    ``protocol="standard"`` (torchreid / Python style): gallery items with the query's pid and camid, and items
    with pid -1, are removed from that query's list. A query with no positive left is skipped: it is not in any
    mean, ``valid`` is False and its ``ap`` / ``inp`` are NaN. AP is non-interpolated,
    ``sum_k P@k * rel_k / num_positives``. Raises ValueError when no query is valid.

    ``protocol="official"`` (MARS MATLAB ``evaluation_mars.m`` / ``compute_AP.m``): pass the whole test set as
    gallery (queries included). Junk = pid -1 items and same-pid same-camera items (the query itself among them); it
    is skipped, neither hit nor miss, and CMC ranks count non-junk items only. Good = same pid, other camera.
    AP is the trapezoid rule of ``compute_AP.m``. Every query counts in every mean; a query without a good item
    (MATLAB would return NaN) scores AP = INP = 0 and never hits, and is reported through ``valid`` /
    ``num_valid_queries``.

    mINP (Ye et al.): INP = num_positives / rank of the last positive, averaged like mAP.

    Returns a dict with ``cmc`` (float64, length ``max_rank``: ``cmc[r]`` = fraction of queries with a positive
    within the top ``r + 1``; ranks past the end of a short gallery repeat the last value), ``mAP``, ``mINP``,
    ``num_valid_queries``, ``num_queries``, ``protocol`` and per-query ``ap``, ``inp`` (float64) and ``valid``
    (bool), where ``np.nanmean(ap) == mAP``.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if isinstance(max_rank, bool) or not isinstance(max_rank, (int, np.integer)) or max_rank < 1:
        raise ValueError(f"max_rank must be a positive integer, got {max_rank!r}")
    distmat = np.asarray(distmat)
    if distmat.ndim != 2:
        raise ValueError(f"distmat must be a 2-D array (num_queries, num_gallery), got shape {distmat.shape}")
    if distmat.dtype.kind not in "fiu":
        raise ValueError(f"distmat must be numeric, got dtype {distmat.dtype}")
    num_q, num_g = distmat.shape
    if num_q == 0 or num_g == 0:
        raise ValueError(f"distmat must have at least one query and one gallery item, got shape {distmat.shape}")
    if distmat.dtype.kind == "f" and np.isnan(distmat).any():
        raise ValueError("distmat contains NaN")
    q_pids = _as_labels(q_pids, "q_pids", num_q)
    g_pids = _as_labels(g_pids, "g_pids", num_g)
    q_camids = _as_labels(q_camids, "q_camids", num_q)
    g_camids = _as_labels(g_camids, "g_camids", num_g)

    ap = np.zeros(num_q)
    inp = np.zeros(num_q)
    first_hit = np.full(num_q, np.iinfo(np.int64).max)
    valid = np.zeros(num_q, dtype=bool)
    chunk = max(1, _CHUNK_ELEMENTS // num_g)
    for start in range(0, num_q, chunk):
        rows = slice(start, start + chunk)
        order = np.argsort(distmat[rows], axis=1, kind="stable")
        pids = g_pids[order]
        same_pid = pids == q_pids[rows, None]
        same_cam = g_camids[order] == q_camids[rows, None]
        junk = (same_pid & same_cam) | (pids == -1)
        hits = same_pid & ~junk
        # 1-based position of every item in the junk-free list (leading junk clamped to 1, never read) and
        # number of hits up to and including it.
        position = np.maximum(np.cumsum(~junk, axis=1, dtype=np.int64), 1)
        hit_count = np.cumsum(hits, axis=1, dtype=np.int64)
        num_hits = hit_count[:, -1]

        precision_at_hit = np.where(hits, hit_count / position, 0.0)
        if protocol == "standard":
            ap_sum = precision_at_hit.sum(axis=1)
        else:
            # Trapezoid between the point just before each hit and the hit itself; precision starts at 1.
            prev_position = np.maximum(position - 1, 1)
            prev_precision = np.where(position > 1, (hit_count - 1) / prev_position, 1.0)
            ap_sum = (np.where(hits, prev_precision, 0.0) + precision_at_hit).sum(axis=1) / 2
        ap[rows] = ap_sum / np.maximum(num_hits, 1)
        last_position = np.where(hits, position, 0).max(axis=1)
        inp[rows] = num_hits / np.maximum(last_position, 1)
        first_hit[rows] = np.where(hits, position, np.iinfo(np.int64).max).min(axis=1)
        valid[rows] = num_hits > 0

    num_valid = int(valid.sum())
    if protocol == "standard":
        if num_valid == 0:
            raise ValueError("no query has a positive in the gallery (after removing same pid + same camera items)")
        ap[~valid] = np.nan
        inp[~valid] = np.nan
        counted = valid
    else:
        counted = np.ones(num_q, dtype=bool)
    ranks = np.arange(1, max_rank + 1)
    cmc = (first_hit[counted, None] <= ranks[None, :]).mean(axis=0)
    return {
        "cmc": cmc,
        "mAP": float(ap[counted].mean()),
        "mINP": float(inp[counted].mean()),
        "num_valid_queries": num_valid,
        "num_queries": num_q,
        "protocol": protocol,
        "ap": ap,
        "inp": inp,
        "valid": valid,
    }
