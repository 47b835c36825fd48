"""``reid train``: train a recipe (imports torch only when the command runs)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.option("--config", "recipe", required=True,
              help="Recipe name (sta_mars, sta_dukev, asta_aitl_mars, tp_mars, demo) or a YAML file.")
@click.option("--data-root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Dataset root in its real layout (sets data.root).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder (default runs/<recipe>).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe value, e.g. --set optim.epochs=20 --set data.p=8 (repeatable).")
@click.option("--resume", is_flag=True, help="Continue from <out>/last.pt (same result as an uninterrupted run).")
@click.option("--no-progress", is_flag=True, help="No progress bar (logs still go to metrics.jsonl).")
def train(recipe: str, data_root: Path | None, out: Path | None, overrides: tuple[str, ...], resume: bool,
          no_progress: bool) -> None:
    """Train STA, TP or ASTA+AITL with PK batches; checkpoints every epoch, Ctrl-C saves and stops.

    \b
    Examples:
      reid train --config demo --data-root data/synth_mars --out runs/demo
      reid train --config sta_mars --data-root /data/mars --set model.pretrained=resnet50-0676ba61.pth
      reid train --config sta_mars --data-root /data/mars --out runs/sta_mars --resume
      torchrun --nproc_per_node 2 -m reid_runtime.cli.main train --config sta_mars --data-root /data/mars
    """
    from reid_train.engine.config import load_config, resolve_recipe
    from reid_train.engine.trainer import Trainer

    settings = list(overrides)
    if data_root is not None:
        settings.append(f"data.root={data_root}")
    config = load_config(recipe, settings)
    out = out or Path("runs") / resolve_recipe(recipe).stem
    trainer = Trainer(config, out, resume=resume, progress=not no_progress)
    try:
        result = trainer.fit()
    finally:
        trainer.close()
    if "interrupted" in result:
        click.echo(f"Interrupted ({result['interrupted']}) at epoch {result['epoch'] + 1}, step {result['step']}; "
                   f"saved {result['checkpoint']}. Continue with the same command plus --resume.")
        raise SystemExit(130)
    if trainer.is_main:
        click.echo(json.dumps(result, indent=2))
        click.echo(f"Run folder: {out} (last.pt, best.pt, metrics.jsonl)")
