"""``reid train``: a thin command over :func:`reid_train.engine.run.train` (imports torch only when it runs)."""

from __future__ import annotations

from pathlib import Path

import click

from reid_runtime.cli import options


@click.command()
@click.option("--config", "recipe", required=True,
              help="Recipe name (sta_mars, sta_dukev, asta_aitl_mars, tp_mars, demo) or a YAML file.")
@options.data_root_option(help="Dataset root in its real layout (sets data.root).")
@options.out_option("Run folder: last.pt, best.pt, metrics.jsonl, config.json.", required=True)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe value, e.g. --set optim.epochs=20 --set data.p=8 (repeatable).")
@click.option("--resume", is_flag=True,
              help="Continue the run in --out from its last.pt (same result as an uninterrupted run); refused if the "
                   "recipe or the training identities differ from the saved ones, unless --accept-changes.")
@click.option("--accept-changes", is_flag=True,
              help="With --resume: continue although the recipe or the data differ from the saved run (the "
                   "differences are listed).")
@click.option("--overwrite", is_flag=True,
              help="Discard the run already in --out (its last.pt, best.pt, metrics.jsonl, config.json) and start "
                   "again. Without it (or --resume) a folder that holds a run is refused.")
@options.progress_option()
@options.json_option()
def train(recipe: str, data_root: Path, out: Path, overrides: tuple[str, ...], resume: bool, accept_changes: bool,
          overwrite: bool, progress: bool | None, as_json: bool) -> None:
    """Train STA, TP or ASTA+AITL with PK batches; checkpoints every epoch, Ctrl-C saves and stops.

    The recipe is checked whole before any work. A run folder is never overwritten by mistake: one that holds a run
    needs --resume (continue it) or --overwrite (discard it).

    \b
    Examples:
      reid train --config demo --data-root data/synth_mars --out runs/demo
      reid train --config sta_mars --data-root /data/mars --out runs/sta_mars --set model.pretrained=resnet50.pth
      reid train --config sta_mars --data-root /data/mars --out runs/sta_mars --resume
      reid train --config demo --data-root data/synth_mars --out runs/demo --overwrite
      torchrun --nproc_per_node 2 -m reid_runtime.cli.main train --config sta_mars --data-root /data/mars \\
          --out runs/sta_mars
    """
    from reid_train.engine.run import train as run_training

    echo = options.make_echo(as_json)
    result = run_training(recipe, data_root, out, overrides=overrides, resume=resume, overwrite=overwrite,
                          accept_changes=accept_changes, progress=options.show_progress(progress), log=echo)
    if not result.is_main:
        return
    if result.interrupted:
        click.echo(f"Interrupted ({result.interrupted}) after {result.epochs} epochs, {result.iterations} "
                   f"iterations; saved {result.last}. Continue with the same command plus --resume.", err=True)
        if as_json:
            options.echo_json(result.to_dict())
        raise SystemExit(130)
    if as_json:
        options.echo_json(result.to_dict())
        return
    final = result.final
    scores = ", ".join(f"{key} {final[key]:.1f}" for key in ("R1", "R5", "mAP", "mINP") if key in final)
    echo(f"Trained {result.model}: {result.epochs_run} epochs, {result.iterations} iterations in "
         f"{result.seconds:.0f} s; final {scores}"
         + (f"; best mAP {result.best_map:.1f}" if result.best_map is not None else ""))
    echo(f"Run folder: {result.out} (last.pt, best.pt, metrics.jsonl, config.json)")
