"""Stage 6: query and gallery embedded with ONNX Runtime into .npz files (``reid embed``)."""

from __future__ import annotations

from reid_demo.plan import REF_SEQ_LEN
from reid_demo.runner import Stage, StageOutput


def run(stage: Stage, done: dict[str, dict]) -> StageOutput:
    plan = stage.plan
    root = stage.demo.at(done["data"]["results"]["root"])
    model = stage.demo.at(done["export"]["results"]["exports"]["full"]["files"][0])
    files, counts, skipped = {}, {}, {}
    for split in ("query", "gallery"):
        out = stage.folder / f"{split}.npz"
        report = stage.reid("embed", "--model", model, "--data-root", root, "--dataset", "mars", "--split", split,
                            "--seq-lens", REF_SEQ_LEN, "--max-clips", plan.max_clips, "--out", out, "--json").json()
        files[split] = stage.demo.rel(out)
        counts[split] = report["count"]
        skipped[split] = len(report["skipped"])
    summary = (f"{counts['query']} query + {counts['gallery']} gallery tracklets with ONNX Runtime "
               f"(T={REF_SEQ_LEN}, dense, at most {plan.max_clips} clips) -> {stage.folder}/{{query,gallery}}.npz")
    return StageOutput(summary=summary,
                       results={"files": files, "counts": counts, "skipped": skipped, "seq_len": REF_SEQ_LEN,
                                "max_clips": plan.max_clips, "model": stage.demo.rel(model)},
                       outputs=list(files.values()))
