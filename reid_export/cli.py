"""``reid export``: ONNX (FP32 / FP16 / INT8, full or split), verification, TensorRT engines and Triton entries.

The format commands are built from :data:`reid_export.formats.FORMATS`; torch, onnx and TensorRT are imported only
when a command runs, so ``reid export --help`` stays fast.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import click

from reid_export.formats import FORMATS, ExportOptionError, check_options, formats_table


class ExportGroup(click.Group):
    """Prints the formats table in its help and answers an unknown format with the closest one."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Formats"):
            formatter.write(formats_table(formatter.width - formatter.current_indent) + "\n")
        super().format_epilog(ctx, formatter)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else None
        if name and not name.startswith("-") and name not in self.commands:
            close = difflib.get_close_matches(name.lower(), self.list_commands(ctx), n=2, cutoff=0.5)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            ctx.fail(f"unknown export format {name!r}{hint} (formats: {', '.join(FORMATS)}; "
                     "`reid export verify` checks an exported model)")
        return super().resolve_command(ctx, args)


class FormatCommand(click.Command):
    """A format's command: options outside the format's table entry fail with the format(s) that take them."""

    def __init__(self, *args, format_name: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.format_name = format_name

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        flags = [arg for arg in args if arg.startswith("--") and arg != "--"]
        try:
            check_options(self.format_name, flags)
        except ExportOptionError as exc:
            ctx.fail(str(exc))
        return super().parse_args(ctx, args)


@click.group(cls=ExportGroup)
def export() -> None:
    """Export a trained checkpoint for deployment, and check exports against PyTorch.

    Every ONNX export is verified against PyTorch at T in {1,2,3,4,7,8,16} x B in {1,2,5} unless --no-verify; the
    verified lists go into the model metadata.

    \b
    Examples:
      reid export onnx --checkpoint runs/sta/best.pt --out sta.onnx
      reid export onnx-fp16 --checkpoint runs/sta/best.pt --out sta_fp16.onnx
      reid export onnx --checkpoint runs/sta/best.pt --out sta.onnx --split
      reid export verify --checkpoint runs/sta/best.pt --model sta.onnx --data-root /data/mars --dataset mars
      reid export tensorrt --onnx sta.onnx --out sta.engine --fp16 --profiles "1-32x1-4,1-32x5-8"
      reid export triton --model sta.onnx --repo models --name sta
    """


def format_command(name: str):
    """Register the decorated function as ``reid export <name>`` with the options of its table entry."""

    def decorator(function):
        for option in reversed(FORMATS[name].options):
            function = option.click_option()(function)
        return export.command(name, cls=FormatCommand, format_name=name)(function)

    return decorator


@format_command("onnx")
def onnx_command(checkpoint: Path, out: Path, opset: int, simplify: bool, split: bool, fp16: bool, int8: bool,
                 calib: Path | None, calib_seq_len: int, calib_max_images: int, no_verify: bool,
                 max_abs: float | None, min_cosine: float | None) -> None:
    """ONNX with dynamic batch and seq axes (FP32; --fp16 / --int8 for the other precisions).

    frames (B, T, 3, H, W) raw RGB 0..255 -> embedding (B, D); --split writes backbone + head graphs instead.

    \b
    Examples:
      reid export onnx --checkpoint runs/sta/best.pt --out sta.onnx
      reid export onnx --checkpoint runs/sta/best.pt --out sta.onnx --simplify --opset 18
      reid export onnx --checkpoint runs/tp/best.pt --out tp.onnx --split
      reid export onnx --checkpoint runs/sta/best.pt --out sta_int8.onnx --int8 --calib /data/mars/bbox_train
    """
    if fp16 and int8:
        raise click.UsageError("choose one of --fp16 and --int8")
    if calib is not None and not int8:
        raise click.UsageError("--calib is only used with --int8")
    precision = "fp16" if fp16 else "int8" if int8 else "fp32"
    _export_onnx(checkpoint, out, precision, opset=opset, simplify=simplify, split=split, calib=calib,
                 calib_seq_len=calib_seq_len, calib_max_images=calib_max_images, no_verify=no_verify,
                 max_abs=max_abs, min_cosine=min_cosine)


@format_command("onnx-fp16")
def onnx_fp16_command(checkpoint: Path, out: Path, opset: int, simplify: bool, split: bool, no_verify: bool,
                      max_abs: float | None, min_cosine: float | None) -> None:
    """FP16 ONNX (IO, attention scores, reductions and the head in FP32); reports the cosine vs FP32.

    \b
    Examples:
      reid export onnx-fp16 --checkpoint runs/sta/best.pt --out sta_fp16.onnx
      reid export onnx-fp16 --checkpoint runs/sta/best.pt --out sta_fp16.onnx --min-cosine 0.998
    """
    _export_onnx(checkpoint, out, "fp16", opset=opset, simplify=simplify, split=split, no_verify=no_verify,
                 max_abs=max_abs, min_cosine=min_cosine)


@format_command("onnx-int8")
def onnx_int8_command(checkpoint: Path, out: Path, opset: int, simplify: bool, split: bool, calib: Path,
                      calib_seq_len: int, calib_max_images: int, no_verify: bool, max_abs: float | None,
                      min_cosine: float | None) -> None:
    """INT8 QDQ ONNX calibrated on images under --calib; reports the cosine vs FP32 on held-out clips.

    \b
    Examples:
      reid export onnx-int8 --checkpoint runs/sta/best.pt --out sta_int8.onnx --calib /data/mars/bbox_train
      reid export onnx-int8 --checkpoint runs/sta/best.pt --out sta_int8.onnx --calib crops/ --calib-seq-len 8
    """
    _export_onnx(checkpoint, out, "int8", opset=opset, simplify=simplify, split=split, calib=calib,
                 calib_seq_len=calib_seq_len, calib_max_images=calib_max_images, no_verify=no_verify,
                 max_abs=max_abs, min_cosine=min_cosine)


def _export_onnx(checkpoint: Path, out: Path, precision: str, *, opset: int, simplify: bool, split: bool,
                 no_verify: bool, max_abs: float | None, min_cosine: float | None, calib: Path | None = None,
                 calib_seq_len: int = 4, calib_max_images: int = 256) -> None:
    from reid_export.onnx_export import export_checkpoint

    result = export_checkpoint(
        checkpoint, out, opset=opset, simplify_graph=simplify, split=split, precision=precision, calib=calib,
        calib_seq_len=calib_seq_len, calib_max_images=calib_max_images, verify=not no_verify, max_abs=max_abs,
        min_cosine=min_cosine, log=click.echo,
    )
    if result.verification is not None:
        click.echo(result.verification.table())
        click.echo(result.verification.summary())
    else:
        click.echo("verification skipped (--no-verify): the metadata lists no verified T/B")
    for note in result.notes:
        click.echo(note)
    for path, precision in zip(result.files, result.precisions):
        click.echo(f"wrote {path} ({_size(path.stat().st_size)}, {precision}, opset {opset})")
    click.echo(f"export took {result.seconds:.1f} s")


@export.command("verify")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="The checkpoint the model was exported from.")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="Exported ONNX: a full graph, or either file of a split export (its companion must be beside it).")
@click.option("--data-root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Dataset root: also verify on real test tracklets.")
@click.option("--dataset", default=None, help="Dataset at --data-root (mars, dukev, ilidsvid, prid).")
@click.option("--seq-lengths", default="1,2,3,4,7,8,16", show_default=True, help="T values, comma-separated.")
@click.option("--batch-sizes", default="1,2,5", show_default=True, help="B values, comma-separated.")
@click.option("--max-abs", type=click.FloatRange(min=0), default=None,
              help="Allowed max |diff| as a fraction of max(1, output scale) [default: 1e-3 fp32, unchecked else].")
@click.option("--min-cosine", type=click.FloatRange(-1, 1), default=None,
              help="Minimum cosine per embedding [default: 0.9999 fp32, 0.999 fp16, 0.98 int8].")
def verify_command(checkpoint: Path, model_path: Path, data_root: Path | None, dataset: str | None,
                   seq_lengths: str, batch_sizes: str, max_abs: float | None, min_cosine: float | None) -> None:
    """Run PyTorch and ONNX Runtime (CPU) on the same tracklets; fail beyond the tolerance.

    Prints max |diff| and min cosine per (source, B, T). The precision in the model metadata picks the default
    tolerance.

    \b
    Examples:
      reid export verify --checkpoint runs/sta/best.pt --model sta.onnx
      reid export verify --checkpoint runs/sta/best.pt --model sta.backbone.onnx --data-root /data/mars --dataset mars
      reid export verify --checkpoint runs/sta/best.pt --model sta_int8.onnx --data-root /data/mars --dataset mars
    """
    from reid_export.verify import VerificationError, verify_files

    report = verify_files(checkpoint, model_path, data_root=data_root, dataset=dataset, max_abs=max_abs,
                          min_cosine=min_cosine, seq_lengths=_int_list(seq_lengths, "--seq-lengths"),
                          batch_sizes=_int_list(batch_sizes, "--batch-sizes"))
    click.echo(report.table())
    click.echo(report.summary())
    if not report.passed:
        raise VerificationError(f"{model_path}: does not match {checkpoint} within {report.tolerance}")


@format_command("tensorrt")
def tensorrt_command(onnx: Path, out: Path, fp16: bool, int8: bool, profiles: str, workspace_gb: float,
                     timing_cache: Path | None) -> None:
    """TensorRT engine (strongly typed; precision from the graph) plus <out>.json with profiles and metadata.

    One optimization profile per T bucket; a runtime picks the profile by T and splits larger batches
    (reid_runtime.tensorrt_profiles). Needs the tensorrt package and an NVIDIA GPU.

    \b
    Examples:
      reid export tensorrt --onnx sta.onnx --out sta.engine
      reid export tensorrt --onnx sta.onnx --out sta_fp16.engine --fp16 --profiles "1-32x1-4,1-32x5-8,1-16x9-32"
      reid export tensorrt --onnx sta_int8.onnx --out sta_int8.engine --int8 --timing-cache trt.cache
    """
    from reid_export.tensorrt_build import build_engine

    build = build_engine(onnx, out, fp16=fp16, int8=int8, profiles=profiles, workspace_gb=workspace_gb,
                         timing_cache=timing_cache, log=click.echo)
    click.echo(f"wrote {build.engine} ({_size(build.size_bytes)}, {build.precision}) and {build.sidecar} "
               f"in {build.seconds:.1f} s; profiles {', '.join(map(str, build.profiles))}")


@format_command("triton")
def triton_command(model: Path, repo: Path, name: str, max_batch: int, instances: int, version: int) -> None:
    """Triton model repository entry (config.pbtxt + <version>/model.onnx or model.plan).

    Triton's dynamic batching batches only requests with the same T: sample tracklets to one T on the client.

    \b
    Examples:
      reid export triton --model sta.onnx --repo models
      reid export triton --model sta.engine --repo models --name sta_trt --max-batch 16 --instances 2
    """
    from reid_export.triton import write_triton_repo

    folder = write_triton_repo(model, repo, name=name, max_batch=max_batch, instances=instances, version=version)
    click.echo(f"wrote {folder / 'config.pbtxt'} and {folder / str(version)}/ (max_batch_size {max_batch})")


def _int_list(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of ints", param_hint=option) from None
    if not values or min(values) < 1:
        raise click.BadParameter(f"{text!r}: expected positive ints, e.g. 1,2,4", param_hint=option)
    return values


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"
