"""``reid eval``: score a checkpoint or an exported model on a dataset, per test sequence length."""

from __future__ import annotations

from pathlib import Path

import click

from reid_runtime.cli.data import DATASET_NAMES, PROTOCOLS


def parse_int_list(value: str, name: str) -> list[int]:
    try:
        items = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{name} must be comma-separated integers, e.g. 2,4,6,8; got '{value}'") from None
    if not items or min(items) < 1:
        raise click.BadParameter(f"{name} needs positive integers, got '{value}'")
    return items


@click.command(name="eval")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="A training checkpoint (.pt, PyTorch backend) or an exported model (.onnx, .engine).")
@click.option("--data-root", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@click.option("--dataset", type=click.Choice(DATASET_NAMES), required=True)
@click.option("--protocol", type=click.Choice(PROTOCOLS), default="standard", show_default=True,
              help="MARS gallery protocol (see README); other datasets use standard.")
@click.option("--split-id", type=click.IntRange(0, 9), default=0, show_default=True, help="iLIDS-VID / PRID2011 split.")
@click.option("--seq-len", type=click.IntRange(min=1), default=4, show_default=True, help="Frames per test clip.")
@click.option("--seq-lens", default=None, help="Sweep several clip lengths, e.g. 2,4,6,8 (STA Table 2).")
@click.option("--sampling", type=click.Choice(["dense", "evenly", "all"]), default="dense", show_default=True,
              help="Test clips: dense = all frames in T-frame clips (features averaged), evenly = one clip.")
@click.option("--max-clips", type=click.IntRange(min=1), default=None, help="Cap on dense clips per tracklet (even).")
@click.option("--rerank", is_flag=True, help="Also k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3).")
@click.option("--backend", default="auto", show_default=True, help="auto, onnxruntime, tensorrt or torch.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Intra-op threads.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True, help="Clips per call.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write eval.json, eval.md (and pictures with --visualize) here.")
@click.option("--visualize", is_flag=True, help="Ranked-list PNGs and STA attention overlays for a few queries.")
@click.option("--num-visualize", type=click.IntRange(min=1), default=6, show_default=True)
def eval_command(model_path: Path, data_root: Path, dataset: str, protocol: str, split_id: int, seq_len: int,
                 seq_lens: str | None, sampling: str, max_clips: int | None, rerank: bool, backend: str,
                 threads: int | None, batch_size: int, out: Path | None, visualize: bool, num_visualize: int) -> None:
    """Evaluate a model: R1 / R5 / R10 / R20 / mAP / mINP per test sequence length, under a named protocol.

    \b
    Examples:
      reid eval --model runs/demo/last.pt --data-root data/synth_mars --dataset mars
      reid eval --model sta.onnx --data-root /data/mars --dataset mars --seq-lens 2,4,6,8 --out eval/
      reid eval --model sta.onnx --data-root /data/mars --dataset mars --protocol official --rerank
      reid eval --model runs/demo/last.pt --data-root data/synth_mars --dataset mars --visualize --out eval/
    """
    import numpy as np

    import reid_runtime
    from reid_runtime.data.registry import load_dataset
    from reid_runtime.evaluation import format_results_table, results_markdown, score, write_results_json
    from reid_runtime.io import write_text_atomic

    lengths = parse_int_list(seq_lens, "--seq-lens") if seq_lens else [seq_len]
    if visualize and out is None:
        raise click.UsageError("--visualize needs --out DIR for the pictures")
    model = reid_runtime.load(model_path, backend=backend, threads=threads)
    click.echo(f"model: {model.describe()}")
    splits = load_dataset(dataset, data_root, protocol=protocol, split_id=split_id, attributes=False)
    # Query tracklets that are also gallery items (with-query, official, Duke) are embedded once.
    unique: dict = {}
    for t in [*splits.query, *splits.gallery]:
        unique.setdefault(t.key, t)
    tracklets = list(unique.values())
    position = {key: i for i, key in enumerate(unique)}
    q_rows = [position[t.key] for t in splits.query]
    g_rows = [position[t.key] for t in splits.gallery]

    rows, last = [], None
    for length in lengths:
        emb = model.embed(tracklets, seq_len=length, sampling=sampling, batch_size=batch_size, progress=True,
                          max_clips=max_clips)
        bad = np.isnan(emb).any(axis=1)
        if bad.any():
            names = ", ".join(str(tracklets[i].frames[0]) for i in np.flatnonzero(bad)[:3])
            raise click.ClickException(f"{int(bad.sum())} tracklets could not be embedded (e.g. {names})")
        context = {"seq_len": length, "sampling": sampling, "backend": model.backend_name, "model": model_path.name,
                   "dataset": dataset}
        result = score(emb[q_rows], emb[g_rows], splits.query, splits.gallery, metric=model.metric,
                       protocol=protocol, return_distances=visualize)
        rows.append({**context, **{k: v for k, v in result.items() if k not in ("distmat", "gallery")}})
        if rerank:
            reranked = score(emb[q_rows], emb[g_rows], splits.query, splits.gallery, metric=model.metric,
                             protocol=protocol, rerank=True)
            rows.append({**context, **reranked})
        last = (emb, result)

    title = f"{dataset} ({protocol} protocol) - {model_path.name} on {model.backend_name}"
    click.echo(format_results_table(rows, title))
    if out is None:
        return
    payload = {"model": str(model_path), "model_info": model.info.__dict__ if model.info else None,
               "dataset": dataset, "data_root": str(data_root), "protocol": protocol, "notes": splits.notes,
               "results": [{k: v for k, v in r.items() if k != "cmc"} | {"cmc": list(r["cmc"][:50])} for r in rows]}
    write_results_json(out / "eval.json", payload)
    write_text_atomic(out / "eval.md", results_markdown(rows, title))
    click.echo(f"Wrote {out / 'eval.json'} and {out / 'eval.md'}")
    if visualize:
        _pictures(model, splits, last[1], out, num_visualize, lengths[-1])


def _pictures(model, splits, result: dict, out: Path, count: int, seq_len: int) -> None:
    import numpy as np

    from reid_runtime.data.frames import load_clip
    from reid_runtime.data.sampling import sample_test_clips
    from reid_runtime.io import write_atomic
    from reid_runtime.visualize import attention_overlay_image, save_ranked_lists

    picks = np.linspace(0, len(splits.query) - 1, num=min(count, len(splits.query))).round().astype(int)
    paths = save_ranked_lists(out / "ranked_lists", splits.query, result["gallery"], result["distmat"], picks)
    click.echo(f"Wrote {len(paths)} ranked lists to {out / 'ranked_lists'}")
    backend = model.backend
    if not (backend.has_frame_terms and model.info.aggregation == "sta"):
        click.echo("No attention overlays: they need an STA checkpoint or a split STA export (per-frame scores).")
        return
    folder = out / "attention"
    for q in picks:
        tracklet = splits.query[q]
        idx = sample_test_clips(len(tracklet), max(seq_len, 8), "evenly")[0]
        frames = load_clip([tracklet.frames[i] for i in idx], model.input_size)
        scores, _ = backend.run_backbone(frames.transpose(0, 3, 1, 2).astype(np.float32))
        scores = scores / np.maximum(scores.sum(axis=0, keepdims=True), 1e-12)
        image = attention_overlay_image(frames, scores)
        name = f"attention_q{q}_pid{tracklet.pid}_c{tracklet.camid}.png"
        write_atomic(folder / name, lambda f, im=image: im.save(f, format="PNG"))
    click.echo(f"Wrote {len(picks)} attention overlays to {folder}")
