"""The stages of ``reid demo``, one module each, in the order they run. Each runs ``reid`` commands only."""

from __future__ import annotations

from reid_demo.runner import StageFunction
from reid_demo.stages import bench, data, embed, evaluate, export, info, search, train

STAGES: tuple[tuple[str, StageFunction], ...] = (
    ("data", data.run),
    ("train", train.run),
    ("eval", evaluate.run),
    ("export", export.run),
    ("info", info.run),
    ("embed", embed.run),
    ("search", search.run),
    ("bench", bench.run),
)
