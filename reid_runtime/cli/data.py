"""``reid data``: synthesize datasets in the real on-disk layouts and summarize dataset folders."""

from __future__ import annotations

import json
from pathlib import Path

import click

LAYOUTS = ("mars", "dukev")
DATASET_NAMES = ("mars", "dukev", "ilidsvid", "prid")
PROTOCOLS = ("standard", "with-query", "official")


def parse_size(value: str) -> tuple[int, int]:
    """'256x128' -> (256, 128)."""
    try:
        h, w = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"'{value}' is not HxW, e.g. 256x128") from None
    if h < 16 or w < 8:
        raise click.BadParameter(f"'{value}': frames must be at least 16x8 pixels")
    return h, w


@click.group()
def data() -> None:
    """Synthesize datasets in the real layouts and summarize dataset folders."""


@data.command()
@click.option("--layout", type=click.Choice(LAYOUTS), required=True, help="On-disk layout to write.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Dataset root to create.")
@click.option("--ids", type=click.IntRange(min=2), default=40, show_default=True,
              help="Identities in train and in test, each.")
@click.option("--cameras", type=click.IntRange(min=2), default=None, help="Cameras (default: 6 for mars, 8 for dukev).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--size", default="128x64", show_default=True, help="Frame size HxW (the real datasets use 256x128).")
def synth(layout: str, out: Path, ids: int, cameras: int | None, seed: int, size: str) -> None:
    """Write a synthetic dataset that the real readers cannot tell from the real thing.

    Person-like figures whose look follows the ID-relevant attributes, with per-frame walk cycles, per-camera light
    and view, and labelled occlusions / cuts / second persons; attribute CSV in the AITL layout.

    \b
    Examples:
      reid data synth --layout mars --out data/synth_mars
      reid data synth --layout dukev --out data/synth_duke --ids 60 --size 256x128 --seed 3
    """
    from reid_runtime.data.synth import SynthConfig, synthesize

    config = SynthConfig(layout=layout, ids=ids, cameras=cameras, seed=seed, size=parse_size(size))
    report = synthesize(config, out)
    click.echo(json.dumps(report, indent=2))
    click.echo(f"Wrote {layout} layout to {out}")


@data.command()
@click.option("--dataset", type=click.Choice(DATASET_NAMES), required=True)
@click.option("--data-root", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@click.option("--protocol", type=click.Choice(PROTOCOLS), default="standard", show_default=True,
              help="MARS gallery protocol: standard = test - query, with-query = + query, official = whole test set.")
@click.option("--split-id", type=click.IntRange(0, 9), default=0, show_default=True, help="iLIDS-VID / PRID2011 split.")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the summary rows as JSON.")
def summary(dataset: str, data_root: Path, protocol: str, split_id: int, json_out: Path | None) -> None:
    """Read a dataset folder with its real reader and print a summary table per split.

    \b
    Examples:
      reid data summary --dataset mars --data-root /data/mars
      reid data summary --dataset mars --data-root /data/mars --protocol with-query
    """
    from reid_runtime.data.registry import load_dataset
    from reid_runtime.data.summary import format_summary, summarize
    from reid_runtime.io import write_json_atomic

    splits = load_dataset(dataset, data_root, protocol=protocol, split_id=split_id)
    click.echo(format_summary(splits))
    if json_out is not None:
        write_json_atomic(json_out, {"dataset": dataset, "protocol": splits.protocol, "splits": summarize(splits)})
