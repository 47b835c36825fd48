"""STA vs TP vs ASTA+AITL trained with the same tiny CPU budget on synthetic MARS-layout data with occlusions.

Usage:
    python -m benchmarks.train_compare --out benchmarks/results [--epochs 40] [--models sta,tp,asta]

Writes train_compare.json and train_compare.md: for each model the untrained and trained CMC/mAP/mINP under the
standard MARS protocol, parameter count and training time. Every number comes from this run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.machine import machine_info, script_command
from reid_runtime.data.synth import SynthConfig, synthesize
from reid_runtime.io import write_json_atomic, write_text_atomic
from reid_train.engine.config import load_config
from reid_train.engine.trainer import Trainer, evaluate_model

# Same recipe (the `demo` one) for every model; only the model and its paper's loss terms change.
VARIANTS: dict[str, list[str]] = {
    "sta": ["model.name=sta_tiny", "model.kwargs={num_regions: 4, embedding_dim: 128}",
            "loss.inter_frame_weight=1.0"],
    "sta_noreg": ["model.name=sta_tiny", "model.kwargs={num_regions: 4, embedding_dim: 128}",
                  "loss.inter_frame_weight=0.0"],
    "tp": ["model.name=tp_tiny", "model.kwargs={}", "loss.inter_frame_weight=0.0"],
    "asta": ["model.name=asta_tiny", "model.kwargs={attribute_schema: mars}", "loss.inter_frame_weight=0.0",
             "loss.aitl_weight=1.0", "loss.attribute_weight=1.0", "loss.triplet_metric=cosine"],
}


def run_variant(name: str, root: Path, epochs: int, work: Path) -> dict:
    overrides = [f"data.root={root}", f"optim.epochs={epochs}", f"optim.milestones=[{int(epochs * 0.75)}]",
                 "train.eval_every=0", *VARIANTS[name]]
    config = load_config("demo", overrides)
    torch.manual_seed(0)
    trainer = Trainer(config, work / name, progress=False)
    untrained = evaluate_model(trainer.model, trainer.splits, config["data"])
    start = time.perf_counter()
    trained = trainer.fit()
    seconds = time.perf_counter() - start
    return {
        "model": config["model"]["name"],
        "overrides": VARIANTS[name],
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "epochs": epochs,
        "iterations": trainer.global_step,
        "train_seconds_incl_final_eval": round(seconds, 1),
        "untrained": untrained,
        "trained": trained,
    }


def to_markdown(result: dict) -> str:
    lines = [
        "# STA vs TP vs ASTA+AITL on synthetic MARS-layout data (CPU)",
        "",
        f"Command: `{result['command']}`",
        f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores; "
        f"torch {result['machine']['versions'].get('torch')}",
        f"Data: `reid data synth --layout mars --ids {result['data']['ids']} --seed {result['data']['seed']} "
        f"--size {result['data']['size']}`; protocol standard "
        f"({result['runs'][next(iter(result['runs']))]['trained']['num_valid_queries']} valid queries); "
        f"test sampling dense, T=4; recipe `demo` with {result['epochs']} epochs.",
        "",
        "| variant | model | params | iters | train s | untrained mAP | R1 | R5 | R10 | mAP | mINP |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in result["runs"].items():
        t = run["trained"]
        lines.append(
            f"| {name} | {run['model']} | {run['parameters'] / 1e6:.2f} M | {run['iterations']} | "
            f"{run['train_seconds_incl_final_eval']} | {run['untrained']['mAP']:.1f} | {t['R1']:.1f} | {t['R5']:.1f} | "
            f"{t['R10']:.1f} | {t['mAP']:.1f} | {t['mINP']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--models", default="sta,sta_noreg,tp,asta")
    parser.add_argument("--ids", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synth_mars"
        synthesize(SynthConfig(layout="mars", ids=args.ids, seed=args.seed, size=(128, 64)), root)
        runs = {}
        for name in args.models.split(","):
            runs[name] = run_variant(name, root, args.epochs, Path(tmp) / "runs")
            print(name, json.dumps(runs[name]["trained"]), flush=True)
    result = {
        "command": script_command("benchmarks.train_compare", argv),
        "machine": machine_info(),
        "data": {"layout": "mars", "ids": args.ids, "seed": args.seed, "size": "128x64"},
        "epochs": args.epochs,
        "runs": runs,
    }
    write_json_atomic(args.out / "train_compare.json", result)
    write_text_atomic(args.out / "train_compare.md", to_markdown(result))
    print(to_markdown(result))


if __name__ == "__main__":
    main()
