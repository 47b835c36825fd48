"""Evaluate a model on a dataset: R1 / R5 / R10 / R20 / mAP / mINP (percent) per test clip length, under a protocol.

The job behind ``reid eval`` and the demo's evaluation stage. Tracklets that are both query and gallery items
(with-query, official, DukeMTMC) are embedded once per clip length; with ``out`` the report is written as
``eval.json`` and ``eval.md``, and with ``visualize`` ranked-list pictures (and STA attention overlays when the model
has per-frame terms) beside them.

A tracklet with a frame that cannot be decoded (missing, truncated, not an image, a decompression bomb; see
:mod:`reid_runtime.data.frames`) at any clip length is skipped: a skipped query leaves the query set, a skipped
gallery item leaves the gallery (both, when it is both), for every row alike, so the scores are exactly those of the
dataset without those tracklets. The report lists each one with the frame at fault (``skipped`` in ``eval.json``, a
note in ``eval.md``). ``strict`` makes the first unreadable frame fatal instead.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reid_runtime.data.frames import FrameReadError
from reid_runtime.data.sampling import TEST_MODES
from reid_runtime.errors import ReidError
from reid_runtime.services import Log, quiet
from reid_runtime.services.checks import (
    one_of,
    optional_positive_int,
    positive_int,
    positive_ints,
    refuse_overwriting_inputs,
)
from reid_runtime.services.loading import as_model, model_label, model_name

if TYPE_CHECKING:
    from reid_runtime.data.tracklet import DatasetSplits, Tracklet
    from reid_runtime.model import ReidModel

CMC_RANKS_KEPT = 50  # eval.json keeps the CMC curve up to this rank
SHOWN_SKIPPED = 10  # skipped tracklets logged one per line; the rest are counted (all of them are in eval.json)


@dataclass
class EvalReport:
    """The scores of one evaluation: ``rows`` holds one dict per clip length (and per re-ranked run) with ``seq_len``,
    ``R1`` ... ``mINP`` in percent, ``cmc``, ``num_valid_queries``, ``num_queries`` and the settings.

    ``skipped`` lists the tracklets left out because a frame could not be decoded: ``tid``, ``pid``, ``camid``,
    ``role`` (``query``, ``gallery`` or ``query+gallery``) and ``error`` (the frame's path and what is wrong with it);
    the rows score the remaining ``num_queries`` queries against the remaining gallery (``num_gallery``)."""

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
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def skipped_queries(self) -> int:
        return sum("query" in item["role"] for item in self.skipped)

    @property
    def skipped_gallery(self) -> int:
        return sum("gallery" in item["role"] for item in self.skipped)

    def skipped_line(self) -> str:
        """One line saying what was left out, or ``""`` when nothing was."""
        if not self.skipped:
            return ""
        return (f"Skipped {len(self.skipped)} tracklets with unreadable frames ({self.skipped_queries} left the "
                f"query set, {self.skipped_gallery} the gallery); the scores cover the rest.")

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
            "skipped": [dict(item) for item in self.skipped],
            "skipped_queries": self.skipped_queries,
            "skipped_gallery": self.skipped_gallery,
            "results": [{k: v for k, v in row.items() if k != "cmc"} | {"cmc": list(row["cmc"][:CMC_RANKS_KEPT])}
                        for row in self.rows],
            "files": [str(path) for path in self.files],
        }

    def table(self) -> str:
        """The rows as a plain-text table (one line per clip length) with the shared settings under it."""
        from reid_runtime.evaluation import format_results_table

        table = format_results_table(self.rows, self.title)
        return table + (self.skipped_line() + "\n" if self.skipped else "")

    def markdown(self) -> str:
        """The table as GitHub Markdown (``eval.md``)."""
        from reid_runtime.evaluation import results_markdown

        text = results_markdown(self.rows, self.title)
        if not self.skipped:
            return text
        lines = [f"- `{item['tid']}` ({item['role']}): {item['error']}" for item in self.skipped[:SHOWN_SKIPPED]]
        if len(self.skipped) > SHOWN_SKIPPED:
            lines.append(f"- ... and {len(self.skipped) - SHOWN_SKIPPED} more (all in eval.json)")
        return text + "\n" + self.skipped_line() + "\n\n" + "\n".join(lines) + "\n"


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
    strict: bool = False,
    log: Log | None = None,
) -> EvalReport:
    """Score ``model`` on the query / gallery of ``dataset`` at ``data_root``, once per clip length in ``seq_lens``.

    ``model`` is a checkpoint, an exported model, a registry name (an untrained model; ``input_size`` (H, W) sets its
    frame size) or a loaded ``ReidModel``; ``backend``, ``threads`` and ``input_size`` apply when it is loaded here.
    ``sampling`` / ``max_clips`` pick the test clips of a tracklet (their embeddings are averaged), ``batch_size``
    the clips per call. ``rerank`` adds a k-reciprocal re-ranked row per clip length. With ``out`` (a folder)
    ``eval.json`` and ``eval.md`` are written atomically; ``visualize`` adds ``num_visualize`` ranked lists and, for
    a model with per-frame STA terms, attention overlays (the last clip length's ranking). Human-readable lines go
    to ``log``. A tracklet with an unreadable frame is skipped and listed in ``EvalReport.skipped`` (the scores
    cover the rest); ``strict=True`` raises :class:`FrameReadError` at the first one instead. Raises
    :class:`ReidError` on bad input.
    """
    log = log or quiet
    lengths = positive_ints(seq_lens, "seq_lens")
    batch_size = positive_int(batch_size, "batch_size")
    num_visualize = positive_int(num_visualize, "num_visualize")
    max_clips = optional_positive_int(max_clips, "max_clips")
    one_of(sampling, TEST_MODES, "sampling")
    if visualize and out is None:
        raise ReidError("visualize needs out: a folder for the pictures")
    if out is not None:
        refuse_overwriting_inputs(out, {"the model": model if isinstance(model, (str, os.PathLike)) else None,
                                        "the dataset folder": data_root},
                                  inside=["eval.json", "eval.md", "ranked_lists", "attention"])

    from reid_runtime.data.registry import load_dataset
    from reid_runtime.evaluation import score

    splits = load_dataset(dataset, data_root, protocol=protocol, split_id=split_id, attributes=False)
    loaded = as_model(model, backend=backend, threads=threads, input_size=input_size)
    label = model_label(model, loaded)
    log(loaded.describe())
    tracklets, q_rows, g_rows = unique_tracklets(splits)

    embeddings: list[np.ndarray] = []
    failed: dict[int, str] = {}  # row in tracklets -> why it could not be embedded (first clip length that failed)
    for length in lengths:
        try:
            embeddings.append(loaded.embed(tracklets, seq_len=length, sampling=sampling, batch_size=batch_size,
                                           progress=progress, max_clips=max_clips, strict=strict))
        except FrameReadError as err:
            if not strict:
                raise
            origin = err.__cause__ if isinstance(err.__cause__, FrameReadError) else err  # embed adds the tracklet
            raise FrameReadError(f"{err} (strict: the first unreadable frame stops the evaluation)",
                                 err.path or origin.path, err.reason or origin.reason) from err
        for error in loaded.last_errors:
            failed.setdefault(error.index, error.error)
    skipped = _skipped(tracklets, q_rows, g_rows, failed)
    kept = _kept(splits, q_rows, g_rows, failed)
    for item in skipped[:SHOWN_SKIPPED]:
        log(f"skipped {item['role']} tracklet {item['tid']}: {item['error']}")
    if len(skipped) > SHOWN_SKIPPED:
        log(f"... and {len(skipped) - SHOWN_SKIPPED} more skipped tracklets (listed in eval.json with --out)")

    rows: list[dict[str, Any]] = []
    last: dict[str, Any] = {}
    for length, emb in zip(lengths, embeddings):
        q_emb, g_emb = emb[kept.q_rows], emb[kept.g_rows]
        _check_finite(emb, sorted({*kept.q_rows, *kept.g_rows}), tracklets, label)
        context = {"seq_len": length, "sampling": sampling, "backend": loaded.backend_name,
                   "model": model_name(label), "dataset": dataset}
        last = score(q_emb, g_emb, kept.splits.query, kept.splits.gallery, metric=loaded.metric,
                     protocol=protocol, return_distances=visualize)
        rows.append(context | {k: v for k, v in last.items() if k not in ("distmat", "gallery")})
        if rerank:
            reranked = score(q_emb, g_emb, kept.splits.query, kept.splits.gallery, metric=loaded.metric,
                             protocol=protocol, rerank=True)
            rows.append(context | reranked)

    report = EvalReport(
        rows=rows, model=label, backend=loaded.backend_name, dataset=dataset, protocol=protocol,
        data_root=str(data_root), split_id=split_id, sampling=sampling, metric=loaded.metric,
        model_info=dataclasses.asdict(loaded.info) if loaded.info is not None else None, notes=list(splits.notes),
        skipped=skipped,
    )
    if skipped:
        report.notes.append(report.skipped_line())
    log(report.table())
    if out is not None:
        _write(report, Path(out), loaded, kept.splits, last if visualize else None, num_visualize, lengths[-1], log,
               strict)
    return report


def _write(report: EvalReport, out: Path, model: ReidModel, splits: DatasetSplits, ranked: dict[str, Any] | None,
           count: int, seq_len: int, log: Log, strict: bool = False) -> None:
    """Pictures (when ``ranked`` holds the distances), then eval.md, then eval.json listing every file written."""
    from reid_runtime.evaluation import write_results_json
    from reid_runtime.io import write_text_atomic

    if ranked is not None:
        try:
            report.files += _pictures(model, splits, ranked, out, count, seq_len, log)
        except FrameReadError as err:  # a frame the test clips did not use; the scores stand, the pictures stop
            if strict:
                raise
            report.notes.append(f"Pictures stopped at an unreadable frame: {err}")
            log(report.notes[-1])
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


def unique_tracklets(splits: DatasetSplits) -> tuple[list[Tracklet], list[int], list[int]]:
    """The distinct query + gallery tracklets, and the rows of the query and of the gallery among them."""
    unique: dict[Any, Tracklet] = {}
    for tracklet in [*splits.query, *splits.gallery]:
        unique.setdefault(tracklet.key, tracklet)
    position = {key: i for i, key in enumerate(unique)}
    return list(unique.values()), [position[t.key] for t in splits.query], [position[t.key] for t in splits.gallery]


@dataclass
class _Kept:
    """The splits without the skipped tracklets, and the rows of their queries and gallery items in the embeddings."""

    splits: DatasetSplits
    q_rows: list[int]
    g_rows: list[int]


def _kept(splits: DatasetSplits, q_rows: list[int], g_rows: list[int], failed: dict[int, str]) -> _Kept:
    """Queries and gallery items whose tracklet was embedded; raises when a side is left empty."""
    query = [(t, row) for t, row in zip(splits.query, q_rows) if row not in failed]
    gallery = [(t, row) for t, row in zip(splits.gallery, g_rows) if row not in failed]
    for name, items, total in (("query", query, len(splits.query)), ("gallery", gallery, len(splits.gallery))):
        if total and not items:
            example = next(iter(failed.values()))
            raise ReidError(f"all {total} {name} tracklets have unreadable frames, nothing left to score "
                            f"(e.g. {example})")
    kept = dataclasses.replace(splits, query=[t for t, _ in query], gallery=[t for t, _ in gallery])
    return _Kept(kept, [row for _, row in query], [row for _, row in gallery])


def _skipped(tracklets: list[Tracklet], q_rows: list[int], g_rows: list[int],
             failed: dict[int, str]) -> list[dict[str, Any]]:
    """One entry per skipped tracklet: its ids, whether it was a query and / or a gallery item, and the error."""
    queries, gallery = set(q_rows), set(g_rows)
    items = []
    for row in sorted(failed):
        tracklet = tracklets[row]
        role = "+".join(name for name, rows in (("query", queries), ("gallery", gallery)) if row in rows)
        items.append({"tid": tracklet.tid, "pid": tracklet.pid, "camid": tracklet.camid, "role": role,
                      "error": failed[row]})
    return items


def _check_finite(emb: np.ndarray, rows: list[int], tracklets: list[Tracklet], model: str) -> None:
    """Embeddings of the scored tracklets must be finite: NaN or inf there is the model's fault, not the data's."""
    bad = [row for row in rows if not np.isfinite(emb[row]).all()]
    if bad:
        names = ", ".join(tracklets[row].tid for row in bad[:3])
        raise ReidError(f"{model}: the model produced NaN or infinite embeddings for {len(bad)} tracklets "
                        f"(tid {names}); the model file is broken or numerically unstable")

