"""Score query/gallery embeddings under a named gallery protocol and report the results as tables and JSON.

Numpy only, so an edge box can score a gallery without torch. The protocol names are those of the dataset readers:

- ``standard``: Python-style ranking (torchreid / AITL) on the gallery as given; same pid + same camera items and
  pid -1 items are removed per query, and a query with no positive left is skipped.
- ``with-query``: the same ranking on the gallery with the query tracklets appended (PSTA / AP3D), so a query whose
  only cross-camera matches are other queries becomes valid.
- ``official``: MARS MATLAB ranking (junk skipped, trapezoid AP, every query counted) on the gallery with the
  queries appended, i.e. the whole test set.

Queries already in the gallery (same :attr:`Tracklet.key`, as ``load_dataset(protocol="with-query")`` builds it)
are not appended twice, so either the standard or the protocol's own gallery can be passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reid_runtime.data.tracklet import Tracklet
from reid_runtime.io import write_json_atomic
from reid_runtime.metrics import evaluate_ranking, pairwise_distance, re_rank

PROTOCOLS: tuple[str, ...] = ("standard", "with-query", "official")
_RANKING = {"standard": "standard", "with-query": "standard", "official": "official"}
RANKS: tuple[int, ...] = (1, 5, 10, 20)
SCORE_COLUMNS: tuple[str, ...] = tuple(f"R{r}" for r in RANKS) + ("mAP", "mINP")
# Settings that make results comparable or not: shown once under a table when shared by all rows, else as columns.
CONTEXT_KEYS: tuple[str, ...] = ("dataset", "protocol", "metric", "reranked", "model", "backend", "sampling")


def _embedding_matrix(x: np.ndarray, name: str, tracklets: Sequence[Tracklet], what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (num_tracklets, dim), got shape {x.shape}")
    if len(x) != len(tracklets):
        raise ValueError(f"{name} has {len(x)} rows but there are {len(tracklets)} {what} tracklets")
    return x


def _with_queries_appended(
    q_emb: np.ndarray, g_emb: np.ndarray, query: Sequence[Tracklet], gallery: Sequence[Tracklet]
) -> tuple[np.ndarray, list[Tracklet]]:
    in_gallery = {t.key for t in gallery}
    missing = [i for i, t in enumerate(query) if t.key not in in_gallery]
    if not missing:
        return g_emb, list(gallery)
    return np.concatenate([g_emb, q_emb[missing]]), list(gallery) + [query[i] for i in missing]


def score(
    q_emb: np.ndarray,
    g_emb: np.ndarray,
    query: list[Tracklet],
    gallery: list[Tracklet],
    *,
    metric: str = "euclidean",
    protocol: str = "standard",
    rerank: bool = False,
    max_rank: int = 50,
    return_distances: bool = False,
) -> dict[str, Any]:
    """Rank the gallery for every query and score it: CMC R1/R5/R10/R20, mAP and mINP in percent.

    ``metric`` is "euclidean" or "cosine" (see :func:`pairwise_distance`); ``rerank`` applies k-reciprocal
    re-ranking (k1=20, k2=6, lambda=0.3) to those distances. Ties are broken by gallery index.

    Returns ``R1``, ``R5``, ``R10``, ``R20``, ``mAP``, ``mINP`` (floats, percent), ``cmc`` (percent, ranks
    1..max_rank), ``num_valid_queries``, ``num_queries``, ``num_gallery`` (after appending), ``protocol``,
    ``metric`` and ``reranked``. With ``return_distances`` also ``distmat`` (the ranked (Q, G) float32 matrix)
    and ``gallery`` (the tracklets of its columns), e.g. for :func:`reid_runtime.visualize.save_ranked_lists`;
    drop both before writing the dict as JSON.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if isinstance(max_rank, bool) or not isinstance(max_rank, (int, np.integer)) or max_rank < RANKS[-1]:
        raise ValueError(f"max_rank must be an integer >= {RANKS[-1]} (R{RANKS[-1]} is reported), got {max_rank!r}")
    q_emb = _embedding_matrix(q_emb, "q_emb", query, "query")
    g_emb = _embedding_matrix(g_emb, "g_emb", gallery, "gallery")
    if q_emb.shape[1] != g_emb.shape[1]:
        raise ValueError(
            f"q_emb and g_emb must have the same embedding size, got {q_emb.shape[1]} and {g_emb.shape[1]}"
        )
    if protocol != "standard":
        g_emb, gallery = _with_queries_appended(q_emb, g_emb, query, gallery)

    distmat = pairwise_distance(q_emb, g_emb, metric=metric)
    if rerank:
        distmat = re_rank(
            distmat, pairwise_distance(q_emb, q_emb, metric=metric), pairwise_distance(g_emb, g_emb, metric=metric)
        )
    ranking = evaluate_ranking(
        distmat,
        np.array([t.pid for t in query], dtype=np.int64),
        np.array([t.pid for t in gallery], dtype=np.int64),
        np.array([t.camid for t in query], dtype=np.int64),
        np.array([t.camid for t in gallery], dtype=np.int64),
        max_rank=max_rank,
        protocol=_RANKING[protocol],
    )
    cmc = 100.0 * ranking["cmc"]
    result: dict[str, Any] = {f"R{r}": float(cmc[r - 1]) for r in RANKS}
    result.update(
        mAP=100.0 * ranking["mAP"],
        mINP=100.0 * ranking["mINP"],
        cmc=cmc.tolist(),
        num_valid_queries=ranking["num_valid_queries"],
        num_queries=ranking["num_queries"],
        num_gallery=len(gallery),
        protocol=protocol,
        metric=metric,
        reranked=bool(rerank),
    )
    if return_distances:
        result.update(distmat=distmat, gallery=list(gallery))
    return result


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    return str(value)


def _table(rows: Sequence[dict]) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, body cells and the context line items of a results table."""
    if not rows:
        raise ValueError("no result rows to format; expected one dict per sequence length")
    for i, row in enumerate(rows):
        missing = [k for k in (*SCORE_COLUMNS, "num_valid_queries", "num_queries") if k not in row]
        if missing:
            raise ValueError(f"result row {i} lacks {', '.join(missing)}; expected a dict returned by score()")
    shared, varying = [], []
    for key in CONTEXT_KEYS:
        values = [_cell(row.get(key)) for row in rows]
        if all(v == "-" for v in values):
            continue
        if len(set(values)) == 1:
            shared.append(f"{key}: {values[0]}")
        else:
            varying.append(key)
    header = ["seq_len", *SCORE_COLUMNS, "valid queries", *varying]
    body = [
        [
            _cell(row.get("seq_len")),
            *(f"{row[k]:.1f}" for k in SCORE_COLUMNS),
            f"{row['num_valid_queries']}/{row['num_queries']}",
            *(_cell(row.get(k)) for k in varying),
        ]
        for row in rows
    ]
    return header, body, shared


def format_results_table(rows: list[dict], title: str) -> str:
    """A plain-text table, one row per sequence length (STA Table 2 style), for a terminal or a log.

    Each row is a :func:`score` dict, optionally with ``seq_len`` and the context keys ``dataset``, ``model``,
    ``backend`` and ``sampling`` added by the caller. Context values shared by all rows are printed on one line
    under the table; those that differ become extra columns, so a table never hides a change of protocol.
    """
    header, body, shared = _table(rows)
    widths = [max(len(line[c]) for line in (header, *body)) for c in range(len(header))]
    lines = [title, "  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines.append("-" * len(lines[-1]))
    lines += ["  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in body]
    if shared:
        lines.append(" | ".join(shared))
    lines.append("R1..R20, mAP, mINP in %; results are comparable only under the same protocol.")
    return "\n".join(lines) + "\n"


def results_markdown(rows: list[dict], title: str | None = None) -> str:
    """The table of :func:`format_results_table` as GitHub Markdown (for READMEs and reports)."""
    header, body, shared = _table(rows)
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---:" for _ in header) + "|")
    lines += ["| " + " | ".join(line) + " |" for line in body]
    lines.append("")
    if shared:
        lines.append(" · ".join(shared) + "  ")
    lines.append("R1..R20, mAP, mINP in %.")
    return "\n".join(lines) + "\n"


def write_results_json(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` (e.g. ``{"rows": [...], ...}``) as indented JSON, atomically; numpy values become lists."""
    try:
        return write_json_atomic(path, payload)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{path}: results are not JSON serialisable ({err}); drop the 'gallery' tracklets that "
            "score(return_distances=True) adds"
        ) from err
