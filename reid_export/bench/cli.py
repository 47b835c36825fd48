"""``reid bench``: MACs per clip, latency per backend, the export-format table and the mixed-length workload.

torch, onnx and onnxruntime are imported only when a command runs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click


def _ints(value: str, name: str) -> list[int]:
    try:
        items = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{name} takes comma-separated integers, e.g. 2,4,8; got '{value}'") from None
    if not items or min(items) < 1:
        raise click.BadParameter(f"{name} takes positive integers, got '{value}'")
    return items


def _size(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    from reid_export.bench.flops import parse_size

    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _command(ctx: click.Context) -> str:
    """The command line that reproduces this run (every option spelled out)."""
    parts = [ctx.command_path if ctx.command_path.startswith("reid") else f"reid {ctx.command_path}"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if value is None or value is False or value == ():
            continue
        flag = param.opts[0]
        if value is True:
            parts.append(flag)
        else:
            for item in value if isinstance(value, tuple) else (value,):
                parts.append(f"{flag} {item}")
    return " ".join(parts)


def _quiet_exporter() -> None:
    # The dynamo exporter logs one warning per torchvision op it cannot register; torchvision is not a dependency.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)


def write_result(out: Path, stem: str, title: str, payload: dict, table_md: str, notes: list[str]) -> list[Path]:
    """``<stem>.json`` (payload) and ``<stem>.md`` (title, command, machine, table, notes) in ``out``."""
    from reid_export.bench.peak import machine_markdown
    from reid_runtime.io import write_json_atomic, write_text_atomic

    lines = [f"# {title}", "", f"Command: `{payload['command']}`", "", machine_markdown(payload["machine"]), "",
             table_md, ""]
    if notes:
        lines += ["Notes:", *[f"- {note}" for note in notes], ""]
    return [write_json_atomic(out / f"{stem}.json", payload), write_text_atomic(out / f"{stem}.md", "\n".join(lines))]


@click.group()
def bench() -> None:
    """Benchmarks: cost (MACs), latency and throughput per backend, the export-format table.

    \b
    Examples:
      reid bench flops --model sta_resnet50 --seq-lens 2,4,6,8 --size 256x128
      reid bench latency --model runs/sta/best.pt --backends torch,onnxruntime,onnxruntime-int8 --seq 4,8
      reid bench formats --checkpoint runs/sta/best.pt --data-root data/synth_mars --dataset mars
      reid bench mixed --checkpoint runs/sta/best.pt --tracklets 24
    """


@bench.command()
@click.option("--model", "models", multiple=True, required=True,
              help="Model name (e.g. sta_resnet50, random init) or checkpoint; repeat for several.")
@click.option("--seq-lens", default="4", show_default=True, help="Frames per clip, comma-separated.")
@click.option("--size", default=None, help="Input HxW for model names, e.g. 256x128 [default: the model's].")
@click.option("--onnx-check/--no-onnx-check", default=True, show_default=True,
              help="Export each model and recount Conv/Gemm/MatMul from the ONNX graph at B=1.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write flops.json and flops.md here.")
@click.pass_context
def flops(ctx: click.Context, models: tuple[str, ...], seq_lens: str, size: str | None, onnx_check: bool,
          out: Path | None) -> None:
    """Multiply-accumulates per clip: backbone, head, the head's attention, total, per frame.

    Convolutions and matmuls come from torch's FlopCounterMode (halved to MACs); the head's elementwise and
    reduction work (STA's parameter-free attention) from a second op counter. MACs, not FLOPs.
    """
    from reid_export.bench.flops import flops_rows, flops_text
    from reid_export.bench.peak import machine_summary

    _quiet_exporter()
    lengths = _ints(seq_lens, "--seq-lens")
    input_size = _size(size)
    machine = machine_summary()
    rows = []
    for spec in models:
        rows += flops_rows(spec, lengths, input_size, onnx_check, log=lambda line: click.echo(line, err=True))
    table = flops_text(rows)
    click.echo(table)
    if out is not None:
        files = write_result(out, "flops", "MACs per clip", {"command": _command(ctx), "machine": machine,
                                                             "rows": rows}, f"```\n{table}\n```", [])
        click.echo(f"Wrote {', '.join(str(f) for f in files)}")


@bench.command()
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="A checkpoint (.pt: every backend) or an exported .onnx (onnxruntime only).")
@click.option("--backends", default="torch,onnxruntime", show_default=True,
              help="Comma-separated: torch, onnxruntime, onnxruntime-fp16, onnxruntime-int8, onnxruntime-split, "
                   "onnxruntime-cuda, tensorrt.")
@click.option("--batch", default="1", show_default=True, help="Batch sizes B (clips per call), comma-separated.")
@click.option("--seq", default="4", show_default=True, help="Sequence lengths T, comma-separated.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Intra-op threads [default: all cores].")
@click.option("--runs", type=click.IntRange(min=1), default=5, show_default=True, help="Minimum timed runs per (B, T).")
@click.option("--warmup", type=click.IntRange(min=0), default=2, show_default=True)
@click.option("--min-seconds", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Keep timing a (B, T) until this many seconds have passed (up to 100 runs).")
@click.option("--rounds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Time every backend this many times in rotated order; each row is the median round.")
@click.option("--calib", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Person crops for INT8 calibration [default: synthetic crops at the model size].")
@click.option("--no-peak", is_flag=True, help="Skip the matmul peak measurement (no %-of-peak column).")
@click.option("--peak-size", type=click.IntRange(min=16), default=2048, show_default=True,
              help="n of the n x n GEMMs that measure the peak.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write latency.json, latency.md and latency_vs_seq.png here.")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the exports and synthetic crops here [default: a temporary folder].")
@click.pass_context
def latency(ctx: click.Context, model_path: Path, backends: str, batch: str, seq: str, threads: int | None, runs: int,
            warmup: int, min_seconds: float, rounds: int, calib: Path | None, no_peak: bool, peak_size: int,
            out: Path | None, work: Path | None) -> None:
    """Latency (p50/p90/p99), tracklets/s, frames/s, peak RSS and achieved GFLOP/s per backend and (B, T).

    One inference call on pre-decoded frames is timed (model compute, no decoding), each backend in a fresh
    process. Backends that cannot run here are listed as skipped with the reason.
    """
    from reid_export.bench.latency import compare_backends
    from reid_export.bench.plots import plot_latency

    _quiet_exporter()
    names = [b.strip() for b in backends.split(",") if b.strip()]
    try:
        report = compare_backends(
            model_path, names, batch_sizes=_ints(batch, "--batch"), seq_lens=_ints(seq, "--seq"), threads=threads,
            work_dir=work, calib=calib, warmup=warmup, min_runs=runs, min_seconds=min_seconds, rounds=rounds,
            measure_peak=not no_peak, peak_n=peak_size, log=lambda line: click.echo(line, err=True))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    report.command = _command(ctx)
    click.echo(report.table())
    if out is not None:
        payload = report.to_dict()
        files = write_result(out, "latency", f"Latency and throughput: {report.architecture}", payload,
                             report.markdown(), report.notes)
        files.append(plot_latency(payload, out / "latency_vs_seq.png"))
        click.echo(f"Wrote {', '.join(str(f) for f in files)}")


@bench.command()
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--data-root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Dataset folder: adds mAP / R1 per format (give --dataset too).")
@click.option("--dataset", default=None, help="Dataset name of --data-root, e.g. mars.")
@click.option("--seq-len", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Intra-op threads [default: all cores].")
@click.option("--runs", type=click.IntRange(min=1), default=5, show_default=True, help="Minimum timed runs per format.")
@click.option("--min-seconds", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Keep timing a format until this many seconds have passed (up to 100 runs).")
@click.option("--calib", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Person crops for INT8 calibration [default: synthetic crops at the model size].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write formats.json and formats.md here.")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the exports and synthetic crops here [default: a temporary folder].")
@click.pass_context
def formats(ctx: click.Context, checkpoint: Path, data_root: Path | None, dataset: str | None, seq_len: int,
            threads: int | None, runs: int, min_seconds: float, calib: Path | None, out: Path | None,
            work: Path | None) -> None:
    """Export to every available format, check each against PyTorch, time it: format x status x size x cosine x
    mAP x ms/tracklet x frames/s."""
    from reid_export.bench.format_table import format_table

    _quiet_exporter()
    report = format_table(checkpoint, work_dir=work, data_root=data_root, dataset=dataset,
                          calib=calib, seq_len=seq_len, threads=threads, min_runs=runs, min_seconds=min_seconds,
                          log=lambda line: click.echo(line, err=True))
    report.command = _command(ctx)
    click.echo(report.table())
    if out is not None:
        files = write_result(out, "formats", f"Export formats: {report.architecture}", report.to_dict(),
                             report.markdown(), report.notes)
        click.echo(f"Wrote {', '.join(str(f) for f in files)}")


@bench.command()
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--tracklets", type=click.IntRange(min=1), default=24, show_default=True)
@click.option("--cap", type=click.IntRange(min=2), default=64, show_default=True,
              help="Frames per tracklet at most (sampling 'all' up to this many).")
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True, help="Tracklets per batch.")
@click.option("--pack-frames", type=click.IntRange(min=1), default=64, show_default=True,
              help="Frames per backbone call when packing.")
@click.option("--tracks-table", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="MARS tracks_test_info.mat to draw lengths from [default: log-normal fitted to it].")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Intra-op threads [default: all cores].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write mixed_lengths.json, .md and .png here.")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the exports and synthetic crops here [default: a temporary folder].")
@click.pass_context
def mixed(ctx: click.Context, checkpoint: Path, tracklets: int, cap: int, batch: int, pack_frames: int,
          tracks_table: Path | None, threads: int | None, out: Path | None, work: Path | None) -> None:
    """Mixed-length workload: naive padding vs length bucketing vs frame packing, against the best fixed length."""
    from reid_export.bench.latency import mixed_lengths
    from reid_export.bench.plots import plot_mixed

    _quiet_exporter()
    report = mixed_lengths(checkpoint, tracklets=tracklets, cap=cap, batch=batch, pack_frames=pack_frames,
                           tracks_table=tracks_table, threads=threads, work_dir=work,
                           log=lambda line: click.echo(line, err=True))
    report.command = _command(ctx)
    click.echo(report.table())
    if out is not None:
        payload = report.to_dict()
        files = write_result(out, "mixed_lengths", f"Mixed-length workload: {report.architecture}", payload,
                             report.markdown(), report.notes)
        files.append(plot_mixed(payload, out / "mixed_lengths.png"))
        click.echo(f"Wrote {', '.join(str(f) for f in files)}")
