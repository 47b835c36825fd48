"""The training service: one call trains a recipe into a run folder and returns a :class:`TrainResult`.

``reid train`` is a thin command over :func:`train`; ``reid demo`` runs that command, and Python users call
:func:`train` directly::

    from reid_train.engine.run import train
    result = train("demo", "data/synth_mars", "runs/demo", overrides=["optim.epochs=2"])
    print(result.best_map, result.last)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reid_runtime.errors import ReidError

Log = Callable[[str], None]


@dataclass(frozen=True)
class TrainResult:
    """What a training call did. Scores are percentages; paths point into the run folder ``out``."""

    out: Path
    last: Path | None                      # last.pt: the state to resume from (None on non-main torchrun ranks)
    best: Path | None                      # best.pt: the best evaluation so far (None before the first evaluation)
    epochs: int                            # epochs completed in the run folder, this call included
    epochs_run: int                        # epochs completed by this call
    best_map: float | None                 # best evaluation mAP so far, in percent
    final: dict[str, Any]                  # the last evaluation of this call (R1, R5, R10, R20, mAP, mINP, ...)
    metrics_file: Path                     # metrics.jsonl: one record per epoch and event
    config_file: Path                      # config.json: the resolved recipe
    model: str                             # registry name of the architecture
    parameters: int
    iterations: int                        # optimizer steps in the run folder, this call included
    seconds: float                         # wall time of this call
    interrupted: str | None = None         # the signal (or reason) that stopped the run early, else None
    is_main: bool = field(default=True, compare=False)   # False on the other ranks of a torchrun job

    @property
    def completed(self) -> bool:
        return self.interrupted is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out), "last": _str(self.last), "best": _str(self.best), "epochs": self.epochs,
            "epochs_run": self.epochs_run, "best_map": self.best_map, "final": dict(self.final),
            "metrics_file": str(self.metrics_file), "config_file": str(self.config_file), "model": self.model,
            "parameters": self.parameters, "iterations": self.iterations, "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
        }


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _quiet(_: str) -> None:
    return None


def train(config: str | Path | dict, data_root: str | Path | None, out: str | Path, *,
          overrides: Sequence[str] = (), resume: bool | str | Path = False, progress: bool | None = None,
          log: Log = _quiet) -> TrainResult:
    """Train ``config`` (a recipe name such as ``demo``, a YAML file, or the recipe as a dict) on the dataset at
    ``data_root`` into the run folder ``out`` (``last.pt``, ``best.pt``, ``metrics.jsonl``, ``config.json``).

    ``overrides`` are ``key=value`` recipe settings (``optim.epochs=20``); ``data_root`` None keeps the recipe's
    ``data.root``. ``resume`` True continues from ``out/last.pt`` (a path: from that checkpoint) with the same result
    as an uninterrupted run. ``progress`` None shows the bar when stderr is a terminal. A Ctrl-C or SIGTERM saves
    ``last.pt`` and returns a result whose ``interrupted`` names the signal. Bad input raises :class:`ReidError`.
    """
    from reid_train.engine.config import load_config
    from reid_train.engine.trainer import Trainer

    started = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ReidError(f"{out}: exists and is not a folder; pass a run folder for --out")
    settings = list(overrides)
    if data_root is not None:
        root = Path(data_root)
        if not root.is_dir():
            raise ReidError(f"{root}: no such folder; expected the dataset root (e.g. from reid data synth)")
        settings.append(f"data.root={root}")
    if resume is True and not (out / "last.pt").is_file():
        raise ReidError(f"{out / 'last.pt'}: nothing to resume (no checkpoint there); run without --resume to start")
    recipe = load_config(config, settings)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    trainer = Trainer(recipe, out, resume=resume, progress=show)
    try:
        first_epoch = trainer.start_epoch
        parameters = sum(p.numel() for p in trainer.model.parameters())
        epochs = recipe["optim"]["epochs"]
        if trainer.is_main:
            where = f"from epoch {first_epoch + 1}, step {trainer.start_step}" if resume else "from scratch"
            log(f"Training {recipe['model']['name']} ({parameters / 1e6:.2f} M parameters) on "
                f"{recipe['data']['dataset']} at {recipe['data']['root']}: {epochs} epochs of "
                f"{trainer.steps_per_epoch()} iterations, {where} -> {out}")
        metrics = trainer.fit()
    finally:
        trainer.close()
    interrupted = metrics.get("interrupted")
    done_epochs = metrics["epoch"] if interrupted else epochs
    best = out / "best.pt"
    last = out / "last.pt"
    return TrainResult(
        out=out, last=last if last.is_file() else None, best=best if best.is_file() else None,
        epochs=done_epochs, epochs_run=max(done_epochs - first_epoch, 0),
        best_map=trainer.best_map if trainer.best_map >= 0 else None,
        final={} if interrupted else dict(metrics), metrics_file=out / "metrics.jsonl",
        config_file=out / "config.json", model=recipe["model"]["name"], parameters=parameters,
        iterations=trainer.global_step, seconds=time.perf_counter() - started, interrupted=interrupted,
        is_main=trainer.is_main,
    )
