"""``reid eval``: score a model on a dataset per test clip length (the options of
:func:`reid_runtime.services.evaluate.evaluate`)."""

from __future__ import annotations

from pathlib import Path

import click

from reid_runtime.cli import options


@click.command(name="eval")
@options.model_option()
@options.data_root_option()
@options.dataset_option()
@options.protocol_option()
@options.split_id_option()
@options.seq_lens_option("4", help="Frames per test clip T, comma-separated to sweep, e.g. 2,4,6,8 (STA Table 2).")
@options.sampling_option()
@click.option("--max-clips", type=click.IntRange(min=1), default=None,
              help="Cap on dense clips per tracklet (kept evenly spaced).")
@options.batch_sizes_option("16", single=True)
@click.option("--rerank", is_flag=True, help="Also k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3).")
@options.backend_option()
@options.threads_option()
@options.out_option("Write eval.json, eval.md (and pictures with --visualize) into this folder.")
@click.option("--visualize", is_flag=True, help="Ranked-list PNGs and STA attention overlays for a few queries.")
@click.option("--num-visualize", type=click.IntRange(min=1), default=6, show_default=True,
              help="Queries to draw with --visualize.")
@options.strict_option()
@options.progress_option()
@options.json_option()
def eval_command(model: str, data_root: Path, dataset: str, protocol: str, split_id: int, seq_lens: tuple[int, ...],
                 sampling: str, max_clips: int | None, batch_sizes: tuple[int, ...], rerank: bool, backend: str,
                 threads: int | None, out: Path | None, visualize: bool, num_visualize: int, strict: bool,
                 progress: bool | None, as_json: bool) -> None:
    """Evaluate a model: R1 / R5 / R10 / R20 / mAP / mINP (%) per test clip length, under a named protocol.

    A tracklet with a frame that cannot be decoded is skipped (it leaves the query set or the gallery) and reported,
    with the frame, in the output and in eval.json; the scores cover the rest. --strict makes it fatal (exit 2).

    \b
    Examples:
      reid eval --model runs/demo/best.pt --data-root data/synth_mars --dataset mars
      reid eval --model sta.onnx --data-root /data/mars --dataset mars --seq-lens 2,4,6,8 --out eval/
      reid eval --model sta.onnx --data-root /data/mars --dataset mars --protocol official --rerank --json
      reid eval --model runs/demo/best.pt --data-root data/synth_mars --dataset mars --visualize --out eval/
    """
    from reid_runtime.services.evaluate import evaluate

    if visualize and out is None:
        raise click.UsageError("--visualize needs --out DIR for the pictures")
    report = evaluate(model, data_root, dataset, protocol=protocol, split_id=split_id, seq_lens=seq_lens,
                      sampling=sampling, max_clips=max_clips, batch_size=batch_sizes[0], rerank=rerank,
                      backend=backend, threads=threads, progress=options.show_progress(progress), out=out,
                      visualize=visualize, num_visualize=num_visualize, strict=strict,
                      log=options.make_echo(as_json))
    if as_json:
        options.echo_json(report.to_dict())
