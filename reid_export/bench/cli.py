"""``reid bench flops | formats | mixed | tradeoff``: the benchmarks that need torch (registered by
``reid_export.plugin``).

Thin commands: parse the shared options, call the benchmark, print its table, write its report through
:mod:`reid_runtime.bench.report`. torch and onnx are imported only when a command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from reid_runtime.cli import options
from reid_runtime.cli.bench import publish


def _log(line: str) -> None:
    click.echo(line, err=True)


def _format_names() -> list[str]:
    from reid_export.formats import FORMATS

    return list(FORMATS)


@click.command()
@options.model_option("A registry name (e.g. sta_resnet50, untrained) or a checkpoint; repeat for several.",
                      multiple=True)
@options.seq_lens_option("4")
@options.size_option(help="Frame size HxW of models built from a name [default: the model's own].")
@click.option("--onnx-check/--no-onnx-check", default=True, show_default=True,
              help="Export each model and recount Conv / Gemm / MatMul from the ONNX graph at B=1.")
@options.out_option("Write flops.json, flops.md (and flops.png, published vs counted, where it applies) here.")
@options.json_option()
@click.pass_context
def flops(ctx: click.Context, model: tuple[str, ...], seq_lens: tuple[int, ...], size: tuple[int, int] | None,
          onnx_check: bool, out: Path | None, as_json: bool) -> None:
    """Multiply-accumulates per clip: backbone, head, the head's attention, total, per frame.

    Convolutions and matmuls come from torch's FlopCounterMode (halved to MACs); the head's elementwise and
    reduction work (STA's parameter-free attention) from a second op counter. MACs, not FLOPs.

    \b
    Examples:
      reid bench flops --model sta_resnet50 --seq-lens 2,4,6,8 --size 256x128
      reid bench flops --model runs/demo/best.pt --no-onnx-check --out bench/
    """
    from reid_export.bench.flops import count_flops
    from reid_runtime.bench import plots

    report = count_flops(model, seq_lens, size, onnx_check, log=_log)
    publish(ctx, report, out, "flops", as_json, plot=plots.plot_flops if report.published() else None)


@click.command()
@options.model_option("A checkpoint (.pt) or a registry name (an untrained model) to export to every format.")
@click.option("--formats", "formats", type=options.NameListType(_format_names),
              default="onnx,onnx-fp16,onnx-int8,onnx-int8-cpu", show_default=True,
              help="Formats of the export table (reid export --help), comma-separated.")
@options.data_root_option(required=False, help="Dataset folder: adds mAP / R1 per format (give --dataset too).")
@options.dataset_option(required=False)
@options.seq_lens_option("4", single=True)
@options.threads_option()
@click.option("--calib", type=options.EXISTING_DIR, default=None, metavar="DIR",
              help="Person crops for INT8 calibration [default: synthetic crops at the model size].")
@click.option("--runs", type=click.IntRange(min=1), default=5, show_default=True,
              help="Timed calls per format at least.")
@click.option("--min-seconds", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Keep timing a format until this many seconds have passed.")
@options.out_option("Write formats.json and formats.md here.")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the exports (and synthetic crops) here [default: a temporary folder].")
@options.json_option()
@click.pass_context
def formats(ctx: click.Context, model: str, formats: tuple[str, ...], data_root: Path | None, dataset: str | None,
            seq_lens: tuple[int], threads: int | None, calib: Path | None, runs: int, min_seconds: float,
            out: Path | None, work: Path | None, as_json: bool) -> None:
    """Export to each format, verify it against PyTorch, time it and (with a dataset) score it: format x size x
    cosine x mAP x ms/tracklet x throughput vs PyTorch.

    \b
    Examples:
      reid bench formats --model runs/demo/best.pt --data-root data/synth_mars --dataset mars --out bench/
      reid bench formats --model sta_resnet50 --formats onnx,onnx-int8,tensorrt
    """
    from reid_export.bench.formats import bench_formats

    report = bench_formats(model, formats, data_root=data_root, dataset=dataset, seq_len=seq_lens[0],
                           threads=threads, calib=calib, work_dir=work, runs=runs, min_seconds=min_seconds, log=_log)
    publish(ctx, report, out, "formats", as_json)


@click.command()
@options.model_option("A checkpoint (.pt) or a registry name; exported here as a full graph and a split pair.")
@click.option("--tracklets", type=click.IntRange(min=1), default=24, show_default=True,
              help="Tracklets in the workload.")
@click.option("--cap", type=click.IntRange(min=2), default=64, show_default=True,
              help="Frames per tracklet at most (sampling 'all' up to this many).")
@options.batch_sizes_option("8", single=True, help="Tracklets per batch, in every strategy.")
@click.option("--pack-frames", type=click.IntRange(min=1), default=64, show_default=True,
              help="Frames per backbone call when packing.")
@click.option("--tracks-table", type=options.EXISTING_FILE, default=None,
              help="MARS tracks_test_info.mat to draw lengths from [default: the log-normal fitted to it].")
@options.threads_option()
@options.out_option("Write mixed.json, mixed.md and mixed.png (where matplotlib is installed) here.")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the exports here [default: a temporary folder].")
@options.json_option()
@click.pass_context
def mixed(ctx: click.Context, model: str, tracklets: int, cap: int, batch_sizes: tuple[int], pack_frames: int,
          tracks_table: Path | None, threads: int | None, out: Path | None, work: Path | None, as_json: bool) -> None:
    """Mixed-length workload: naive padding vs length bucketing vs frame packing, against the best fixed length.

    \b
    Examples:
      reid bench mixed --model runs/demo/best.pt --tracklets 24 --out bench/
      reid bench mixed --model sta_resnet50 --tracks-table mars-info/tracks_test_info.mat
    """
    from reid_export.bench.mixed import bench_mixed
    from reid_runtime.bench import plots

    report = bench_mixed(model, tracklets=tracklets, cap=cap, batch_size=batch_sizes[0], pack_frames=pack_frames,
                         tracks_table=tracks_table, threads=threads, work_dir=work, log=_log)
    publish(ctx, report, out, "mixed", as_json, plot=plots.plot_mixed)


@click.command()
@options.model_option("A registry name (untrained, at --size or its own size) or a checkpoint (.pt); repeat for "
                      "several: the first is the one the others are compared with.", multiple=True)
@options.size_option(help="Frame size HxW of models built from a name [default: the model's own].")
@options.seq_lens_option("4", single=True, help="Frames per clip T: the MACs per clip, the timed clip, the test clips.")
@click.option("--formats", "formats", type=options.NameListType(_format_names), default="onnx,onnx-int8-cpu",
              show_default=True, help="Formats to export, verify and time (reid export --help), comma-separated.")
@options.backends_option("auto,openvino")
@options.data_root_option(required=False, help="Dataset folder: adds mAP / R1 per format of a checkpoint (give "
                                               "--dataset too).")
@options.dataset_option(required=False)
@click.option("--calib", type=options.EXISTING_DIR, default=None, metavar="DIR",
              help="Person crops for INT8 calibration [default: synthetic crops at each model's size].")
@options.threads_option()
@click.option("--runs", type=click.IntRange(min=1), default=5, show_default=True,
              help="Timed calls per (model, format, backend) at least.")
@click.option("--min-seconds", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Keep timing each (model, format, backend) until this many seconds have passed.")
@options.out_option("Write tradeoff.json, tradeoff.md and tradeoff.png (where matplotlib is installed) here.")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the exports (and synthetic crops) here [default: a temporary folder].")
@options.json_option()
@click.pass_context
def tradeoff(ctx: click.Context, model: tuple[str, ...], size: tuple[int, int] | None, seq_lens: tuple[int],
             formats: tuple[str, ...], backends: tuple[str, ...], data_root: Path | None, dataset: str | None,
             calib: Path | None, threads: int | None, runs: int, min_seconds: float, out: Path | None,
             work: Path | None, as_json: bool) -> None:
    """Computation vs performance of models side by side: GMACs per clip and per frame, parameters, and per format
    and backend the file size, ms/clip, clips/s, speed vs the first model and (checkpoints with a dataset) mAP.

    Every (model, format, backend) is timed in one run (B=1, T frames, each in a fresh process). A format that
    fails to export or verify is a failed row with its reason; the others go on. An untrained registry model has
    no mAP.

    \b
    Examples:
      reid bench tradeoff --model sta_resnet50 --model sta_osnet_x1_0 --model sta_mobilenetv3_large --out bench/
      reid bench tradeoff --model runs/r50/best.pt --model runs/osnet/best.pt --data-root /data/mars --dataset mars
      reid bench tradeoff --model sta_tiny --model tp_tiny --size 64x32 --formats onnx --backends auto --runs 1
    """
    from reid_export.bench.tradeoff import bench_tradeoff
    from reid_runtime.bench import plots
    from reid_runtime.errors import ReidError

    report = bench_tradeoff(model, formats, size=size, seq_len=seq_lens[0], backends=backends, data_root=data_root,
                            dataset=dataset, calib=calib, threads=threads, runs=runs, min_seconds=min_seconds,
                            work_dir=work, log=_log)
    publish(ctx, report, out, "tradeoff", as_json, plot=plots.plot_tradeoff)
    if not any(row.ms_per_clip is not None for row in report.rows):
        raise ReidError("nothing was timed: every export or timing failed (the reasons are in the table above)")
