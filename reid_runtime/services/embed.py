"""Embed tracklets into an embeddings file (``.npz``): a dataset split, a folder of tracklet folders or a MOT sequence.

The job behind ``reid embed`` and the demo's embedding stage. It wraps
:func:`reid_runtime.embeddings_file.embed_to_file`, so a run killed half way resumes from its last persisted chunk
when rerun with the same settings. Tracklets with unreadable frames are skipped (NaN rows, listed in the report and
in the file's meta) unless ``strict``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reid_runtime import __version__
from reid_runtime.data.sampling import TEST_MODES
from reid_runtime.errors import ReidError
from reid_runtime.services import Log, quiet
from reid_runtime.services.checks import one_of, optional_positive_int, positive_int, refuse_overwriting_inputs
from reid_runtime.services.loading import as_model, model_label

if TYPE_CHECKING:
    from reid_runtime.embeddings_file import Record
    from reid_runtime.model import ReidModel

SPLITS = ("query", "gallery", "train")
MOT_SOURCES = ("gt", "det")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SHOWN_SKIPPED = 10  # skipped tracklets logged one per line; the rest are counted

Source = Callable[[list[int]], Iterable[tuple[int, Any]]]
MakeSource = Callable[[tuple[int, int]], Source]


@dataclass
class EmbedReport:
    """What ``embed`` wrote: ``count`` x ``dim`` embeddings in ``path``; ``skipped`` lists the tracklets left as NaN
    rows (``tid``, ``path``, ``error``)."""

    path: Path
    count: int
    dim: int
    metric: str
    model: str
    backend: str
    input: str
    seq_len: int
    sampling: str
    skipped: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "count": self.count, "dim": self.dim, "metric": self.metric,
                "model": self.model, "backend": self.backend, "input": self.input, "seq_len": self.seq_len,
                "sampling": self.sampling, "skipped": list(self.skipped)}


def embed(
    model: str | os.PathLike[str] | ReidModel,
    out: str | os.PathLike[str],
    *,
    data_root: str | os.PathLike[str] | None = None,
    dataset: str = "mars",
    split: str | None = None,
    protocol: str = "standard",
    split_id: int = 0,
    tracklets: str | os.PathLike[str] | None = None,
    mot: str | os.PathLike[str] | None = None,
    source: str = "gt",
    min_frames: int = 4,
    camid: int = 1,
    seq_len: int = 4,
    sampling: str = "dense",
    max_clips: int | None = None,
    batch_size: int = 16,
    backend: str = "auto",
    threads: int | None = None,
    providers: list[Any] | None = None,
    input_size: tuple[int, int] | None = None,
    strict: bool = False,
    chunk_size: int = 256,
    progress: bool = False,
    log: Log | None = None,
) -> EmbedReport:
    """Embed one input into the embeddings file ``out`` (written atomically; resumable after a kill).

    The input is exactly one of: ``data_root`` (``dataset``, ``split`` query / gallery / train, ``protocol``,
    ``split_id``); ``tracklets``, a folder of tracklet folders (frames sorted by name, tid = folder name); ``mot``, a
    MOTChallenge sequence (``source`` gt or det boxes, tracks under ``min_frames`` boxes skipped, ``camid`` stored
    for every track). ``model``: a file, a registry name (``input_size`` sets its frame size) or a loaded
    ``ReidModel``; ``backend``, ``threads``, ``providers`` apply when it is loaded here. ``seq_len``, ``sampling``,
    ``max_clips`` and ``batch_size`` are those of ``ReidModel.embed``; ``chunk_size`` tracklets are persisted at a
    time. A rerun resumes only with the same model content (sha256), data and settings (all but ``batch_size``,
    ``chunk_size``, ``threads``); otherwise it starts over, saying so on ``log``. The file's meta carries the
    model's ``fingerprint`` (``reid search`` compares them). Raises :class:`ReidError` on bad input (also an ``out``
    that is one of the inputs); ``strict`` also on an unreadable frame.
    """
    log = log or quiet
    chosen = [name for name, value in (("data_root", data_root), ("tracklets", tracklets), ("mot", mot))
              if value is not None]
    if len(chosen) != 1:
        raise ReidError("give exactly one input: data_root (with split), tracklets or mot"
                        + (f"; got {' and '.join(chosen)}" if chosen else ""))
    seq_len = positive_int(seq_len, "seq_len")
    batch_size = positive_int(batch_size, "batch_size")
    chunk_size = positive_int(chunk_size, "chunk_size")
    max_clips = optional_positive_int(max_clips, "max_clips")
    one_of(sampling, TEST_MODES, "sampling")
    out = Path(out)
    model_path = model if isinstance(model, (str, os.PathLike)) else getattr(model, "path", None)
    refuse_overwriting_inputs(out, {"the model": model_path, "the dataset folder": data_root,
                                    "the tracklets folder": tracklets, "the MOT sequence": mot},
                              also=[out.with_name(out.name + ".partial")])

    if data_root is not None:
        if split is None:
            raise ReidError(f"data_root needs split: one of {', '.join(SPLITS)}")
        records, make_source, described = dataset_input(Path(data_root), dataset, split, protocol, split_id)
    elif tracklets is not None:
        records, make_source, described = folder_input(Path(tracklets))
    else:
        records, make_source, described = mot_input(Path(mot), source, positive_int(min_frames, "min_frames"), camid)

    from reid_runtime.embeddings_file import embed_to_file, model_fingerprint

    loaded = as_model(model, backend=backend, threads=threads, providers=providers, input_size=input_size)
    label = model_label(model, loaded)
    log(loaded.describe())
    log(f"input:        {described}: {len(records)} tracklets")
    meta: dict[str, Any] = {
        "model": str(Path(label).resolve()) if Path(label).exists() else label,
        "model_info": dataclasses.asdict(loaded.info),
        "fingerprint": model_fingerprint(loaded),
        "metric": loaded.metric,
        "backend": loaded.backend_name,
        "seq_len": seq_len,
        "sampling": sampling,
        "max_clips": max_clips,
        "input": described,
        "toolkit_version": __version__,
    }
    if data_root is not None:
        meta.update(dataset=dataset, split=split, protocol=protocol, split_id=split_id)
    result = embed_to_file(loaded, records, make_source(loaded.input_size), out, meta, chunk_size=chunk_size,
                           progress=progress, log=log, seq_len=seq_len, sampling=sampling, batch_size=batch_size,
                           strict=strict, max_clips=max_clips)
    skipped = list(result.meta["errors"])
    for error in skipped[:SHOWN_SKIPPED]:
        log(f"skipped {error['tid']}: {error['error']}")
    if len(skipped) > SHOWN_SKIPPED:
        log(f"... and {len(skipped) - SHOWN_SKIPPED} more skipped tracklets (listed in the file's meta)")
    report = EmbedReport(path=Path(out), count=len(result), dim=int(result.embeddings.shape[1]),
                         metric=loaded.metric, model=label, backend=loaded.backend_name, input=described,
                         seq_len=seq_len, sampling=sampling, skipped=skipped)
    log(f"wrote {out}: {report.count} x {report.dim} embeddings"
        + (f", {len(skipped)} skipped (NaN rows)" if skipped else ""))
    return report


def _list_source(items: list[Any]) -> MakeSource:
    """``make_source`` of listed tracklets; ``model.embed`` decodes and resizes their frames, so ``size`` is unused."""
    return lambda size: lambda todo: ((i, items[i]) for i in todo)


def dataset_input(root: Path, dataset: str, split: str, protocol: str,
                  split_id: int) -> tuple[list[Record], MakeSource, str]:
    """The tracklets of one split of a dataset: records, their source and a description."""
    from reid_runtime.data.registry import load_dataset
    from reid_runtime.embeddings_file import Record

    one_of(split, SPLITS, "split")
    splits = load_dataset(dataset, root, protocol=protocol, split_id=split_id, attributes=False)
    chosen = getattr(splits, split)
    records = [Record(t.tid, t.pid, t.camid, t.frames[0] if t.frames else "") for t in chosen]
    return records, _list_source(chosen), f"{dataset} {split} ({protocol}) from {splits.root}"


def folder_input(root: Path) -> tuple[list[Record], MakeSource, str]:
    """One tracklet per sub-folder of ``root`` (frames sorted by name; tid = folder name, pid and camid unknown)."""
    from reid_runtime.embeddings_file import Record

    if not root.is_dir():
        raise ReidError(f"{root}: not a folder; expected a folder of tracklet folders")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise ReidError(f"{root}: no tracklet folders; expected one sub-folder of frames per tracklet")
    records, items = [], []
    for folder in folders:
        frames = sorted(str(p) for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not frames:
            raise ReidError(f"{folder}: tracklet folder holds no frames ({', '.join(IMAGE_SUFFIXES)})")
        records.append(Record(folder.name, -1, -1, str(folder)))
        items.append(frames)
    return records, _list_source(items), f"tracklet folders in {root}"


def mot_input(root: Path, source: str, min_frames: int, camid: int) -> tuple[list[Record], MakeSource, str]:
    """The tracks of a MOTChallenge sequence (tid ``<sequence>:<track>``, pid = track id), cropped as they end."""
    from reid_runtime.embeddings_file import Record
    from reid_runtime.mot import iter_track_crops, read_mot_sequence

    one_of(source, MOT_SOURCES, "MOT source")
    seq = read_mot_sequence(root, source=source, min_frames=min_frames)
    track_ids = list(seq.tracks)
    records = [Record(f"{seq.name}:{t}", t, camid, str(seq.frame_path(seq.tracks[t][0].frame))) for t in track_ids]
    position = {t: i for i, t in enumerate(track_ids)}

    def make_source(size: tuple[int, int]) -> Source:
        def source_fn(todo: list[int]) -> Iterable[tuple[int, Any]]:
            for track, crops in iter_track_crops(seq, [track_ids[i] for i in todo], size):
                yield position[track], crops
        return source_fn

    skipped = f", {seq.skipped_tracks} tracks under {min_frames} boxes skipped" if seq.skipped_tracks else ""
    return records, make_source, f"MOT sequence {seq.name} ({source}{skipped})"
