"""``synthesize``: write a whole synthetic dataset in a real on-disk layout, atomically, with a summary file."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

from reid_runtime.data.synth.camera import make_camera
from reid_runtime.data.synth.config import SynthConfig
from reid_runtime.data.synth.dukev_layout import write_dukev
from reid_runtime.data.synth.mars_layout import write_mars
from reid_runtime.data.synth.output import GENERATOR, SUMMARY_NAME, staged_folder

_WRITERS = {"mars": write_mars, "dukev": write_dukev}


def synthesize(config: SynthConfig, out: str | Path) -> dict:
    """Write the dataset described by ``config`` to ``out`` and return its summary (also saved as
    ``out/synth_summary.json``). ``out`` must be new, empty, or a previous synthetic dataset (which is replaced)."""
    out = Path(os.path.abspath(out))
    started = time.perf_counter()
    with staged_folder(out) as stage:
        cameras = {c: make_camera(config.seed, c, config.size) for c in range(1, config.num_cameras + 1)}
        counts = _WRITERS[config.layout](config, stage, cameras)
        summary = {
            "generator": GENERATOR,
            "layout": config.layout,
            "config": {**dataclasses.asdict(config), "cameras": config.num_cameras, "size": list(config.size)},
            "counts": counts,
            "seconds": round(time.perf_counter() - started, 2),
        }
        (stage / SUMMARY_NAME).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
