"""``reid demo``: the main job on an embedded default, from synthetic data to a report (stages are imported when the
command runs, so ``reid demo --help`` imports no torch)."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo_out"), show_default=True,
              help="Demo folder: one sub-folder per stage, report.md on top.")
@click.option("--fast", is_flag=True,
              help="Under a minute on 2 idle cores: 16 + 16 identities, 8 epochs, STA evaluated at T = 4, 8 only.")
@click.option("--force", is_flag=True, help="Redo every stage instead of reusing the finished ones.")
@click.option("--tiny", is_flag=True, hidden=True, help="Test-suite size (same stages and code as --fast).")
def demo(out: Path, fast: bool, force: bool, tiny: bool) -> None:
    """Run the whole toolkit on synthetic data and write a report: no dataset, GPU or download needed.

    \b
    Stages (each writes <out>/<stage>/done.json; a rerun reuses finished ones):
      1 data    synthetic MARS-layout dataset with attributes
      2 train   STA with the tiny CPU recipe `demo`, and a TP baseline with the same budget
      3 eval    R1/R5/R10/mAP/mINP per test T (STA 2, 4, 8; TP 4), ranked lists, STA attention overlays
      4 export  ONNX with dynamic batch and seq axes, split backbone + head, both verified against PyTorch
      5 embed   query and gallery with ONNX Runtime into .npz; its mAP must equal PyTorch's
      6 search  top-10 gallery tracklets per query (results.json)
      7 bench   PyTorch eager vs ONNX Runtime latency at (B, T) = (1, 4) and (8, 4)
      8 report  <out>/report.md: every figure of the run, pictures, and the commands to redo each stage

    About 2 minutes on 2 idle CPU cores, --fast under 1 (about 3x longer while other jobs share the cores).

    \b
    Examples:
      reid demo
      reid demo --fast --out demo_fast
      reid demo --out demo_out --force
    """
    from reid_export.demo.stages import PLANS, run_demo

    if fast and tiny:
        raise click.UsageError("choose one of --fast and --tiny")
    plan = PLANS["tiny" if tiny else "fast" if fast else "default"]
    run_demo(out, plan, force=force, progress=sys.stderr.isatty(), echo=click.echo)
