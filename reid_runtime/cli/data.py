"""``reid data``: synthesize datasets in the real on-disk layouts and summarize dataset folders."""

from __future__ import annotations

from pathlib import Path

import click

from reid_runtime.cli import options

LAYOUTS = ("mars", "dukev")


@click.group()
def data() -> None:
    """Synthesize datasets in the real layouts and summarize dataset folders."""


@data.command()
@click.option("--layout", type=click.Choice(LAYOUTS), required=True, help="On-disk layout to write.")
@options.out_option("Dataset root to create.", required=True)
@click.option("--ids", type=click.IntRange(min=2), default=40, show_default=True,
              help="Identities in train and in test, each.")
@click.option("--cameras", type=click.IntRange(min=2), default=None, help="Cameras (default: 6 for mars, 8 for dukev).")
@click.option("--seed", type=int, default=0, show_default=True)
@options.size_option("128x64", help="Frame size HxW (the real datasets use 256x128).")
@options.json_option()
def synth(layout: str, out: Path, ids: int, cameras: int | None, seed: int, size: tuple[int, int],
          as_json: bool) -> None:
    """Write a synthetic dataset that the real readers cannot tell from the real thing.

    Person-like figures whose look follows the ID-relevant attributes, with per-frame walk cycles, per-camera light
    and view, and labelled occlusions (people, luggage, poles, cars, clutter) / cuts / second persons; attribute CSV
    in the AITL layout, and the box of every event in every frame in frame_events.csv (for reid probe).

    \b
    Examples:
      reid data synth --layout mars --out data/synth_mars
      reid data synth --layout dukev --out data/synth_duke --ids 60 --size 256x128 --seed 3 --json
    """
    from reid_runtime.data.synth import SynthConfig, synthesize

    config = SynthConfig(layout=layout, ids=ids, cameras=cameras, seed=seed, size=size)
    report = synthesize(config, out)
    counts = ", ".join(f"{value} {key.replace('_', ' ')}" for key, value in report["counts"].items())
    options.make_echo(as_json)(f"wrote the {layout} layout to {out} in {report['seconds']:.1f} s: {counts}")
    if as_json:
        options.echo_json(report)


@data.command()
@options.dataset_option()
@options.data_root_option()
@options.protocol_option()
@options.split_id_option()
@options.json_option()
def summary(dataset: str, data_root: Path, protocol: str, split_id: int, as_json: bool) -> None:
    """Read a dataset folder with its real reader and print a summary table per split.

    \b
    Examples:
      reid data summary --dataset mars --data-root /data/mars
      reid data summary --dataset mars --data-root /data/mars --protocol with-query --json
    """
    from reid_runtime.data.registry import load_dataset
    from reid_runtime.data.summary import format_summary, summarize

    splits = load_dataset(dataset, data_root, protocol=protocol, split_id=split_id)
    options.make_echo(as_json)(format_summary(splits))
    if as_json:
        options.echo_json({"dataset": dataset, "root": str(splits.root), "protocol": splits.protocol,
                           "split_id": split_id, "splits": summarize(splits), "notes": list(splits.notes)})
