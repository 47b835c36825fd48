"""``reid demo``: the whole toolkit on synthetic data, through its own commands, to a report (the stages are imported
when the command runs, so ``reid demo --help`` imports no torch)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo_out"), show_default=True,
              help="Demo folder: one sub-folder per stage, report.md on top.")
@click.option("--fast", is_flag=True,
              help="Under a minute on 2 idle cores: 16 + 16 identities, 8 epochs, STA evaluated at T = 4, 8 only.")
@click.option("--force", is_flag=True, help="Redo every stage instead of reusing the finished ones.")
@click.option("--tiny", is_flag=True, hidden=True, help="Test-suite size (same stages and commands as --fast).")
def demo(out: Path, fast: bool, force: bool, tiny: bool) -> None:
    """Run the whole toolkit on synthetic data with its own `reid` commands and write a report: no dataset, GPU or
    download needed.

    \b
    Stages (each runs reid commands, prints them, and writes <out>/<stage>/done.json; a rerun reuses finished ones):
      1 data    reid data synth / summary: a synthetic MARS-layout dataset with attributes
      2 train   reid train: STA with the tiny CPU recipe `demo`, and a TP baseline with the same budget
      3 eval    reid eval: R1/R5/R10/mAP/mINP per test T (STA 2, 4, 8; TP 4), ranked lists, attention overlays
      4 export  reid export: ONNX with dynamic batch and seq axes, and the split backbone + head, verified
      5 info    reid info: what the checkpoint and the exported files are
      6 embed   reid embed: query and gallery with ONNX Runtime into .npz
      7 search  reid search: top-10 gallery tracklets per query; its mAP must equal PyTorch's
      8 bench   reid bench latency: PyTorch eager vs ONNX Runtime at (B, T) = (1, 4) and (8, 4)
      9 report  <out>/report.md: every figure of the run, pictures, and the commands each stage ran

    About 2 minutes on 2 idle CPU cores, --fast under 1 (about 3x longer while other jobs share the cores).

    \b
    Examples:
      reid demo
      reid demo --fast --out demo_fast
      reid demo --out demo_out --force
    """
    from reid_demo.plan import PLANS
    from reid_demo.runner import run_demo
    from reid_demo.stages import STAGES

    if fast and tiny:
        raise click.UsageError("choose one of --fast and --tiny")
    plan = PLANS["tiny" if tiny else "fast" if fast else "default"]
    run_demo(out, plan, STAGES, force=force, echo=click.echo)
