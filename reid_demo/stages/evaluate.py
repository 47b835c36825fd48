"""Stage 3: R1 / R5 / R10 / R20 / mAP / mINP per test T (STA at every plan T, TP at T=4), ranked lists and STA
attention overlays (``reid eval``)."""

from __future__ import annotations

from pathlib import Path

from reid_demo.plan import REF_SEQ_LEN
from reid_demo.runner import Stage, StageOutput


def run(stage: Stage, done: dict[str, dict]) -> StageOutput:
    plan = stage.plan
    root = stage.demo.at(done["data"]["results"]["root"])
    tables: dict[str, list[dict]] = {}
    pictures: dict[str, list[str]] = {"ranked_lists": [], "attention": []}
    outputs = []
    for arch, lengths in (("sta", plan.seq_lens), ("tp", (REF_SEQ_LEN,))):
        checkpoint = stage.demo.at(done["train"]["results"]["runs"][arch]["checkpoint"])
        folder = stage.folder / arch
        pictured = ("--visualize", "--num-visualize", plan.pictures) if arch == "sta" else ()
        report = stage.reid("eval", "--model", checkpoint, "--data-root", root, "--dataset", "mars",
                            "--seq-lens", ",".join(map(str, lengths)), "--max-clips", plan.max_clips,
                            "--out", folder, *pictured, "--json").json()
        tables[arch] = [{k: v for k, v in row.items() if k != "cmc"} for row in report["results"]]
        outputs.append(stage.demo.rel(folder / "eval.json"))
        for path in map(Path, report["files"]):
            if path.suffix == ".png" and path.parent.name in pictures:
                pictures[path.parent.name].append(stage.demo.rel(path))
    sta = {row["seq_len"]: row for row in tables["sta"]}
    tp = tables["tp"][0]
    others = ", ".join(f"T={t}: {sta[t]['mAP']:.1f}" for t in plan.seq_lens if t != REF_SEQ_LEN)
    summary = (f"STA mAP {sta[REF_SEQ_LEN]['mAP']:.1f} / R1 {sta[REF_SEQ_LEN]['R1']:.1f} at T={REF_SEQ_LEN}"
               + (f" (mAP {others})" if others else "")
               + f"; TP mAP {tp['mAP']:.1f} / R1 {tp['R1']:.1f} at T={REF_SEQ_LEN}; "
               f"{len(pictures['ranked_lists'])} ranked lists and {len(pictures['attention'])} attention overlays "
               f"-> {stage.folder}")
    return StageOutput(summary=summary,
                       results={"tables": tables, "pictures": pictures, "valid_queries": tp["num_valid_queries"],
                                "queries": tp["num_queries"]},
                       outputs=outputs + pictures["ranked_lists"] + pictures["attention"])
