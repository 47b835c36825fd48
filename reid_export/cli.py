"""``reid export`` and ``reid verify``: thin commands over :func:`reid_export.api.export` and
:func:`reid_export.api.verify`.

The ``--format`` choices, the format options, their checks and the formats table in the help all come from
:data:`reid_export.formats.FORMATS`. torch and onnx are imported only when a command runs, so ``--help`` and option
errors answer at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from reid_export.formats import FORMATS, MAX_ABS, MIN_COSINE, all_options, check_options, formats_table, input_kind
from reid_export.formats import owners as format_owners
from reid_runtime.cli import options


class ExportCommand(click.Command):
    """``reid export``, whose help ends with the formats table."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Formats"):
            formatter.write(formats_table(formatter.width - formatter.current_indent) + "\n")
        super().format_epilog(ctx, formatter)


def format_options(function):
    """Every option of the formats table once, its help saying which formats take it."""
    for option in reversed(list(all_options().values())):
        takers = format_owners(option.name)
        suffix = "" if len(takers) == len(FORMATS) else f" [{', '.join(takers)}]"
        function = option.click_option(suffix)(function)
    return function


@click.command(cls=ExportCommand)
@options.model_option(help="A checkpoint (.pt), a registry name (e.g. sta_resnet50: an untrained model, see --size) "
                           "or, for tensorrt / triton, an exported .onnx (triton: also .engine).")
@click.option("--format", "format_name", type=click.Choice(list(FORMATS)), default="onnx", show_default=True,
              help="Export format (table below).")
@options.out_option("Output file (onnx*: model.onnx, split: <stem>.backbone/.head.onnx beside it; tensorrt: the "
                    "engine) or folder (triton: the model repository).", file=None, required=True)
@format_options
@options.json_option()
def export(model: str, format_name: str, out: Path, as_json: bool, **values: Any) -> None:
    """Export a model to a deployment format in one command.

    Every ONNX export is verified against PyTorch at T in {1,2,3,4,7,8,16} x B in {1,2,5} (INT8: on held-out
    calibration clips) unless --no-verify; the verified lists go into the model metadata. Options a format does not
    take are refused.

    \b
    Examples:
      reid export --model runs/demo/best.pt --format onnx --out sta.onnx
      reid export --model runs/demo/best.pt --format onnx --out sta.onnx --split
      reid export --model runs/demo/best.pt --format onnx-fp16 --out sta_fp16.onnx
      reid export --model runs/demo/best.pt --format onnx-int8 --out sta_int8.onnx --calib data/synth_mars
      reid export --model runs/demo/best.pt --format onnx-int8-cpu --out sta_int8_cpu.onnx --calib data/synth_mars
      reid export --model sta_resnet50 --size 256x128 --format onnx --out sta_r50.onnx
      reid export --model runs/demo/best.pt --format tensorrt --out sta.engine --fp16
      reid export --model sta.onnx --format tensorrt --out sta.engine --profiles "1-32x1-4,1-32x5-8"
      reid export --model runs/demo/best.pt --format triton --out models --name sta
    """
    from reid_export.api import export as run_export

    echo = options.make_echo(as_json)
    given = {name: value for name, value in values.items() if value is not None and value is not False}
    check_options(format_name, given, kind=input_kind(model), cli=True)
    result = run_export(model, format_name, out, log=echo, **given)
    for line in result.lines():
        echo(line)
    if as_json:
        options.echo_json(result.to_dict())


@click.command()
@options.model_option(help="Exported ONNX: a full graph, or either file of a split export (its companion beside it).",
                      names=False)
@click.option("--reference", "reference", type=options.MODEL, required=True,
              help="What it was exported from: the checkpoint, or the registry name (an untrained model).")
@options.data_root_option(required=False, help="Dataset folder: also verify on its test tracklets (with --dataset).")
@options.dataset_option(required=False)
@options.seq_lens_option(default="1,2,3,4,7,8,16", help="Clip lengths T to check, comma-separated.")
@options.batch_sizes_option(default="1,2,5", help="Batch sizes B to check, comma-separated.")
@MAX_ABS.click_option()
@MIN_COSINE.click_option()
@options.json_option()
def verify(model: str, reference: str, data_root: Path | None, dataset: str | None, seq_lens: tuple[int, ...],
           batch_sizes: tuple[int, ...], max_abs: float | None, min_cosine: float | None, as_json: bool) -> None:
    """Check an exported model against PyTorch: max |diff| and min cosine per (source, B, T).

    PyTorch and ONNX Runtime (CPU) run the same random tracklets, and the dataset's test tracklets with --data-root
    and --dataset; the precision in the model metadata picks the default tolerance. Exits non-zero beyond it.

    \b
    Examples:
      reid verify --model sta.onnx --reference runs/demo/best.pt
      reid verify --model sta.backbone.onnx --reference runs/demo/best.pt --data-root data/synth_mars --dataset mars
      reid verify --model sta_int8.onnx --reference runs/demo/best.pt --data-root data/synth_mars --dataset mars --json
    """
    from reid_export.api import verify as run_verify
    from reid_export.verification import VerificationError

    echo = options.make_echo(as_json)
    report = run_verify(model, reference, data_root=data_root, dataset=dataset, seq_lens=seq_lens,
                        batch_sizes=batch_sizes, max_abs=max_abs, min_cosine=min_cosine)
    echo(report.table())
    echo(report.summary())
    if as_json:
        options.echo_json(report.to_dict())
    if not report.passed:
        raise VerificationError(f"{model}: does not match {reference} within {report.tolerance}")
