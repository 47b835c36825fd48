"""Rank a gallery embeddings file for every query: top-k matches, and scores (percent) when identities are known.

The job behind ``reid search`` and the demo's search stage. Skipped tracklets (NaN rows, see ``reid embed``) are left
out of both files and reported; the result is written atomically as JSON.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reid_runtime.embeddings_file import Embeddings, describe_fingerprint
from reid_runtime.errors import ReidError
from reid_runtime.services import Log, quiet
from reid_runtime.services.checks import positive_int, refuse_overwriting_inputs

SCORE_KEYS = ("R1", "R5", "R10", "mAP", "mINP")


@dataclass
class SearchReport:
    """The ranking of ``num_gallery`` gallery items for ``num_queries`` queries.

    ``scores`` (R1, R5, R10, mAP, mINP in percent, ``num_valid_queries``, ``num_queries``, ``protocol``) is None
    when the files carry no identities. ``results`` holds per query its tid, pid, camid, path and ``matches``
    (tid, pid, camid, path, distance), best first. ``left_out`` names the skipped (NaN) tracklets per file.
    """

    query: str
    gallery: str
    metric: str
    engine: str
    topk: int
    rerank: bool
    exclude_same_camera: bool
    num_queries: int
    num_gallery: int
    scores: dict[str, Any] | None
    results: list[dict[str, Any]] = field(default_factory=list)
    left_out: dict[str, list[str]] = field(default_factory=dict)
    out: Path | None = None

    def to_dict(self, with_results: bool = True) -> dict[str, Any]:
        """The content of the results file; ``with_results=False`` leaves out the per-query matches."""
        payload: dict[str, Any] = {
            "query": self.query, "gallery": self.gallery, "metric": self.metric, "engine": self.engine,
            "topk": self.topk, "rerank": self.rerank, "exclude_same_camera": self.exclude_same_camera,
            "num_queries": self.num_queries, "num_gallery": self.num_gallery, "left_out": self.left_out,
            "metrics": self.scores, "out": str(self.out) if self.out is not None else None,
        }
        if with_results:
            payload["results"] = self.results
        return payload

    def summary(self) -> str:
        """What was ranked and, when identities are known, the scores in one line."""
        lines = [f"ranked {self.num_gallery} gallery items for {self.num_queries} queries "
                 f"({self.metric}, {self.engine})"]
        if self.scores is not None:
            s = self.scores
            lines.append("  ".join(f"{k} {s[k]:.2f}" for k in SCORE_KEYS)
                         + f"  ({s['num_valid_queries']} of {s['num_queries']} queries valid, {s['protocol']} "
                           "protocol; scores in %)")
        return "\n".join(lines)


def search(
    query: str | os.PathLike[str] | Embeddings,
    gallery: str | os.PathLike[str] | Embeddings,
    out: str | os.PathLike[str] | None = None,
    *,
    topk: int = 10,
    metric: str | None = None,
    rerank: bool = False,
    exclude_same_camera: bool = False,
    engine: str = "auto",
    allow_mixed_models: bool = False,
    log: Log | None = None,
) -> SearchReport:
    """Top-``topk`` gallery matches for every query of two embeddings files (or loaded :class:`Embeddings`).

    ``metric`` defaults to the one the files' model was trained for; ``rerank`` ranks by k-reciprocal re-ranked
    distances; ``exclude_same_camera`` drops gallery items with the query's identity and camera; ``engine`` is auto,
    numpy or faiss (:func:`reid_runtime.search.search`). With ``out`` the report (with every query's matches) is
    written there as JSON, atomically (never over the query or gallery file). The files must come from one model
    (equal ``fingerprint`` in their meta), unless ``allow_mixed_models``; files written before fingerprints existed
    are accepted with a note. Raises :class:`ReidError` on bad input.
    """
    from reid_runtime.embeddings_file import load_embeddings
    from reid_runtime.io import write_json_atomic
    from reid_runtime.search import evaluate
    from reid_runtime.search import search as rank

    log = log or quiet
    topk = positive_int(topk, "topk")
    names = {"query": _name(query), "gallery": _name(gallery)}
    if out is not None:
        refuse_overwriting_inputs(out, {"the query file": _path(query), "the gallery file": _path(gallery)})
    sets = {key: value if isinstance(value, Embeddings) else load_embeddings(value)
            for key, value in (("query", query), ("gallery", gallery))}
    check_same_model(sets["query"], sets["gallery"], names["query"], names["gallery"], allow_mixed_models, log)
    left_out: dict[str, list[str]] = {}
    for key, part in sets.items():
        valid = part.valid()
        if not valid.all():
            left_out[key] = part.tids[~valid].tolist()
            log(f"{key}: leaving out {int((~valid).sum())} skipped tracklets (NaN rows)")
            sets[key] = part.subset(valid)
    q, g = sets["query"], sets["gallery"]
    result = rank(q, g, topk, metric, rerank=rerank, exclude_same_camera=exclude_same_camera, engine=engine)
    scores = evaluate(q, g, result.metric, distmat=result.distmat)
    rows = []
    for row, (indices, distances) in enumerate(zip(result.indices, result.distances)):
        matches = [{"tid": str(g.tids[i]), "pid": int(g.pids[i]), "camid": int(g.camids[i]),
                    "path": str(g.paths[i]), "distance": float(d)}
                   for i, d in zip(indices, distances) if i >= 0]
        rows.append({"tid": str(q.tids[row]), "pid": int(q.pids[row]), "camid": int(q.camids[row]),
                     "path": str(q.paths[row]), "matches": matches})
    report = SearchReport(query=names["query"], gallery=names["gallery"], metric=result.metric,
                          engine=result.engine, topk=topk, rerank=rerank, exclude_same_camera=exclude_same_camera,
                          num_queries=len(q), num_gallery=len(g), scores=scores, results=rows, left_out=left_out,
                          out=Path(out) if out is not None else None)
    log(report.summary())
    if out is not None:
        write_json_atomic(out, report.to_dict())
        log(f"wrote {out}")
    return report


def check_same_model(query: Embeddings, gallery: Embeddings, query_name: str, gallery_name: str,
                     allow_mixed: bool = False, log: Log = quiet) -> None:
    """Refuse to rank embeddings of two different models (their meta ``fingerprint`` ids differ) unless
    ``allow_mixed``; a file without a fingerprint (written before they existed) passes with a note on ``log``."""
    q, g = query.meta.get("fingerprint"), gallery.meta.get("fingerprint")
    missing = [name for name, value in ((query_name, q), (gallery_name, g))
               if not isinstance(value, dict) or not value.get("id")]
    if missing:
        log(f"note: {' and '.join(missing)} carr{'y' if len(missing) > 1 else 'ies'} no model fingerprint (written "
            "before reid embed recorded one); cannot check that both files come from one model")
        return
    if q["id"] == g["id"]:
        return
    line = (f"{query_name} (model {query.meta.get('model', '?')}, {describe_fingerprint(q)}) and {gallery_name} "
            f"(model {gallery.meta.get('model', '?')}, {describe_fingerprint(g)}) were embedded by different models")
    if not allow_mixed:
        raise ReidError(f"{line}; their distances are not comparable: embed both with one model, or pass "
                        "--allow-mixed-models (allow_mixed_models=True) to rank them anyway")
    log(f"warning: {line}; ranking them anyway (--allow-mixed-models)")


def _path(source: str | os.PathLike[str] | Embeddings) -> str | os.PathLike[str] | None:
    return None if isinstance(source, Embeddings) else source


def _name(source: str | os.PathLike[str] | Embeddings) -> str:
    if isinstance(source, Embeddings):
        return str(source.meta.get("input", "embeddings in memory"))
    return str(source)
