"""Stage 1: a synthetic MARS-layout dataset (``reid data synth``), read back with the real reader
(``reid data summary``)."""

from __future__ import annotations

import json

from reid_demo.plan import SEED
from reid_demo.runner import Stage, StageOutput


def run(stage: Stage, done: dict[str, dict]) -> StageOutput:
    plan = stage.plan
    root = stage.folder / "mars"
    height, width = plan.size
    stage.reid("data", "synth", "--layout", "mars", "--out", root, "--ids", plan.ids, "--seed", SEED,
               "--size", f"{height}x{width}")
    summary = stage.reid("data", "summary", "--dataset", "mars", "--data-root", root, "--json").json()
    counts = json.loads((root / "synth_summary.json").read_text(encoding="utf-8"))["counts"]
    rows = summary["splits"]
    by_split = {row["split"]: row for row in rows}
    line = (f"synthetic MARS layout: {plan.ids} + {plan.ids} identities, {by_split['train']['tracklets']} train / "
            f"{by_split['query']['tracklets']} query / {by_split['gallery']['tracklets']} gallery tracklets "
            f"({by_split['query']['valid_queries']} valid queries), {height}x{width} frames, "
            f"{counts['attribute_rows']} attribute rows -> {root}")
    return StageOutput(
        summary=line,
        results={"root": stage.demo.rel(root), "ids": plan.ids, "size": list(plan.size), "counts": counts,
                 "splits": rows},
        outputs=[stage.demo.rel(root / "info")],
    )
