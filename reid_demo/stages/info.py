"""Stage 5: what the toolkit says the checkpoint and the exported model are (``reid info``)."""

from __future__ import annotations

from reid_demo.runner import Stage, StageOutput


def run(stage: Stage, done: dict[str, dict]) -> StageOutput:
    models = {
        "checkpoint": done["train"]["results"]["runs"]["sta"]["checkpoint"],
        "onnx": done["export"]["results"]["exports"]["full"]["files"][0],
        "split": next(f for f in done["export"]["results"]["exports"]["split"]["files"]
                      if f.endswith(".backbone.onnx")),
    }
    described = {name: stage.reid("info", stage.demo.at(rel), "--json").json() for name, rel in models.items()}
    onnx = described["onnx"]
    summary = (f"{len(described)} models described: {', '.join(models.values())}; the ONNX file is "
               f"{onnx['architecture']}, {onnx['precision']}, {onnx['embedding_dim']}-d {onnx['metric']} embeddings "
               f"-> {stage.folder / 'done.json'}")
    return StageOutput(summary=summary, results={"models": models, "descriptions": described}, outputs=[])
