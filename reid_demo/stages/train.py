"""Stage 2: STA with the tiny CPU recipe ``demo`` and a TP baseline with the same data, budget and seed
(``reid train``)."""

from __future__ import annotations

import json

from reid_demo.plan import DemoPlan
from reid_demo.runner import Stage, StageOutput


def train_sets(plan: DemoPlan, arch: str) -> list[str]:
    """The ``--set`` overrides of the demo recipe for ``arch`` (``sta`` or ``tp``) under ``plan``."""
    from reid_train.engine.config import load_config

    recipe = load_config("demo")
    sets = ["train.eval_every=0"]  # the eval stage evaluates; the trainer still scores the final epoch
    if plan.epochs is not None and plan.epochs != recipe["optim"]["epochs"]:
        sets += [f"optim.epochs={plan.epochs}", f"optim.milestones=[{max(1, plan.epochs * 2 // 3)}]"]
    if list(plan.size) != list(recipe["data"]["input_size"]):
        sets.append(f"data.input_size=[{plan.size[0]}, {plan.size[1]}]")
    if plan.max_clips != recipe["data"]["test_max_clips"]:
        sets.append(f"data.test_max_clips={plan.max_clips}")
    sets += plan.train_sets
    if arch == "tp":  # same backbone, data and budget; TP has no inter-frame term
        kwargs = {"last_stride": 1, **plan.model_kwargs}
        sets += ["model.name=tp_tiny", "loss.inter_frame_weight=0.0"]
    else:
        kwargs = {**recipe["model"]["kwargs"], **plan.model_kwargs} if plan.model_kwargs else None
    if kwargs is not None:
        sets.append("model.kwargs={" + ", ".join(f"{k}: {v}" for k, v in kwargs.items()) + "}")
    return sets


def run(stage: Stage, done: dict[str, dict]) -> StageOutput:
    root = stage.demo.at(done["data"]["results"]["root"])
    runs = {}
    for arch in ("sta", "tp"):
        folder = stage.folder / arch
        sets = [part for item in train_sets(stage.plan, arch) for part in ("--set", item)]
        result = stage.reid("train", "--config", "demo", "--data-root", root, "--out", folder, *sets, "--json").json()
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        data = config["data"]
        runs[arch] = {
            "model": result["model"],
            "checkpoint": stage.demo.rel(folder / "last.pt"),
            "parameters": result["parameters"],
            "epochs": result["epochs"],
            "iterations": result["iterations"],
            "batch": f"P={data['p']} x K={data['k']} tracklets of T={data['seq_len']}",
            "seconds": round(result["seconds"], 1),
            "final_eval": result["final"],
        }
    sta, tp = runs["sta"], runs["tp"]
    summary = (f"STA ({sta['model']}, {sta['parameters'] / 1e6:.2f} M parameters) and the TP baseline, "
               f"{sta['epochs']} epochs / {sta['iterations']} iterations each in {sta['seconds']:.0f} s + "
               f"{tp['seconds']:.0f} s; final mAP STA {sta['final_eval']['mAP']:.1f}, "
               f"TP {tp['final_eval']['mAP']:.1f} -> {stage.folder}")
    return StageOutput(summary=summary, results={"runs": runs}, outputs=[run["checkpoint"] for run in runs.values()])
