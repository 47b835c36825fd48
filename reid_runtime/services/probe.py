"""The attention probe: where STA's per-frame region scores go on frames with labelled ID-irrelevant events.

STA (Fu et al., AAAI 2019) scores each of K horizontal regions of each frame of a clip, normalises the scores over the
clip's frames (Eq. 4) and takes each region from its top-scoring frame. The paper's claim is that this weighting
avoids occluded or otherwise corrupted regions. Given per-frame event boxes (``frame_events.csv``, see
:mod:`reid_runtime.data.frame_events`), the probe checks that claim on a dataset:

- a (frame, region) cell is **labelled** when an event box covers at least ``min_cover`` of the region's horizontal
  band of the image (band k = rows ``k/K .. (k+1)/K`` of the image height, the rows that block k of the feature map
  comes from), **clean** when no event box does;
- a **column** is one region of one clip (T cells); only columns holding both labelled and clean cells count, since
  only there can the scores prefer one over the other;
- per event kind and over all kinds: the mean normalised score of the labelled and of the clean cells of those
  columns against the uniform ``1/T``, and how often the column's selected (arg-max) frame is labelled against the
  chance rate (labelled cells / T, averaged over the columns).

A per-kind row counts as labelled the cells of that kind and as clean the cells without any event, over the columns
that hold both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reid_runtime.aggregation import sta_weights
from reid_runtime.data.frame_events import EVENT_KINDS, EVENTS_FILE, EventBox, read_frame_events
from reid_runtime.data.frames import FrameReadError
from reid_runtime.data.sampling import TEST_MODES, sample_test_clips
from reid_runtime.errors import ReidError
from reid_runtime.services import Log, quiet
from reid_runtime.services.checks import one_of, optional_positive_int, positive_int, refuse_overwriting_inputs
from reid_runtime.services.loading import as_model, model_label, model_name

if TYPE_CHECKING:
    from reid_runtime.data.tracklet import DatasetSplits, Tracklet
    from reid_runtime.model import ReidModel

SPLITS: tuple[str, ...] = ("test", "query", "gallery", "train")
DEFAULT_MIN_COVER = 0.3
ALL = "all"
_COLUMNS = (("event", "event", "{}"), ("columns", "columns", "{:d}"), ("tracklets", "tracklets", "{:d}"),
            ("labelled_cells", "labelled", "{:d}"), ("clean_cells", "clean", "{:d}"),
            ("labelled_mean", "S labelled", "{:.3f}"), ("clean_mean", "S clean", "{:.3f}"),
            ("uniform", "uniform", "{:.3f}"), ("selected_pct", "selected labelled %", "{:.1f}"),
            ("chance_pct", "chance %", "{:.1f}"))


@dataclass
class _Tally:
    """Running sums of one row over the columns that hold both labelled and clean cells."""

    columns: int = 0
    labelled_cells: int = 0
    clean_cells: int = 0
    labelled_sum: float = 0.0
    clean_sum: float = 0.0
    uniform_sum: float = 0.0
    selected: int = 0
    chance_sum: float = 0.0
    tracklets: set[int] = field(default_factory=set)

    def add(self, weights: np.ndarray, labelled: np.ndarray, clean: np.ndarray, tracklet: int) -> None:
        """One clip: ``weights`` (T, K) normalised over frames, ``labelled`` / ``clean`` (T, K) masks."""
        mixed = labelled.any(axis=0) & clean.any(axis=0)
        if not mixed.any():
            return
        frames = weights.shape[0]
        w, lab, cln = weights[:, mixed], labelled[:, mixed], clean[:, mixed]
        self.columns += int(mixed.sum())
        self.labelled_cells += int(lab.sum())
        self.clean_cells += int(cln.sum())
        self.labelled_sum += float(w[lab].sum())
        self.clean_sum += float(w[cln].sum())
        self.uniform_sum += float(mixed.sum()) / frames
        best = w.argmax(axis=0)  # the selected frame: the first maximum, as STA's fusion takes it
        self.selected += int(lab[best, np.arange(lab.shape[1])].sum())
        self.chance_sum += float(lab.sum()) / frames
        self.tracklets.add(tracklet)

    def row(self, event: str) -> dict[str, Any]:
        n = self.columns
        return {
            "event": event, "columns": n, "tracklets": len(self.tracklets), "labelled_cells": self.labelled_cells,
            "clean_cells": self.clean_cells,
            "labelled_mean": self.labelled_sum / self.labelled_cells if n else None,
            "clean_mean": self.clean_sum / self.clean_cells if n else None,
            "uniform": self.uniform_sum / n if n else None,
            "selected_pct": 100.0 * self.selected / n if n else None,
            "chance_pct": 100.0 * self.chance_sum / n if n else None,
        }


@dataclass
class ProbeReport:
    """What the probe measured: ``rows`` holds the row over all event kinds (``event == "all"``), then one per kind
    found in the probed frames, each with ``columns`` (regions of clips holding both labelled and clean cells),
    ``tracklets`` (with such a column), ``labelled_cells`` / ``clean_cells``, ``labelled_mean`` / ``clean_mean`` (mean
    Eq. 4 score of those cells), ``uniform`` (mean 1/T), ``selected_pct`` (columns whose selected frame is labelled,
    %) and ``chance_pct`` (the rate a uniformly random frame would reach, %); the means and rates are None without
    columns. ``skipped`` lists tracklets left out for an unreadable frame."""

    rows: list[dict[str, Any]]
    model: str
    backend: str
    dataset: str
    data_root: str
    events: str
    split: str
    seq_len: int
    sampling: str
    max_clips: int | None
    min_cover: float
    num_regions: int
    tracklets: int
    clips: int
    frames: int
    labelled_frames: int
    skipped: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def row(self, event: str = ALL) -> dict[str, Any]:
        """The row of ``event`` (``"all"``: every kind together)."""
        for row in self.rows:
            if row["event"] == event:
                return row
        raise KeyError(f"no row for event {event!r}; rows: {', '.join(r['event'] for r in self.rows)}")

    @property
    def title(self) -> str:
        return f"Attention probe - {model_name(self.model)} on {self.backend}, {self.dataset} {self.split}"

    def settings(self) -> str:
        """Two lines: the clips, and the cell rule."""
        clips = f"T={self.seq_len} {self.sampling}" + (f", at most {self.max_clips} clips" if self.max_clips else "")
        return (f"{self.tracklets} tracklets, {self.clips} clips ({clips}), {self.frames} frames of which "
                f"{self.labelled_frames} hold an event\nK={self.num_regions} regions; a cell is labelled when an "
                f"event box covers >= {100 * self.min_cover:g}% of its band")

    def to_dict(self) -> dict[str, Any]:
        """The content of ``probe.json``."""
        return {
            "model": self.model, "backend": self.backend, "dataset": self.dataset, "data_root": self.data_root,
            "events": self.events, "split": self.split, "seq_len": self.seq_len, "sampling": self.sampling,
            "max_clips": self.max_clips, "min_cover": self.min_cover, "num_regions": self.num_regions,
            "tracklets": self.tracklets, "clips": self.clips, "frames": self.frames,
            "labelled_frames": self.labelled_frames, "rows": [dict(row) for row in self.rows],
            "skipped": [dict(item) for item in self.skipped], "notes": list(self.notes),
            "files": [str(path) for path in self.files],
        }

    def _cells(self, row: dict[str, Any]) -> list[str]:
        return ["-" if row[key] is None else spec.format(row[key]) for key, _, spec in _COLUMNS]

    def table(self) -> str:
        """The rows as a plain-text table with the settings above and the reading below."""
        header = [title for _, title, _ in _COLUMNS]
        body = [self._cells(row) for row in self.rows]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
        lines = [self.title, self.settings()]
        for line in [header, *body]:
            lines.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                                   for i, (cell, w) in enumerate(zip(line, widths))))
        lines += [_READING, *self.notes]
        return "\n".join(lines) + "\n"

    def markdown(self) -> str:
        """The table as GitHub Markdown (``probe.md``)."""
        header = [title for _, title, _ in _COLUMNS]
        lines = [f"## {self.title}", "", self.settings().replace("\n", ";\n") + ".", "",
                 "| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
        lines += ["| " + " | ".join(self._cells(row)) + " |" for row in self.rows]
        lines += ["", _READING.replace("\n", " ")]
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


_READING = ("Columns: regions of clips holding labelled and clean cells. S: Eq. 4 score normalised over the clip's "
            "frames (uniform = 1/T).\nAttention that avoids the events puts S labelled below uniform and selects "
            "labelled frames less often than chance.")


def attention_probe(
    model: str | os.PathLike[str] | ReidModel,
    data_root: str | os.PathLike[str],
    dataset: str,
    events: str | os.PathLike[str] | None = None,
    *,
    split: str = "test",
    seq_len: int = 4,
    sampling: str = "dense",
    max_clips: int | None = None,
    min_cover: float = DEFAULT_MIN_COVER,
    protocol: str = "standard",
    split_id: int = 0,
    batch_size: int = 16,
    backend: str = "auto",
    threads: int | None = None,
    progress: bool = False,
    strict: bool = False,
    out: str | os.PathLike[str] | None = None,
    log: Log | None = None,
) -> ProbeReport:
    """Probe the STA scores of ``model`` on the ``split`` tracklets (``test`` = query + gallery, each once) of
    ``dataset`` at ``data_root`` against the per-frame event labels in ``events`` (default
    ``<data_root>/frame_events.csv``; image paths relative to ``data_root``).

    ``seq_len`` / ``sampling`` / ``max_clips`` pick the clips as ``reid eval`` does; ``min_cover`` (0..1] is the
    fraction of a region's band an event box must cover to label the cell. ``model`` needs per-frame STA scores: an
    STA checkpoint or a split STA export (a loaded ``ReidModel`` too). A tracklet with an unreadable frame is skipped
    and listed (``strict=True`` raises instead). With ``out`` (a folder) ``probe.json`` and ``probe.md`` are written.
    Raises :class:`ReidError` on bad input.
    """
    log = log or quiet
    seq_len = positive_int(seq_len, "seq_len")
    batch_size = positive_int(batch_size, "batch_size")
    max_clips = optional_positive_int(max_clips, "max_clips")
    one_of(sampling, TEST_MODES, "sampling")
    one_of(split, SPLITS, "split")
    if isinstance(min_cover, bool) or not isinstance(min_cover, (int, float)) or not 0 < min_cover <= 1:
        raise ReidError(f"min_cover must be a fraction in (0, 1], got {min_cover!r}")
    events_path = Path(events) if events is not None else Path(data_root) / EVENTS_FILE
    if out is not None:
        refuse_overwriting_inputs(out, {"the model": model if isinstance(model, (str, os.PathLike)) else None,
                                        "the dataset folder": data_root, "the events file": events_path},
                                  inside=["probe.json", "probe.md"])
    labels = read_frame_events(events_path)

    from reid_runtime.data.registry import load_dataset

    splits = load_dataset(dataset, data_root, protocol=protocol, split_id=split_id, attributes=False)
    tracklets = _split_tracklets(splits, split)
    if not tracklets:
        raise ReidError(f"{dataset} at {data_root} has no {split} tracklets to probe")
    by_frame = _by_frame(labels, Path(data_root))
    if labels and not any(_key(frame) in by_frame for t in tracklets for frame in t.frames):
        example = next(iter(labels))
        raise ReidError(f"{events_path}: none of its {len(labels)} labelled images is a frame of the {split} "
                        f"tracklets of {dataset} at {data_root}; image paths are relative to the dataset root "
                        f"(e.g. {example!r} -> {Path(data_root) / example})")

    loaded = as_model(model, backend=backend, threads=threads)
    label = model_label(model, loaded)
    if not (loaded.backend.has_frame_terms and loaded.info.aggregation == "sta"):
        raise ReidError(f"{label}: the attention probe needs per-frame STA scores, which this "
                        f"{loaded.info.architecture} model on {loaded.backend_name} does not give (aggregation "
                        f"{loaded.info.aggregation!r}, per-frame terms: {loaded.backend.has_frame_terms}); use an STA "
                        "checkpoint (.pt) or a split export (reid export --format onnx --split)")
    log(loaded.describe())

    tallies: dict[str, _Tally] = {ALL: _Tally()}
    counts = {"clips": 0, "frames": 0, "labelled_frames": 0, "num_regions": 0}
    skipped: list[dict[str, Any]] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tracklets), unit="tracklet", desc="probe", leave=False)
    try:
        for batch in _batches(tracklets, seq_len, sampling, max_clips, batch_size * seq_len):
            _run_batch(loaded, batch, by_frame, min_cover, batch_size * seq_len, tallies, counts, skipped, strict)
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()

    seen = set(tallies) - {ALL}  # every kind labelled in a probed clip has its tally
    ordered = [k for k in EVENT_KINDS if k in seen] + sorted(seen - set(EVENT_KINDS))
    rows = [tallies[ALL].row(ALL)] + [tallies[k].row(k) for k in ordered]
    report = ProbeReport(
        rows=rows, model=label, backend=loaded.backend_name, dataset=dataset, data_root=str(data_root),
        events=str(events_path), split=split, seq_len=seq_len, sampling=sampling, max_clips=max_clips,
        min_cover=float(min_cover), num_regions=counts["num_regions"], tracklets=len(tracklets) - len(skipped),
        clips=counts["clips"], frames=counts["frames"], labelled_frames=counts["labelled_frames"], skipped=skipped,
    )
    if skipped:
        report.notes.append(f"Skipped {len(skipped)} tracklets with unreadable frames (listed in probe.json).")
    idle = [row["event"] for row in rows[1:] if row["columns"] == 0]
    if idle and rows[0]["columns"]:
        report.notes.append(f"No column to compare for {', '.join(idle)}: no region of a clip they label has a clean "
                            "frame (e.g. a second person beside the whole tracklet).")
    if rows[0]["columns"] == 0:
        report.notes.append("No region of any clip holds both labelled and clean cells: nothing to compare "
                            "(no events in these frames, or events covering every frame).")
    log(report.table())
    if out is not None:
        _write(report, Path(out), log)
    return report


def _write(report: ProbeReport, out: Path, log: Log) -> None:
    from reid_runtime.io import write_json_atomic, write_text_atomic

    report.files = [write_text_atomic(out / "probe.md", report.markdown()), out / "probe.json"]
    write_json_atomic(out / "probe.json", report.to_dict())
    log(f"Wrote {out / 'probe.json'} and {out / 'probe.md'}")


def _split_tracklets(splits: DatasetSplits, split: str) -> list[Tracklet]:
    if split == "test":
        from reid_runtime.services.evaluate import unique_tracklets

        return unique_tracklets(splits)[0]
    return list(getattr(splits, split))


def _key(path: str | os.PathLike[str]) -> str:
    return os.path.normpath(os.path.abspath(path))


def _by_frame(labels: dict[str, tuple[EventBox, ...]], root: Path) -> dict[str, tuple[EventBox, ...]]:
    """The labels keyed by the absolute, normalised frame path (under the root as given and as resolved: some readers
    resolve links)."""
    bases = {os.path.abspath(root), os.path.realpath(root)}
    return {os.path.normpath(os.path.join(base, image)): boxes for base in bases for image, boxes in labels.items()}


def frame_cells(boxes: Sequence[EventBox], num_regions: int, min_cover: float) -> dict[str, np.ndarray]:
    """Per event kind, which of the ``num_regions`` bands of a frame its boxes label (a bool array ``(K,)``)."""
    cells: dict[str, np.ndarray] = {}
    for item in boxes:
        cover = np.asarray([item.band_cover(k / num_regions, (k + 1) / num_regions) for k in range(num_regions)])
        hit = cover >= min_cover - 1e-9  # boxes are written with 4 decimals
        cells[item.event] = cells.get(item.event, np.zeros(num_regions, bool)) | hit
    return cells


@dataclass
class _Job:
    index: int
    tracklet: Tracklet
    clips: np.ndarray   # (n, T) frame indices
    frames: np.ndarray  # the distinct frame indices of the clips, sorted


def _batches(tracklets: list[Tracklet], seq_len: int, sampling: str, max_clips: int | None,
             max_frames: int) -> Iterator[list[_Job]]:
    """Tracklets with their clips, grouped so a batch decodes about ``max_frames`` frames (at least one tracklet)."""
    batch: list[_Job] = []
    size = 0
    for index, tracklet in enumerate(tracklets):
        clips = sample_test_clips(len(tracklet), seq_len, sampling, max_clips)
        job = _Job(index, tracklet, clips, np.unique(clips))
        if batch and size + len(job.frames) > max_frames:
            yield batch
            batch, size = [], 0
        batch.append(job)
        size += len(job.frames)
    if batch:
        yield batch


def _run_batch(model: ReidModel, batch: list[_Job], by_frame: dict[str, tuple[EventBox, ...]], min_cover: float,
               max_frames: int, tallies: dict[str, _Tally], counts: dict[str, int], skipped: list[dict[str, Any]],
               strict: bool) -> None:
    from reid_runtime.model import backbone_terms, load_frames

    decoded, ready = [], []
    for job in batch:
        try:
            decoded.append(load_frames(job.tracklet.frames, job.frames, model.input_size))
        except FrameReadError as err:
            if strict:
                raise FrameReadError(f"tracklet {job.tracklet.tid}: {err}", err.path, err.reason) from err
            skipped.append({"tid": job.tracklet.tid, "pid": job.tracklet.pid, "camid": job.tracklet.camid,
                            "error": str(err)})
            continue
        ready.append(job)
    if not ready:
        return
    scores, _ = backbone_terms(model.backend, np.concatenate(decoded), max_frames)
    scores = np.asarray(scores, dtype=np.float64)
    num_regions = scores.shape[1]
    counts["num_regions"] = num_regions
    start = 0
    for job in ready:
        own = scores[start:start + len(job.frames)]
        start += len(job.frames)
        # per distinct frame: its labelled bands per kind
        cells = [frame_cells(by_frame.get(_key(job.tracklet.frames[f]), ()), num_regions, min_cover)
                 for f in job.frames]
        kinds = {kind for frame in cells for kind in frame}
        counts["frames"] += len(job.frames)
        counts["labelled_frames"] += sum(bool(frame) for frame in cells)
        positions = np.searchsorted(job.frames, job.clips)  # (n, T) rows of own / cells
        per_kind = {kind: np.stack([cell.get(kind, np.zeros(num_regions, bool)) for cell in cells]) for kind in kinds}
        labelled = np.zeros((len(job.frames), num_regions), bool)
        for mask in per_kind.values():
            labelled |= mask
        for clip in positions:
            counts["clips"] += 1
            raw = own[clip]
            weights = sta_weights(raw, axis=0)  # Eq. 4 over the clip's frames
            clean = ~labelled[clip]
            tallies[ALL].add(weights, labelled[clip], clean, job.index)
            for kind, mask in per_kind.items():
                tallies.setdefault(kind, _Tally()).add(weights, mask[clip], clean, job.index)
