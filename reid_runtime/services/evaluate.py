"""Evaluate a model on a dataset: R1 / R5 / R10 / R20 / mAP / mINP (percent) per test clip length, under a protocol.

The job behind ``reid eval`` and the demo's evaluation stage. Tracklets that are both query and gallery items
(with-query, official, DukeMTMC) are embedded once per clip length; with ``out`` the report is written as
``eval.json`` and ``eval.md``, and with ``visualize`` ranked-list pictures (and STA attention overlays when the model
has per-frame terms) beside them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reid_runtime.data.sampling import TEST_MODES
from reid_runtime.errors import ReidError
from reid_runtime.services import Log, quiet
from reid_runtime.services.checks import one_of, optional_positive_int, positive_int, positive_ints
from reid_runtime.services.loading import as_model, model_label, model_name

if TYPE_CHECKING:
    from reid_runtime.data.tracklet import DatasetSplits, Tracklet
    from reid_runtime.model import ReidModel

CMC_RANKS_KEPT = 50  # eval.json keeps the CMC curve up to this rank


@dataclass
class EvalReport:
    """The scores of one evaluation: ``rows`` holds one dict per clip length (and per re-ranked run) with ``seq_len``,
    ``R1`` ... ``mINP`` in percent, ``cmc``, ``num_valid_queries``, ``num_queries`` and the settings."""

    rows: list[dict[str, Any]]
    model: str
    backend: str
    dataset: str
    protocol: str
    data_root: str = ""
    split_id: int = 0
    sampling: str = "dense"
    metric: str = "euclidean"
    model_info: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.dataset} ({self.protocol} protocol) - {model_name(self.model)} on {self.backend}"

    def row(self, seq_len: int, reranked: bool = False) -> dict[str, Any]:
        """The row of clip length ``seq_len`` (re-ranked or not)."""
        for row in self.rows:
            if row["seq_len"] == seq_len and bool(row.get("reranked")) == reranked:
                return row
        raise KeyError(f"no result for seq_len {seq_len}{' re-ranked' if reranked else ''}")

    def to_dict(self) -> dict[str, Any]:
        """The content of ``eval.json``: the settings, the dataset notes and the rows (CMC up to rank 50)."""
        return {
            "model": self.model,
            "model_info": self.model_info,
            "backend": self.backend,
            "dataset": self.dataset,
            "data_root": self.data_root,
            "protocol": self.protocol,
            "split_id": self.split_id,
            "sampling": self.sampling,
            "metric": self.metric,
            "notes": list(self.notes),
            "results": [{k: v for k, v in row.items() if k != "cmc"} | {"cmc": list(row["cmc"][:CMC_RANKS_KEPT])}
                        for row in self.rows],
            "files": [str(path) for path in self.files],
        }

    def table(self) -> str:
        """The rows as a plain-text table (one line per clip length) with the shared settings under it."""
        from reid_runtime.evaluation import format_results_table

        return format_results_table(self.rows, self.title)

    def markdown(self) -> str:
        """The table as GitHub Markdown (``eval.md``)."""
        from reid_runtime.evaluation import results_markdown

        return results_markdown(self.rows, self.title)


def evaluate(
    model: str | os.PathLike[str] | ReidModel,
    data_root: str | os.PathLike[str],
    dataset: str,
    *,
    protocol: str = "standard",
    split_id: int = 0,
    seq_lens: Sequence[int] = (4,),
    sampling: str = "dense",
    max_clips: int | None = None,
    batch_size: int = 16,
    rerank: bool = False,
    backend: str = "auto",
    threads: int | None = None,
    input_size: tuple[int, int] | None = None,
    progress: bool = False,
    out: str | os.PathLike[str] | None = None,
    visualize: bool = False,
    num_visualize: int = 6,
    log: Log | None = None,
) -> EvalReport:
    """Score ``model`` on the query / gallery of ``dataset`` at ``data_root``, once per clip length in ``seq_lens``.

    ``model`` is a checkpoint, an exported model, a registry name (an untrained model; ``input_size`` (H, W) sets its
    frame size) or a loaded ``ReidModel``; ``backend``, ``threads`` and ``input_size`` apply when it is loaded here.
    ``sampling`` / ``max_clips`` pick the test clips of a tracklet (their embeddings are averaged), ``batch_size``
    the clips per call. ``rerank`` adds a k-reciprocal re-ranked row per clip length. With ``out`` (a folder)
    ``eval.json`` and ``eval.md`` are written atomically; ``visualize`` adds ``num_visualize`` ranked lists and, for
    a model with per-frame STA terms, attention overlays (the last clip length's ranking). Human-readable lines go
    to ``log``. Raises :class:`ReidError` on bad input.
    """
    log = log or quiet
    lengths = positive_ints(seq_lens, "seq_lens")
    batch_size = positive_int(batch_size, "batch_size")
    num_visualize = positive_int(num_visualize, "num_visualize")
    max_clips = optional_positive_int(max_clips, "max_clips")
    one_of(sampling, TEST_MODES, "sampling")
    if visualize and out is None:
        raise ReidError("visualize needs out: a folder for the pictures")

    from reid_runtime.data.registry import load_dataset
    from reid_runtime.evaluation import score

    splits = load_dataset(dataset, data_root, protocol=protocol, split_id=split_id, attributes=False)
    loaded = as_model(model, backend=backend, threads=threads, input_size=input_size)
    label = model_label(model, loaded)
    log(loaded.describe())
    tracklets, q_rows, g_rows = _unique_tracklets(splits)

    rows: list[dict[str, Any]] = []
    last: dict[str, Any] = {}
    for length in lengths:
        emb = loaded.embed(tracklets, seq_len=length, sampling=sampling, batch_size=batch_size, progress=progress,
                           max_clips=max_clips)
        _check_finite(emb, tracklets)
        context = {"seq_len": length, "sampling": sampling, "backend": loaded.backend_name,
                   "model": model_name(label), "dataset": dataset}
        last = score(emb[q_rows], emb[g_rows], splits.query, splits.gallery, metric=loaded.metric,
                     protocol=protocol, return_distances=visualize)
        rows.append(context | {k: v for k, v in last.items() if k not in ("distmat", "gallery")})
        if rerank:
            reranked = score(emb[q_rows], emb[g_rows], splits.query, splits.gallery, metric=loaded.metric,
                             protocol=protocol, rerank=True)
            rows.append(context | reranked)

    report = EvalReport(
        rows=rows, model=label, backend=loaded.backend_name, dataset=dataset, protocol=protocol,
        data_root=str(data_root), split_id=split_id, sampling=sampling, metric=loaded.metric,
        model_info=dataclasses.asdict(loaded.info) if loaded.info is not None else None, notes=list(splits.notes),
    )
    log(report.table())
    if out is not None:
        _write(report, Path(out), loaded, splits, last if visualize else None, num_visualize, lengths[-1], log)
    return report


def _write(report: EvalReport, out: Path, model: ReidModel, splits: DatasetSplits, ranked: dict[str, Any] | None,
           count: int, seq_len: int, log: Log) -> None:
    """Pictures (when ``ranked`` holds the distances), then eval.md, then eval.json listing every file written."""
    from reid_runtime.evaluation import write_results_json
    from reid_runtime.io import write_text_atomic

    if ranked is not None:
        report.files += _pictures(model, splits, ranked, out, count, seq_len, log)
    report.files.append(write_text_atomic(out / "eval.md", report.markdown()))
    report.files.append(out / "eval.json")
    write_results_json(out / "eval.json", report.to_dict())
    log(f"Wrote {out / 'eval.json'} and {out / 'eval.md'}")


def _pictures(model: ReidModel, splits: DatasetSplits, ranked: dict[str, Any], out: Path, count: int, seq_len: int,
              log: Log) -> list[Path]:
    from reid_runtime.visualize import save_attention_overlays, save_ranked_lists

    picks = np.linspace(0, len(splits.query) - 1, num=min(count, len(splits.query))).round().astype(int).tolist()
    paths = save_ranked_lists(out / "ranked_lists", splits.query, ranked["gallery"], ranked["distmat"], picks)
    log(f"Wrote {len(paths)} ranked lists to {out / 'ranked_lists'}")
    if not (model.backend.has_frame_terms and model.info.aggregation == "sta"):
        log("No attention overlays: they need an STA checkpoint or a split STA export (per-frame scores).")
        return paths
    overlays = save_attention_overlays(out / "attention", model, splits.query, picks, max(seq_len, 8))
    log(f"Wrote {len(overlays)} attention overlays to {out / 'attention'}")
    return paths + overlays


def _unique_tracklets(splits: DatasetSplits) -> tuple[list[Tracklet], list[int], list[int]]:
    """The distinct query + gallery tracklets, and the rows of the query and of the gallery among them."""
    unique: dict[Any, Tracklet] = {}
    for tracklet in [*splits.query, *splits.gallery]:
        unique.setdefault(tracklet.key, tracklet)
    position = {key: i for i, key in enumerate(unique)}
    return list(unique.values()), [position[t.key] for t in splits.query], [position[t.key] for t in splits.gallery]


def _check_finite(emb: np.ndarray, tracklets: list[Tracklet]) -> None:
    bad = np.isnan(emb).any(axis=1)
    if bad.any():
        names = ", ".join(str(tracklets[i].frames[0]) for i in np.flatnonzero(bad)[:3])
        raise ReidError(f"{int(bad.sum())} tracklets could not be embedded (unreadable frames, e.g. in {names}); "
                        "evaluation needs every query and gallery tracklet")

