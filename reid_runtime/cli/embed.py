"""``reid embed``: embed the tracklets of a dataset split, a folder of tracklet folders or a MOT sequence."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import click

from reid_runtime import __version__
from reid_runtime.data.sampling import TEST_MODES
from reid_runtime.errors import ReidError

DATASET_NAMES = ("mars", "dukev", "ilidsvid", "prid")
SPLITS = ("query", "gallery", "train")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command()
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="model.onnx (full, or either file of a split pair), model.engine, or a checkpoint .pt.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Embeddings file (.npz).")
@click.option("--data-root", type=_DIR, help="Dataset folder (with --dataset and --split).")
@click.option("--dataset", type=click.Choice(DATASET_NAMES), default="mars", show_default=True)
@click.option("--split", "split_name", type=click.Choice(SPLITS), help="Which tracklets of the dataset.")
@click.option("--protocol", default="standard", show_default=True, help="Gallery protocol (MARS: standard, "
              "with-query, official).")
@click.option("--split-id", type=click.IntRange(min=0), default=0, show_default=True,
              help="Train/test split of iLIDS-VID and PRID2011.")
@click.option("--tracklets", type=_DIR, help="Folder of tracklet folders (frames sorted by name; tid = folder name).")
@click.option("--mot", type=_DIR, help="MOTChallenge sequence folder (img1/, gt/gt.txt or det/det.txt).")
@click.option("--source", type=click.Choice(("gt", "det")), default="gt", show_default=True,
              help="MOT boxes: gt/gt.txt or det/det.txt (with track ids).")
@click.option("--min-frames", type=click.IntRange(min=1), default=4, show_default=True,
              help="MOT: skip tracks with fewer boxes.")
@click.option("--camid", type=int, default=1, show_default=True, help="MOT: camera id stored for every track.")
@click.option("--seq-len", type=click.IntRange(min=1), default=4, show_default=True, help="Frames per clip.")
@click.option("--sampling", type=click.Choice(TEST_MODES), default="dense", show_default=True,
              help="dense: all frames in clips of seq-len; evenly: one clip; all: one clip of every frame.")
@click.option("--max-clips", type=click.IntRange(min=1), default=None, help="dense: keep at most this many clips.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True, help="Clips per call.")
@click.option("--backend", type=click.Choice(("auto", "onnxruntime", "tensorrt", "torch")), default="auto",
              show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Intra-op threads of the backend.")
@click.option("--providers", default=None, help="onnxruntime providers in order, e.g. tensorrt,cuda,cpu.")
@click.option("--strict", is_flag=True, help="Stop at the first unreadable frame instead of skipping its tracklet.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Tracklets per persisted chunk (a rerun after a kill resumes from the last chunk).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
def embed(model_path: Path, out: Path, data_root: Path | None, dataset: str, split_name: str | None, protocol: str,
          split_id: int, tracklets: Path | None, mot: Path | None, source: str, min_frames: int, camid: int,
          seq_len: int, sampling: str, max_clips: int | None, batch_size: int, backend: str, threads: int | None,
          providers: str | None, strict: bool, chunk_size: int, progress: bool | None) -> None:
    """Embed tracklets into an .npz file (embeddings, pids, camids, tids, paths, meta); resumable after a kill.

    \b
    Examples:
      reid embed --model sta.onnx --data-root data/mars --dataset mars --split query --out q.npz
      reid embed --model sta.onnx --tracklets crops/ --out crops.npz
      reid embed --model sta.onnx --mot MOT17/train/MOT17-02-FRCNN --source gt --out mot02.npz
    """
    from reid_runtime.embeddings_file import embed_to_file
    from reid_runtime.model import load

    chosen = [name for name, value in (("--data-root", data_root), ("--tracklets", tracklets), ("--mot", mot))
              if value is not None]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one input: --data-root (with --split), --tracklets or --mot"
                               + (f"; got {' and '.join(chosen)}" if chosen else ""))
    if data_root is not None and split_name is None:
        raise click.UsageError("--data-root needs --split query, gallery or train")

    if data_root is not None:
        records, make_source, described = _dataset_input(data_root, dataset, split_name, protocol, split_id)
    elif tracklets is not None:
        records, make_source, described = _folder_input(tracklets)
    else:
        records, make_source, described = _mot_input(mot, source, min_frames, camid)
    model = load(model_path, backend=backend, threads=threads,
                 providers=[p.strip() for p in providers.split(",") if p.strip()] if providers else None)
    click.echo(model.describe())
    click.echo(f"input:        {described}: {len(records)} tracklets")

    meta: dict[str, Any] = {
        "model": str(model_path.resolve()),
        "model_info": dataclasses.asdict(model.info),
        "metric": model.metric,
        "backend": model.backend_name,
        "seq_len": seq_len,
        "sampling": sampling,
        "max_clips": max_clips,
        "input": described,
        "toolkit_version": __version__,
    }
    if data_root is not None:
        meta.update(dataset=dataset, split=split_name, protocol=protocol, split_id=split_id)
    show = sys.stderr.isatty() if progress is None else progress
    result = embed_to_file(model, records, make_source(model.input_size), out, meta, chunk_size=chunk_size,
                           progress=show, seq_len=seq_len, sampling=sampling, batch_size=batch_size, strict=strict,
                           max_clips=max_clips)
    skipped = result.meta["errors"]
    for error in skipped[:10]:
        click.echo(f"skipped {error['tid']}: {error['error']}", err=True)
    if len(skipped) > 10:
        click.echo(f"... and {len(skipped) - 10} more skipped tracklets (listed in the file's meta)", err=True)
    click.echo(f"wrote {out}: {len(result)} x {result.embeddings.shape[1]} embeddings"
               + (f", {len(skipped)} skipped (NaN rows)" if skipped else ""))


def _list_source(items: list[Any]):
    """``make_source`` of listed tracklets; ``model.embed`` decodes and resizes their frames, so ``size`` is unused."""
    return lambda size: lambda todo: ((i, items[i]) for i in todo)


def _dataset_input(root: Path, dataset: str, split: str, protocol: str, split_id: int):
    from reid_runtime.data.registry import load_dataset
    from reid_runtime.embeddings_file import Record

    splits = load_dataset(dataset, root, protocol=protocol, split_id=split_id, attributes=False)
    chosen = getattr(splits, split)
    records = [Record(t.tid, t.pid, t.camid, t.frames[0] if t.frames else "") for t in chosen]
    return records, _list_source(chosen), f"{dataset} {split} ({protocol}) from {splits.root}"


def _folder_input(root: Path):
    from reid_runtime.embeddings_file import Record

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


def _mot_input(root: Path, source: str, min_frames: int, camid: int):
    from reid_runtime.embeddings_file import Record
    from reid_runtime.mot import iter_track_crops, read_mot_sequence

    seq = read_mot_sequence(root, source=source, min_frames=min_frames)
    track_ids = list(seq.tracks)
    records = [Record(f"{seq.name}:{t}", t, camid, str(seq.frame_path(seq.tracks[t][0].frame))) for t in track_ids]
    position = {t: i for i, t in enumerate(track_ids)}

    def make_source(size: tuple[int, int]):
        def source_fn(todo: list[int]):
            for track, crops in iter_track_crops(seq, [track_ids[i] for i in todo], size):
                yield position[track], crops
        return source_fn

    skipped = f", {seq.skipped_tracks} tracks under {min_frames} boxes skipped" if seq.skipped_tracks else ""
    return records, make_source, f"MOT sequence {seq.name} ({source}{skipped})"
