"""``reid probe``: how STA's per-frame region scores fall on frames with labelled events (the options of
:func:`reid_runtime.services.probe.attention_probe`)."""

from __future__ import annotations

from pathlib import Path

import click

from reid_runtime.cli import options
from reid_runtime.services.probe import DEFAULT_MIN_COVER, SPLITS


@click.command(name="probe")
@options.model_option("An STA checkpoint (.pt) or the backbone file of a split STA export: the probe reads its "
                      "per-frame region scores.")
@options.data_root_option()
@options.dataset_option()
@click.option("--events", type=options.EXISTING_FILE, default=None,
              help="Per-frame event labels [default: <data-root>/frame_events.csv, written by reid data synth].")
@click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True,
              help="Tracklets to probe (test = query + gallery).")
@options.protocol_option()
@options.split_id_option()
@options.seq_lens_option("4", single=True, help="Frames per clip T (the frames Eq. 4 normalises over).")
@options.sampling_option()
@click.option("--max-clips", type=click.IntRange(min=1), default=None,
              help="Cap on dense clips per tracklet (kept evenly spaced).")
@click.option("--min-cover", type=click.FloatRange(0, 1, min_open=True), default=DEFAULT_MIN_COVER,
              show_default=True, help="Fraction of a region's band an event box must cover to label the cell.")
@options.batch_sizes_option("16", single=True)
@options.backend_option()
@options.threads_option()
@options.out_option("Write probe.json and probe.md into this folder.")
@options.strict_option()
@options.progress_option()
@options.json_option()
def probe(model: str, data_root: Path, dataset: str, events: Path | None, split: str, protocol: str, split_id: int,
          seq_lens: tuple[int, ...], sampling: str, max_clips: int | None, min_cover: float,
          batch_sizes: tuple[int, ...], backend: str, threads: int | None, out: Path | None, strict: bool,
          progress: bool | None, as_json: bool) -> None:
    """Check where STA's attention goes: its normalised region scores on cells with labelled ID-irrelevant events
    (occlusions, cuts, second persons ...) against clean cells, and how often the selected frame is a labelled one,
    against chance.

    A (frame, region) cell is labelled when an event box of the labels file covers --min-cover of the region's
    horizontal band; only regions of clips holding both labelled and clean cells count. Needs per-frame STA scores:
    an STA checkpoint or a split export, not a full graph or a TP model (exit 2).

    \b
    Examples:
      reid probe --model runs/demo/best.pt --data-root data/synth_mars --dataset mars
      reid probe --model sta.backbone.onnx --data-root /data/mars --dataset mars --events labels.csv --out probe/
      reid probe --model runs/demo/best.pt --data-root data/synth_mars --dataset mars --max-clips 2 --json
    """
    from reid_runtime.services.probe import attention_probe

    report = attention_probe(model, data_root, dataset, events, split=split, seq_len=seq_lens[0], sampling=sampling,
                             max_clips=max_clips, min_cover=min_cover, protocol=protocol, split_id=split_id,
                             batch_size=batch_sizes[0], backend=backend, threads=threads,
                             progress=options.show_progress(progress), strict=strict, out=out,
                             log=options.make_echo(as_json))
    if as_json:
        options.echo_json(report.to_dict())
