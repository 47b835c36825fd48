"""``reid bench``: the benchmark commands. ``latency``, ``seeds`` and ``ops`` are the base's own (numpy +
onnxruntime: they run on the edge install); ``flops``, ``formats``, ``mixed`` and ``tradeoff`` come from the installed
extras through the ``reid.bench`` registry and are listed as not installed where their extra is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from reid_runtime.cli import options
from reid_runtime.cli.lazy_group import LazyGroup
from reid_runtime.errors import ReidError
from reid_runtime.plugins import bench_commands


@click.group(cls=LazyGroup, specs=bench_commands)
def bench() -> None:
    """Benchmarks: latency / throughput / memory per backend, and what the installed extras add.

    \b
    Examples:
      reid bench latency --model sta.onnx --batch-sizes 1,8 --seq-lens 4,8 --out bench/
      reid bench latency --model sta.onnx --model sta_int8.onnx --model runs/demo/best.pt --out bench/
      reid bench flops --model sta_resnet50 --seq-lens 2,4,6,8 --size 256x128
      reid bench formats --model runs/demo/best.pt --data-root data/synth_mars --dataset mars
      reid bench mixed --model runs/demo/best.pt --tracklets 24
      reid bench ops --model sta_int8_cpu.onnx --backends onnxruntime,openvino --threads 2
    """


def publish(ctx: click.Context, report: Any, out: Path | None, stem: str, as_json: bool, plot: Any = None) -> None:
    """The end of every base benchmark command: record the command line, print the table, write ``out/<stem>.*``
    (and say which files, or why a picture was skipped) and, with ``--json``, print the report as JSON."""
    from reid_runtime.bench.report import write

    echo = options.make_echo(as_json)
    report.command = options.command_line(ctx)
    echo(report.table())
    if out is not None:
        written = write(report, out, stem, plot=plot)
        for note in written.skipped:
            echo(note)
        echo(f"Wrote {', '.join(str(f) for f in written.files)}")
    if as_json:
        options.echo_json(report.to_dict())


@click.command()
@options.model_option("A model to time: an exported file (.onnx, .engine), a checkpoint (.pt) or a registry name; "
                      "repeat --model to compare several side by side.", multiple=True)
@options.backends_option()
@options.batch_sizes_option("1")
@options.seq_lens_option("4")
@options.threads_option()
@click.option("--runs", type=click.IntRange(min=1), default=5, show_default=True,
              help="Timed calls per (B, T) at least (more until --min-seconds have passed, at most 100).")
@click.option("--warmup", type=click.IntRange(min=0), default=2, show_default=True,
              help="Untimed calls before the timing of each (B, T).")
@click.option("--min-seconds", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Keep timing a (B, T) until this many seconds have passed.")
@click.option("--rounds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Time every model this many times in rotated order; each row is its median round.")
@click.option("--peak", is_flag=True,
              help="Also measure this box's matrix-multiply peak (numpy, ONNX Runtime FP32 / INT8) before and after.")
@click.option("--macs", type=options.EXISTING_FILE, default=None, metavar="FLOPS_JSON",
              help="The flops.json of `reid bench flops` for the same models: adds achieved GFLOP/s (and % of "
                   "the --peak).")
@options.out_option("Write latency.json, latency.md and latency.png (where matplotlib is installed) here.")
@options.json_option()
@click.pass_context
def latency(ctx: click.Context, model: tuple[str, ...], backends: tuple[str, ...], batch_sizes: tuple[int, ...],
            seq_lens: tuple[int, ...], threads: int | None, runs: int, warmup: int, min_seconds: float, rounds: int,
            peak: bool, macs: Path | None, out: Path | None, as_json: bool) -> None:
    """Latency (p50 / p90 / p99), tracklets/s, frames/s and peak memory per model, backend and (B, T).

    One inference call on random frames already in memory is timed (model compute, no decoding), each model and
    backend in a fresh process; every row is compared with the first model's (throughput ratio, embedding
    cosine). A model that cannot run here (a checkpoint without reid-toolkit[train], an engine without TensorRT) is
    listed as skipped with the reason.

    \b
    Examples:
      reid bench latency --model sta.onnx
      reid bench latency --model sta.onnx --model sta_int8.onnx --batch-sizes 1,8 --seq-lens 4,8 --out bench/
      reid bench latency --model runs/demo/best.pt --model sta.onnx --rounds 3 --peak
    """
    from reid_runtime.bench import plots
    from reid_runtime.bench.latency import bench_latency, macs_from_flops

    if out is not None:
        from reid_runtime.services.checks import refuse_overwriting_inputs

        refuse_overwriting_inputs(out, [*(("the model", m) for m in model), ("the --macs file", macs)],
                                  inside=["latency.json", "latency.md", "latency.png"])
    report = bench_latency(list(model), backends, batch_sizes=batch_sizes, seq_lens=seq_lens, threads=threads,
                           runs=runs, warmup=warmup, min_seconds=min_seconds, rounds=rounds, measure_peak=peak,
                           macs=macs_from_flops(macs) if macs else None, log=lambda line: click.echo(line, err=True))
    publish(ctx, report, out, "latency", as_json, plot=plots.plot_latency)
    if not any(entry.status == "ok" for entry in report.entries):
        raise ReidError("nothing was timed: every model failed or was skipped (the reasons are in the table above)")


@click.command()
@click.option("--eval", "groups", multiple=True, required=True, metavar="NAME=EVAL_JSON[,EVAL_JSON...]",
              help="A variant and the eval.json files of its runs (one per seed); repeat for every variant.")
@options.seq_lens_option(None, single=True)
@options.out_option("Write seeds.json and seeds.md here.")
@options.json_option()
@click.pass_context
def seeds(ctx: click.Context, groups: tuple[str, ...], seq_lens: tuple[int] | None, out: Path | None,
          as_json: bool) -> None:
    """Mean ± std of mAP / R1 / R5 / R10 / mINP per variant over its runs (seeds): an ablation table.

    \b
    Examples:
      reid bench seeds --eval sta=runs/sta_s0/eval.json,runs/sta_s1/eval.json --eval tp=runs/tp_s0/eval.json
      reid bench seeds --eval avg=a0/eval.json,a1/eval.json,a2/eval.json --seq-lens 4 --out bench/ --json
    """
    from reid_runtime.bench.seeds import summarize_seeds

    parsed: dict[str, list[str]] = {}
    for item in groups:
        name, sep, files = item.partition("=")
        if not sep or not name or not files:
            raise click.BadParameter(f"{item!r}: expected NAME=EVAL_JSON[,EVAL_JSON...]", param_hint="--eval")
        parsed.setdefault(name, []).extend(f for f in files.split(",") if f)
    report = summarize_seeds(parsed, seq_lens[0] if seq_lens else None)
    publish(ctx, report, out, "seeds", as_json)


@click.command()
@options.model_option("An exported model file (.onnx) to profile; repeat --model to compare several.",
                      names=False, multiple=True)
@options.backends_option()
@options.batch_sizes_option("1", single=True)
@options.seq_lens_option("4", single=True)
@options.threads_option()
@click.option("--runs", type=click.IntRange(min=1), default=20, show_default=True, help="Timed (profiled) calls.")
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True,
              help="Calls before the timed ones, left out of the figures.")
@click.option("--top", type=click.IntRange(min=1), default=15, show_default=True,
              help="Operator kinds shown per model (the rest summed in one row; --json and ops.json have all).")
@options.out_option("Write ops.json and ops.md here.")
@options.json_option()
@click.pass_context
def ops(ctx: click.Context, model: tuple[str, ...], backends: tuple[str, ...], batch_sizes: tuple[int],
        seq_lens: tuple[int], threads: int | None, runs: int, warmup: int, top: int, out: Path | None,
        as_json: bool) -> None:
    """Time per operator type and kernel of one call, per model file and backend (onnxruntime, openvino).

    Shows where a model spends its time and what each layer ran on: on OpenVINO whether a convolution ran an I8
    kernel or fell back to float; on onnxruntime which ops were fused (QLinearConv, FusedConv). Node times come from
    the engine's own profiler; the call's wall time is given beside them.

    \b
    Examples:
      reid bench ops --model sta_int8_cpu.onnx --backends openvino --threads 2
      reid bench ops --model osnet_int8_cpu.onnx --model resnet50_int8_cpu.onnx --backends openvino --out bench/
    """
    from reid_runtime.bench.ops import bench_ops

    if out is not None:
        from reid_runtime.services.checks import refuse_overwriting_inputs

        refuse_overwriting_inputs(out, [("the model", m) for m in model], inside=["ops.json", "ops.md"])
    report = bench_ops(list(model), backends, batch=batch_sizes[0], seq_len=seq_lens[0], threads=threads, runs=runs,
                       warmup=warmup, top=top, log=lambda line: click.echo(line, err=True))
    publish(ctx, report, out, "ops", as_json)
    if not any(entry.status == "ok" for entry in report.entries):
        raise ReidError("nothing was profiled: " + "; ".join(entry.reason for entry in report.entries))
