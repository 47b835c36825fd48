"""``reid search``: rank a gallery embeddings file for every query and write the top-k as JSON (the options of
:func:`reid_runtime.services.search.search`)."""

from __future__ import annotations

from pathlib import Path

import click

from reid_runtime.cli import options
from reid_runtime.metrics.distance import METRICS
from reid_runtime.search import ENGINES


@click.command()
@click.option("--query", "query_path", type=options.EXISTING_FILE, required=True,
              help="Query embeddings (.npz from reid embed).")
@click.option("--gallery", "gallery_path", type=options.EXISTING_FILE, required=True, help="Gallery embeddings (.npz).")
@options.out_option("results.json to write.", file=True, required=True)
@click.option("--topk", type=click.IntRange(min=1), default=10, show_default=True, help="Matches kept per query.")
@click.option("--metric", type=click.Choice(METRICS), default=None,
              help="Distance (default: the one the files' model was trained for).")
@click.option("--rerank", is_flag=True, help="k-reciprocal re-ranking (query + gallery up to 20000 items).")
@click.option("--exclude-same-camera", is_flag=True, help="Drop gallery items with the query's pid and camera.")
@click.option("--engine", type=click.Choice(ENGINES), default="auto", show_default=True,
              help="auto: faiss for galleries of 20000+ items when installed, numpy otherwise.")
@click.option("--allow-mixed-models", is_flag=True,
              help="Rank files embedded by different models (refused by default: their distances do not compare).")
@options.json_option()
def search(query_path: Path, gallery_path: Path, out: Path, topk: int, metric: str | None, rerank: bool,
           exclude_same_camera: bool, engine: str, allow_mixed_models: bool, as_json: bool) -> None:
    """Top-k gallery matches per query; R1 / R5 / R10 / mAP / mINP (%) when the files carry identities.

    Both files must come from one model (the fingerprint reid embed stores), unless --allow-mixed-models; --out
    may not be the query or gallery file.

    \b
    Examples:
      reid search --query q.npz --gallery g.npz --topk 10 --exclude-same-camera --out results.json
      reid search --query q.npz --gallery g.npz --out results.json --json
    """
    from reid_runtime.services.search import search as run_search

    report = run_search(query_path, gallery_path, out, topk=topk, metric=metric, rerank=rerank,
                        exclude_same_camera=exclude_same_camera, engine=engine,
                        allow_mixed_models=allow_mixed_models, log=options.make_echo(as_json))
    if as_json:
        options.echo_json(report.to_dict(with_results=False))
