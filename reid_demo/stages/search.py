"""Stage 7: the top gallery tracklets of every query (``reid search``); its scores, from the ONNX Runtime
embeddings, must equal the PyTorch evaluation's at the same T."""

from __future__ import annotations

import json
from typing import Any

from reid_demo.plan import REF_SEQ_LEN, TOPK
from reid_demo.runner import Stage, StageOutput

SCORES = ("R1", "R5", "R10", "mAP", "mINP")
AGREEMENT = 1e-3   # percentage points


def run(stage: Stage, done: dict[str, dict]) -> StageOutput:
    from reid_runtime.embeddings_file import load_embeddings

    files = {k: stage.demo.at(v) for k, v in done["embed"]["results"]["files"].items()}
    out = stage.folder / "results.json"
    report = stage.reid("search", "--query", files["query"], "--gallery", files["gallery"], "--out", out,
                        "--topk", TOPK, "--exclude-same-camera", "--json").json()
    scores = report["metrics"]
    results = json.loads(out.read_text(encoding="utf-8"))["results"]
    gallery = load_embeddings(files["gallery"])
    gallery_cameras: dict[int, set[int]] = {}
    for pid, camid in zip(gallery.pids.tolist(), gallery.camids.tolist()):
        gallery_cameras.setdefault(pid, set()).add(camid)
    valid = [row for row in results if gallery_cameras.get(row["pid"], set()) - {row["camid"]}]
    examples = [_example(valid[i]) for i in sorted({0, len(valid) // 2})] if valid else []
    reference = next(r for r in done["eval"]["results"]["tables"]["sta"] if r["seq_len"] == REF_SEQ_LEN)
    onnxruntime = {k: scores[k] for k in SCORES}
    pytorch = {k: reference[k] for k in SCORES}
    agree = all(abs(onnxruntime[k] - pytorch[k]) < AGREEMENT for k in SCORES)
    summary = (f"top-{TOPK} of {report['num_gallery']} gallery tracklets for {report['num_queries']} queries "
               f"({report['metric']}, {report['engine']}): R1 {scores['R1']:.1f}, mAP {scores['mAP']:.1f}; "
               f"mAP ONNX Runtime {onnxruntime['mAP']:.2f} {'=' if agree else 'DIFFERS FROM'} PyTorch "
               f"{pytorch['mAP']:.2f} -> {out}")
    return StageOutput(
        summary=summary,
        results={"file": stage.demo.rel(out), "topk": TOPK, "metric": report["metric"], "engine": report["engine"],
                 "metrics": scores, "onnxruntime": onnxruntime, "pytorch": pytorch, "agree": agree,
                 "examples": examples},
        outputs=[stage.demo.rel(out)],
        details=[f"query pid {e['pid']} cam {e['camid']}: top-5 pids {e['top5']}, first true match at rank "
                 f"{e['first_match'] or f'> {TOPK}'}" for e in examples],
    )


def _example(row: dict[str, Any]) -> dict[str, Any]:
    pids = [m["pid"] for m in row["matches"]]
    first = next((rank for rank, pid in enumerate(pids, 1) if pid == row["pid"]), None)
    return {"tid": row["tid"], "pid": row["pid"], "camid": row["camid"], "path": row["path"], "top5": pids[:5],
            "first_match": first}
