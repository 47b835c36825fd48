"""``reid search``: rank a gallery embeddings file for every query and write the top-k as JSON."""

from __future__ import annotations

from pathlib import Path

import click

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.option("--query", "query_path", type=_FILE, required=True, help="Query embeddings (.npz from reid embed).")
@click.option("--gallery", "gallery_path", type=_FILE, required=True, help="Gallery embeddings (.npz).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="results.json to write.")
@click.option("--topk", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--metric", type=click.Choice(("euclidean", "cosine")), default=None,
              help="Distance (default: the one the files' model was trained for).")
@click.option("--rerank", is_flag=True, help="k-reciprocal re-ranking (query + gallery up to 20000 items).")
@click.option("--exclude-same-camera", is_flag=True, help="Drop gallery items with the query's pid and camera.")
@click.option("--engine", type=click.Choice(("auto", "numpy", "faiss")), default="auto", show_default=True,
              help="auto: faiss for galleries of 20000+ items when installed, numpy otherwise.")
def search(query_path: Path, gallery_path: Path, out: Path, topk: int, metric: str | None, rerank: bool,
           exclude_same_camera: bool, engine: str) -> None:
    """Top-k gallery matches per query; prints R1 / mAP when the files carry identities.

    \b
    Example:
      reid search --query q.npz --gallery g.npz --topk 10 --exclude-same-camera --out results.json
    """
    from reid_runtime.embeddings_file import load_embeddings
    from reid_runtime.io import write_json_atomic
    from reid_runtime.search import evaluate
    from reid_runtime.search import search as run_search

    query, gallery = load_embeddings(query_path), load_embeddings(gallery_path)
    dropped = {}
    for name, part in (("query", query), ("gallery", gallery)):
        bad = ~part.valid()
        if bad.any():
            dropped[name] = part.tids[bad].tolist()
            click.echo(f"{name}: leaving out {int(bad.sum())} skipped tracklets (NaN rows)", err=True)
    query, gallery = query.subset(query.valid()), gallery.subset(gallery.valid())

    result = run_search(query, gallery, topk, metric, rerank=rerank, exclude_same_camera=exclude_same_camera,
                        engine=engine)
    scores = evaluate(query, gallery, result.metric, distmat=result.distmat)
    rows = []
    for q, (indices, distances) in enumerate(zip(result.indices, result.distances)):
        matches = [{"tid": str(gallery.tids[g]), "pid": int(gallery.pids[g]), "camid": int(gallery.camids[g]),
                    "path": str(gallery.paths[g]), "distance": float(d)}
                   for g, d in zip(indices, distances) if g >= 0]
        rows.append({"tid": str(query.tids[q]), "pid": int(query.pids[q]), "camid": int(query.camids[q]),
                     "path": str(query.paths[q]), "matches": matches})
    write_json_atomic(out, {
        "query": str(query_path), "gallery": str(gallery_path), "metric": result.metric, "engine": result.engine,
        "topk": topk, "rerank": rerank, "exclude_same_camera": exclude_same_camera,
        "left_out": dropped, "metrics": scores, "results": rows,
    })
    click.echo(f"ranked {len(gallery)} gallery items for {len(query)} queries ({result.metric}, {result.engine})")
    if scores is not None:
        click.echo(f"R1 {100 * scores['R1']:.2f}  R5 {100 * scores['R5']:.2f}  R10 {100 * scores['R10']:.2f}  "
                   f"mAP {100 * scores['mAP']:.2f}  mINP {100 * scores['mINP']:.2f}  "
                   f"({scores['num_valid_queries']} of {scores['num_queries']} queries valid, standard protocol)")
    click.echo(f"wrote {out}")
