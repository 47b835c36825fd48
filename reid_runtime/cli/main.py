"""Entry point of the ``reid`` command."""

from __future__ import annotations

import sys

import click

from reid_runtime import __version__
from reid_runtime.cli.lazy_group import LazyGroup
from reid_runtime.errors import ReidError

# name -> (module:attribute, one-line help). Modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("reid_runtime.cli.data:data", "Synthesize datasets in the real layouts and summarize dataset folders."),
    "train": ("reid_train.cli:train", "Train STA / TP / ASTA+AITL from a recipe (PK batches, resumable)."),
    "eval": ("reid_runtime.cli.eval:eval_command", "Evaluate a checkpoint or export: CMC / mAP / mINP per sequence length."),
    "export": ("reid_export.cli:export", "Export a checkpoint: ONNX (fp32/fp16/int8, split), verify, TensorRT, Triton."),
    "bench": ("reid_export.bench.cli:bench", "Benchmarks: MACs per clip, latency/throughput per backend, format table."),
    "demo": ("reid_export.demo.cli:demo", "Run the whole toolkit on synthetic data and write report.md (--fast: < 3 min)."),
    "embed": ("reid_runtime.cli.embed:embed", "Embed tracklets (dataset split, folders, MOT sequence) to an .npz file."),
    "search": ("reid_runtime.cli.search:search", "Rank a gallery .npz for each query .npz entry (top-k, re-ranking)."),
}


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)
@click.version_option(__version__, prog_name="reid")
def cli() -> None:
    """Video-based person re-identification toolkit.

    \b
    Examples:
      reid data synth --layout mars --out data/synth_mars
      reid data summary --dataset mars --data-root data/synth_mars
      reid train --config demo --data-root data/synth_mars --out runs/demo
      reid demo --fast
    """


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; toolkit errors print as one clear line instead of a traceback."""
    try:
        cli.main(args=argv, prog_name="reid", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ReidError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
