"""``reid embed``: embed the tracklets of a dataset split, a folder of tracklet folders or a MOT sequence (the options
of :func:`reid_runtime.services.embed.embed`)."""

from __future__ import annotations

from pathlib import Path

import click

from reid_runtime.cli import options
from reid_runtime.services.embed import MOT_SOURCES, SPLITS


@click.command()
@options.model_option(help="A checkpoint (.pt), model.onnx (full, or either file of a split pair), model.engine, "
                           "or a registry name (e.g. sta_resnet50: an untrained model).")
@options.out_option("Embeddings file (.npz) to write.", file=True, required=True)
@options.data_root_option(required=False, help="Dataset folder (with --dataset and --split).")
@options.dataset_option(default="mars")
@click.option("--split", "split_name", type=click.Choice(SPLITS), help="Which tracklets of the dataset.")
@options.protocol_option()
@options.split_id_option()
@click.option("--tracklets", type=options.EXISTING_DIR,
              help="Folder of tracklet folders (frames sorted by name; tid = folder name).")
@click.option("--mot", type=options.EXISTING_DIR,
              help="MOTChallenge sequence folder (img1/, gt/gt.txt or det/det.txt).")
@click.option("--source", type=click.Choice(MOT_SOURCES), default="gt", show_default=True,
              help="MOT boxes: gt/gt.txt or det/det.txt (with track ids).")
@click.option("--min-frames", type=click.IntRange(min=1), default=4, show_default=True,
              help="MOT: skip tracks with fewer boxes.")
@click.option("--camid", type=int, default=1, show_default=True, help="MOT: camera id stored for every track.")
@options.seq_lens_option("4", single=True)
@options.sampling_option()
@click.option("--max-clips", type=click.IntRange(min=1), default=None, help="dense: keep at most this many clips.")
@options.batch_sizes_option("16", single=True)
@options.backend_option()
@options.threads_option()
@click.option("--providers", default=None, help="onnxruntime providers in order, e.g. tensorrt,cuda,cpu.")
@options.strict_option()
@click.option("--chunk-size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Tracklets per persisted chunk (a rerun after a kill resumes from the last chunk).")
@options.progress_option()
@options.json_option()
def embed(model: str, out: Path, data_root: Path | None, dataset: str, split_name: str | None, protocol: str,
          split_id: int, tracklets: Path | None, mot: Path | None, source: str, min_frames: int, camid: int,
          seq_lens: tuple[int, ...], sampling: str, max_clips: int | None, batch_sizes: tuple[int, ...],
          backend: str, threads: int | None, providers: str | None, strict: bool, chunk_size: int,
          progress: bool | None, as_json: bool) -> None:
    """Embed tracklets into an .npz file (embeddings, pids, camids, tids, paths, meta); resumable after a kill.

    A rerun resumes from <out>.partial/ only with the same model content (sha256), input and settings; otherwise it
    starts over and says so. The file's meta records the model's fingerprint, which reid search checks.

    \b
    Examples:
      reid embed --model sta.onnx --data-root data/mars --dataset mars --split query --out q.npz
      reid embed --model sta.onnx --tracklets crops/ --out crops.npz
      reid embed --model sta.onnx --mot MOT17/train/MOT17-02-FRCNN --source gt --out mot02.npz
    """
    from reid_runtime.services.embed import embed as run_embed

    chosen = [name for name, value in (("--data-root", data_root), ("--tracklets", tracklets), ("--mot", mot))
              if value is not None]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one input: --data-root (with --split), --tracklets or --mot"
                               + (f"; got {' and '.join(chosen)}" if chosen else ""))
    if data_root is not None and split_name is None:
        raise click.UsageError("--data-root needs --split query, gallery or train")
    report = run_embed(
        model, out, data_root=data_root, dataset=dataset, split=split_name, protocol=protocol, split_id=split_id,
        tracklets=tracklets, mot=mot, source=source, min_frames=min_frames, camid=camid, seq_len=seq_lens[0],
        sampling=sampling, max_clips=max_clips, batch_size=batch_sizes[0], backend=backend, threads=threads,
        providers=[p.strip() for p in providers.split(",") if p.strip()] if providers else None, strict=strict,
        chunk_size=chunk_size, progress=options.show_progress(progress), log=options.make_echo(as_json),
    )
    if as_json:
        options.echo_json(report.to_dict())
