"""``reid checkpoint``: checkpoint maintenance; ``convert`` rewrites an old-format checkpoint in the current format
(a thin command over :func:`reid_train.engine.checkpoint.convert_checkpoint`; imports torch only when it runs)."""

from __future__ import annotations

from pathlib import Path

import click

from reid_runtime.cli import options


@click.group()
def checkpoint() -> None:
    """Checkpoint maintenance: convert a checkpoint of the old format to the current one.

    Checkpoints load with torch.load(weights_only=True): tensors and plain values only, so a file cannot run code
    when a command loads it. A checkpoint written before (format reid-toolkit-checkpoint/1, numpy objects inside) is
    refused by every command until it is converted, once, for a file you trust.

    \b
    Examples:
      reid checkpoint convert --model runs/old/last.pt --out runs/old/last.v2.pt --trust-this-file
    """


@checkpoint.command()
@options.model_option("The old-format checkpoint (reid-toolkit-checkpoint/1) to convert; it is kept unchanged.",
                      names=False)
@options.out_option("Where to write the converted checkpoint (must differ from --model).", file=True, required=True)
@click.option("--trust-this-file", "trust", is_flag=True,
              help="Required: you vouch for --model (you or your team wrote it). Converting rebuilds the numpy "
                   "objects of its pickle; anything else in it is refused even so.")
@options.json_option()
def convert(model: str, out: Path, trust: bool, as_json: bool) -> None:
    """Rewrite an old-format checkpoint so it loads with weights_only=True (RNG states as tensors and numbers).

    Only for a file you trust: pass --trust-this-file. Without it nothing is read. The original stays as it is.
    To resume an old run, convert its last.pt to a new name, then move that file over last.pt.

    \b
    Examples:
      reid checkpoint convert --model runs/old/last.pt --out runs/old/last.v2.pt --trust-this-file
      reid checkpoint convert --model best.pt --out best.v2.pt --trust-this-file --json
      reid checkpoint convert --model runs/old/last.pt --out last.v2.pt --trust-this-file && \\
          mv last.v2.pt runs/old/last.pt
    """
    from reid_train.engine.checkpoint import FORMAT, convert_checkpoint

    echo = options.make_echo(as_json)
    written = convert_checkpoint(model, out, trust=trust)
    echo(f"Converted {model} -> {written} (format {FORMAT}; loads with weights_only=True)")
    if as_json:
        options.echo_json({"model": str(model), "out": str(written), "format": FORMAT})
