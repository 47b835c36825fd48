"""Stage 4: ONNX with dynamic batch and seq axes, and the split backbone + head pair, each verified against PyTorch
as it is written (``reid export``); then a query streamed a few frames at a time through the split export, against
its offline embedding (a library check: no command streams)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from reid_demo.runner import Stage, StageOutput

STREAM_CHUNK = 3


def run(stage: Stage, done: dict[str, dict]) -> StageOutput:
    checkpoint = stage.demo.at(done["train"]["results"]["runs"]["sta"]["checkpoint"])
    exports: dict[str, dict[str, Any]] = {}
    for name, out, extra in (("full", stage.folder / "sta.onnx", ()),
                             ("split", stage.folder / "split" / "sta.onnx", ("--split",))):
        result = stage.reid("export", "--model", checkpoint, "--format", "onnx", "--out", out, *extra,
                            "--json").json()
        verification = result["verification"]
        cases = verification["cases"]
        exports[name] = {
            "files": [stage.demo.rel(Path(item["path"])) for item in result["files"]],
            "bytes": [item["bytes"] for item in result["files"]],
            "precision": result["precision"],
            "seconds": round(result["seconds"], 1),
            "verification": {
                "passed": verification["passed"], "cases": len(cases), "seq_lens": verification["seq_lens"],
                "batch_sizes": verification["batch_sizes"], "max_abs_diff": max(c["max_abs"] for c in cases),
                "min_cosine": min(c["min_cosine"] for c in cases), "tolerance": verification["tolerance"],
            },
        }
    root = stage.demo.at(done["data"]["results"]["root"])
    backbone = stage.demo.at(next(f for f in exports["split"]["files"] if f.endswith(".backbone.onnx")))
    stream = stream_check(backbone, root)
    full, split = exports["full"], exports["split"]
    check = full["verification"]
    summary = (f"sta.onnx ({full['bytes'][0] / 1e6:.1f} MB, dynamic batch and seq) and the split backbone + head, "
               f"verified against PyTorch at T {check['seq_lens']} x B {check['batch_sizes']}: max abs diff "
               f"{max(check['max_abs_diff'], split['verification']['max_abs_diff']):.2g}, min cosine "
               f"{min(check['min_cosine'], split['verification']['min_cosine']):.6f}; a query streamed "
               f"{stream['chunk']} frames at a time matches its offline embedding (cosine {stream['cosine']:.6f}) "
               f"-> {stage.folder}")
    return StageOutput(summary=summary, results={"exports": exports, "stream": stream},
                       outputs=full["files"] + split["files"])


def stream_check(backbone: Path, root: Path, chunk: int = STREAM_CHUNK) -> dict[str, Any]:
    """Feed the longest query tracklet to a :class:`TrackletStream` in chunks, as a tracker would, and compare the
    result with the tracklet's offline embedding (one clip of every frame)."""
    import reid_runtime
    from reid_runtime.data.registry import load_dataset

    model = reid_runtime.load(backbone)
    tracklet = max(load_dataset("mars", root, attributes=False).query, key=len)
    stream = reid_runtime.TrackletStream(model)
    for start in range(0, len(tracklet), chunk):
        stream.update(tracklet.tid, tracklet.frames[start:start + chunk])
    streamed = stream.close(tracklet.tid)
    offline = model.embed([tracklet.frames], sampling="all")[0]
    cosine = float(streamed @ offline / max(np.linalg.norm(streamed) * np.linalg.norm(offline), 1e-12))
    return {"tracklet": str(tracklet.frames[0]), "frames": len(tracklet), "chunk": chunk, "cosine": cosine}
