"""Rank a gallery of tracklet embeddings for every query: exact top-k with numpy or faiss, optional re-ranking.

Both engines are exact and return the same top-k: numpy ranks ``pairwise_distance`` blocks of ``chunk_size``
queries; faiss (used by ``engine="auto"`` when installed and the gallery has at least ``FAISS_MIN_GALLERY`` items)
searches a flat index without building the query x gallery matrix, and its candidates are re-scored in numpy.
Re-ranking (k-reciprocal) needs the query-gallery, query-query and gallery-gallery blocks in memory, so it is
refused above ``RERANK_MAX_ITEMS`` query + gallery items (the gallery block alone is 1.6 GB at 20000 items).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reid_runtime.embeddings_file import Embeddings
from reid_runtime.errors import ReidError
from reid_runtime.metrics import evaluate_ranking, l2_normalize, pairwise_distance, re_rank
from reid_runtime.metrics.distance import METRICS

FAISS_MIN_GALLERY = 20_000
RERANK_MAX_ITEMS = 20_000
ENGINES = ("auto", "numpy", "faiss")
_FAISS_MARGIN = 8  # extra candidates per query, so float32 ordering noise in faiss cannot drop a true top-k item


@dataclass
class SearchResult:
    """Per query the gallery rows ranked best first; -1 / inf pad rows with fewer than ``topk`` candidates."""

    indices: np.ndarray    # (Q, k) int64
    distances: np.ndarray  # (Q, k) float32
    metric: str
    engine: str
    distmat: np.ndarray | None = None  # the re-ranked (Q, G) matrix when re-ranking ran


def resolve_metric(query: Embeddings, gallery: Embeddings, metric: str | None) -> str:
    """The explicit ``metric``, else the one both files' meta name (euclidean when neither says)."""
    if metric is not None:
        if metric not in METRICS:
            raise ReidError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
        return metric
    named = {m for m in (query.metric, gallery.metric) if m}
    if len(named) > 1:
        raise ReidError(f"the query and gallery files name different metrics ({', '.join(sorted(named))}); "
                        "were they embedded by different models? pass --metric to override")
    return named.pop() if named else "euclidean"


def search(
    query: Embeddings,
    gallery: Embeddings,
    topk: int = 10,
    metric: str | None = None,
    *,
    rerank: bool = False,
    exclude_same_camera: bool = False,
    engine: str = "auto",
    chunk_size: int = 1024,
) -> SearchResult:
    """Top-``topk`` gallery rows per query (smaller distance first, ties by gallery order).

    ``exclude_same_camera`` drops gallery items with the query's pid and camid (the standard evaluation rule;
    queries with an unknown pid of -1 drop nothing). ``rerank`` ranks by k-reciprocal re-ranked distances.
    """
    metric = resolve_metric(query, gallery, metric)
    if engine not in ENGINES:
        raise ReidError(f"unknown search engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or topk < 1:
        raise ValueError(f"topk must be a positive integer, got {topk!r}")
    _check_pair(query, gallery)
    if rerank:
        return _search_reranked(query, gallery, topk, metric, exclude_same_camera)
    faiss = _faiss() if engine in ("auto", "faiss") else None
    if engine == "faiss" and faiss is None:
        raise ReidError("engine 'faiss' needs the faiss package: pip install 'reid-toolkit[faiss]'")
    if faiss is not None and (engine == "faiss" or len(gallery) >= FAISS_MIN_GALLERY):
        return _search_faiss(faiss, query, gallery, topk, metric, exclude_same_camera, chunk_size)
    return _search_numpy(query, gallery, topk, metric, exclude_same_camera, chunk_size)


def evaluate(query: Embeddings, gallery: Embeddings, metric: str, *, distmat: np.ndarray | None = None,
             chunk_size: int = 1024) -> dict[str, Any] | None:
    """R1/R5/R10/mAP/mINP in percent under the standard protocol, in query chunks; None when the pids are unknown
    (all -1) or no query has a same-identity gallery item in another camera."""
    if not (query.pids >= 0).any() or not (gallery.pids >= 0).any():
        return None
    cmc_sum, valid_total, aps, inps = np.zeros(10), 0, [], []
    for start in range(0, len(query), chunk_size):
        rows = slice(start, start + chunk_size)
        dist = distmat[rows] if distmat is not None else pairwise_distance(
            query.embeddings[rows], gallery.embeddings, metric)
        try:
            result = evaluate_ranking(dist, query.pids[rows], gallery.pids, query.camids[rows], gallery.camids,
                                      max_rank=10)
        except ValueError:  # no valid query in this chunk
            continue
        cmc_sum += result["cmc"] * result["num_valid_queries"]
        valid_total += result["num_valid_queries"]
        aps.append(result["ap"])
        inps.append(result["inp"])
    if valid_total == 0:
        return None
    cmc = 100.0 * cmc_sum / valid_total
    return {
        "R1": float(cmc[0]), "R5": float(cmc[4]), "R10": float(cmc[9]),
        "mAP": 100.0 * float(np.nanmean(np.concatenate(aps))),
        "mINP": 100.0 * float(np.nanmean(np.concatenate(inps))),
        "num_valid_queries": valid_total, "num_queries": len(query), "protocol": "standard",
    }


def _check_pair(query: Embeddings, gallery: Embeddings) -> None:
    if len(gallery) == 0:
        raise ReidError("the gallery is empty")
    if query.embeddings.shape[1] != gallery.embeddings.shape[1]:
        raise ReidError(f"query embeddings are {query.embeddings.shape[1]}-d but gallery ones "
                        f"{gallery.embeddings.shape[1]}-d; embed both with the same model")
    for name, part in (("query", query), ("gallery", gallery)):
        if not part.valid().all():
            raise ReidError(f"the {name} holds {int((~part.valid()).sum())} NaN rows (skipped tracklets); "
                            "drop them first (Embeddings.subset(Embeddings.valid()))")


def _excluded(query: Embeddings, gallery: Embeddings, rows: slice, exclude: bool) -> np.ndarray | None:
    if not exclude:
        return None
    q_pids, q_cams = query.pids[rows, None], query.camids[rows, None]
    return (gallery.pids[None] == q_pids) & (gallery.camids[None] == q_cams) & (q_pids != -1)


def _top_k(dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise k smallest entries, sorted by (distance, column); inf entries become -1 / inf."""
    k = min(k, dist.shape[1])
    part = np.argpartition(dist, k - 1, axis=1)[:, :k] if k < dist.shape[1] else np.tile(np.arange(k), (len(dist), 1))
    values = np.take_along_axis(dist, part, axis=1)
    order = np.lexsort((part, values), axis=1)
    indices = np.take_along_axis(part, order, axis=1).astype(np.int64)
    values = np.take_along_axis(values, order, axis=1).astype(np.float32)
    indices[~np.isfinite(values)] = -1
    return indices, values


def _pad(indices: np.ndarray, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    missing = k - indices.shape[1]
    if missing <= 0:
        return indices, values
    return (np.pad(indices, ((0, 0), (0, missing)), constant_values=-1),
            np.pad(values, ((0, 0), (0, missing)), constant_values=np.inf))


def _search_numpy(query, gallery, topk, metric, exclude, chunk_size) -> SearchResult:
    indices, distances = [], []
    for start in range(0, len(query), chunk_size):
        rows = slice(start, start + chunk_size)
        dist = pairwise_distance(query.embeddings[rows], gallery.embeddings, metric)
        mask = _excluded(query, gallery, rows, exclude)
        if mask is not None:
            dist[mask] = np.inf
        idx, val = _pad(*_top_k(dist, topk), topk)
        indices.append(idx)
        distances.append(val)
    return _result(indices, distances, topk, metric, "numpy")


def _search_faiss(faiss, query, gallery, topk, metric, exclude, chunk_size) -> SearchResult:
    base = np.ascontiguousarray(gallery.embeddings, dtype=np.float32)
    if metric == "cosine":
        base = np.ascontiguousarray(l2_normalize(base))
        index = faiss.IndexFlatIP(base.shape[1])
    else:
        index = faiss.IndexFlatL2(base.shape[1])
    index.add(base)
    groups: dict[tuple[int, int], int] = {}
    if exclude:
        for key in zip(gallery.pids.tolist(), gallery.camids.tolist()):
            groups[key] = groups.get(key, 0) + 1
    indices, distances = [], []
    for start in range(0, len(query), chunk_size):
        rows = slice(start, start + chunk_size)
        q = np.ascontiguousarray(query.embeddings[rows], dtype=np.float32)
        excluded = max((groups.get((p, c), 0) for p, c in zip(query.pids[rows].tolist(), query.camids[rows].tolist())
                        if p != -1), default=0)
        k = min(len(gallery), topk + excluded + _FAISS_MARGIN)
        _, cand = index.search(l2_normalize(q) if metric == "cosine" else q, k)
        dist = _exact(query.embeddings[rows], gallery.embeddings, cand, metric)
        if exclude:
            same = ((gallery.pids[cand] == query.pids[rows, None]) & (gallery.camids[cand] == query.camids[rows, None])
                    & (query.pids[rows, None] != -1))
            dist[same] = np.inf
        dist[cand < 0] = np.inf
        order = np.lexsort((cand, dist), axis=1)[:, :topk]
        idx = np.take_along_axis(cand, order, axis=1).astype(np.int64)
        val = np.take_along_axis(dist, order, axis=1).astype(np.float32)
        idx[~np.isfinite(val)] = -1
        idx, val = _pad(idx, val, topk)
        indices.append(idx)
        distances.append(val)
    return _result(indices, distances, topk, metric, "faiss")


def _exact(query: np.ndarray, gallery: np.ndarray, cand: np.ndarray, metric: str) -> np.ndarray:
    """Distances of each query to its candidate gallery rows (``cand`` (Q, k), -1 = none), as ``pairwise_distance``
    defines them."""
    picked = gallery[np.maximum(cand, 0)].astype(np.float64)
    q = query.astype(np.float64)[:, None, :]
    if metric == "cosine":
        sim = (l2_normalize(q) * l2_normalize(picked)).sum(axis=2)
        return np.clip(1.0 - sim, 0.0, 2.0)
    return np.sqrt(((q - picked) ** 2).sum(axis=2))


def _search_reranked(query, gallery, topk, metric, exclude) -> SearchResult:
    total = len(query) + len(gallery)
    if total > RERANK_MAX_ITEMS:
        raise ReidError(
            f"re-ranking {len(query)} queries against {len(gallery)} gallery items needs the full "
            f"({total} x {total}) distance blocks in memory; it is refused above {RERANK_MAX_ITEMS} items in all"
        )
    q, g = query.embeddings, gallery.embeddings
    distmat = re_rank(pairwise_distance(q, g, metric), pairwise_distance(q, q, metric),
                      pairwise_distance(g, g, metric))
    dist = distmat.copy()
    mask = _excluded(query, gallery, slice(None), exclude)
    if mask is not None:
        dist[mask] = np.inf
    indices, distances = _pad(*_top_k(dist, topk), topk)
    return SearchResult(indices, distances, metric, "numpy+rerank", distmat)


def _result(indices, distances, topk, metric, engine) -> SearchResult:
    if not indices:
        return SearchResult(np.zeros((0, topk), np.int64), np.zeros((0, topk), np.float32), metric, engine)
    return SearchResult(np.concatenate(indices), np.concatenate(distances), metric, engine)


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:
        return None
    return faiss
