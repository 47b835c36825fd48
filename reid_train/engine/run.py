"""The training service: one call trains a recipe into a run folder and returns a :class:`TrainResult`.

``reid train`` is a thin command over :func:`train`; ``reid demo`` runs that command, and Python users call
:func:`train` directly::

    from reid_train.engine.run import train
    result = train("demo", "data/synth_mars", "runs/demo", overrides=["optim.epochs=2"])
    print(result.best_map, result.last)

A run folder is never clobbered or mixed: :func:`train` into a folder that holds a run (``last.pt``, ``best.pt``,
``metrics.jsonl`` or ``config.json``) refuses unless told to ``resume`` it or to ``overwrite`` it (which discards
it). Resuming compares the recipe and the training identities with those saved in the checkpoint and refuses, listing
the differences, unless ``accept_changes`` (see :data:`reid_train.engine.config.RESUME_FREE_KEYS` for the settings
that may change freely).
"""

from __future__ import annotations

import bisect
import json
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


RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl", "config.json")


def train(config: str | Path | dict, data_root: str | Path | None, out: str | Path, *,
          overrides: Sequence[str] = (), resume: bool | str | Path = False, overwrite: bool = False,
          accept_changes: bool = False, progress: bool | None = None, log: Log = _quiet) -> TrainResult:
    """Train ``config`` (a recipe name such as ``demo``, a YAML file, or the recipe as a dict) on the dataset at
    ``data_root`` into the run folder ``out`` (``last.pt``, ``best.pt``, ``metrics.jsonl``, ``config.json``).

    ``overrides`` are ``key=value`` recipe settings (``optim.epochs=20``); ``data_root`` None keeps the recipe's
    ``data.root``. ``resume`` True continues from ``out/last.pt`` (a path: from that checkpoint) with the same result
    as an uninterrupted run. ``progress`` None shows the bar when stderr is a terminal. A Ctrl-C or SIGTERM saves
    ``last.pt`` and returns a result whose ``interrupted`` names the signal. Bad input raises :class:`ReidError`.

    The whole recipe is validated before any work. A folder that already holds a run is refused unless ``resume``
    (continue it) or ``overwrite`` (discard its ``last.pt``, ``best.pt``, ``metrics.jsonl`` and ``config.json`` once
    the new run is set up). ``resume`` refuses a recipe or training identities (the train pids and tracklet count)
    that differ from the checkpoint's, listing the differences, unless ``accept_changes``.
    """
    from reid_train.engine.config import load_config
    from reid_train.engine.trainer import Trainer

    started = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ReidError(f"{out}: exists and is not a folder; pass a run folder for --out")
    if resume and overwrite:
        raise ReidError(f"{out}: --resume continues the run there and --overwrite discards it; pass only one")
    if accept_changes and not resume:
        raise ReidError("--accept-changes applies to --resume only (it accepts a changed recipe or data on resume)")
    settings = list(overrides)
    if data_root is not None:
        root = Path(data_root)
        if not root.is_dir():
            raise ReidError(f"{root}: no such folder; expected the dataset root (e.g. from reid data synth)")
        settings.append(f"data.root={json.dumps(str(root))}")  # quoted: a folder named 2024 stays a string
    recipe = load_config(config, settings)
    held = [name for name in RUN_FILES if (out / name).exists()]
    accepted: list[str] = []
    if resume:
        checkpoint = out / "last.pt" if resume is True else Path(resume)
        if not checkpoint.is_file():
            start = ("run without --resume to start" if not held else
                     f"pass --overwrite instead to discard {', '.join(held)} and start again")
            raise ReidError(f"{checkpoint}: nothing to resume (no checkpoint there); {start}")
        accepted = _check_resume(checkpoint, recipe, accept_changes, log)
    elif held and not overwrite:
        raise ReidError(f"{out}: holds a run ({', '.join(held)}); pass --resume to continue it, or --overwrite to "
                        "discard it and start again")
    show = sys.stderr.isatty() if progress is None else bool(progress)
    trainer = Trainer(recipe, out, resume=resume, progress=show)
    try:
        if resume and any(key.startswith("optim.") for key in accepted):
            _apply_optim(trainer, recipe["optim"])
        if overwrite and held and trainer.is_main:  # only now that the new run is set up (data, model)
            log(f"Discarding the previous run in {out} ({', '.join(held)})")
            for name in held:
                (out / name).unlink(missing_ok=True)
        first_epoch = trainer.start_epoch
        parameters = sum(p.numel() for p in trainer.model.parameters())
        epochs = recipe["optim"]["epochs"]
        if trainer.is_main:
            where = f"from epoch {first_epoch + 1}, step {trainer.start_step}" if resume else "from scratch"
            log(f"Training {recipe['model']['name']} ({parameters / 1e6:.2f} M parameters) on "
                f"{recipe['data']['dataset']} at {recipe['data']['root']}: {epochs} epochs of "
                f"{trainer.steps_per_epoch()} iterations, {where} -> {out}")
            warning = random_init_warning(recipe)
            if warning and not resume:
                log(warning)
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


# Where a backbone's ImageNet weights come from (no file is downloaded here): backbone family -> example file name.
IMAGENET_FILES = {
    "resnet": "resnet50-0676ba61.pth (torchvision's resnet50 ImageNet file; resnet18/34 likewise)",
    "osnet": "osnet_x1_0_imagenet.pth (torchreid's model zoo; one per width)",
    "mobilenetv3": "mobilenet_v3_large-8738ca79.pth / mobilenet_v3_small-047dcff4.pth (torchvision's)",
}


def random_init_warning(recipe: dict) -> str | None:
    """The loud line for a real backbone trained from random weights, where the papers start from ImageNet; None
    for the tiny test backbone or when ``model.pretrained`` is set."""
    from reid_train.models import backbone_of
    from reid_train.models.backbones import BACKBONES

    backbone = backbone_of(recipe["model"]["name"])
    if recipe["model"]["pretrained"] or backbone is None or backbone == "resnet_tiny":
        return None
    example = IMAGENET_FILES[BACKBONES[backbone].family]
    return (f"WARNING: {recipe['model']['name']} starts from random weights (model.pretrained is not set), while "
            f"STA, ASTA and the OSNet recipes start from an ImageNet-pretrained backbone: expect far lower accuracy. "
            f"Pass the {backbone} file, e.g. --set model.pretrained={example.split(' ')[0]} ({example})")


def _check_resume(checkpoint: Path, recipe: dict, accept_changes: bool, log: Log) -> list[str]:
    """Compare the recipe and the training identities with those saved in ``checkpoint``; refuse a difference (one
    line listing them) unless ``accept_changes``, and a schedule the checkpoint has already run. Returns the recipe
    keys whose change was accepted."""
    from reid_runtime.data.registry import load_dataset
    from reid_train.engine.checkpoint import load_checkpoint
    from reid_train.engine.config import describe_changes, recipe_changes

    saved = load_checkpoint(checkpoint)
    if not isinstance(saved.get("config"), dict) or "epoch" not in saved:
        raise ReidError(f"{checkpoint}: holds no training state to resume from; expected the last.pt of a reid "
                        "train run")
    epoch, epochs = int(saved["epoch"]), recipe["optim"]["epochs"]
    if epoch >= epochs:
        raise ReidError(f"{checkpoint}: the run has already trained {epoch} epochs and optim.epochs is {epochs}; "
                        "nothing to resume (raise optim.epochs to train longer)")
    changes, free = recipe_changes(saved["config"], recipe)
    d = recipe["data"]
    if not d["root"]:
        raise ReidError("no dataset root: pass --data-root DIR (or data.root in the recipe)")
    splits = load_dataset(d["dataset"], d["root"], protocol=d["protocol"], min_seq_len=d["min_seq_len"])
    pids = sorted({t.pid for t in splits.train})
    differences = [f"recipe {describe_changes(changes)}"] if changes else []
    identities = _identity_changes(saved, pids, len(splits.train))
    if identities:
        differences.append(f"training identities {identities}")
    if not differences:
        if free:
            log(f"Resuming with {describe_changes(free)}")
        return []
    saved_pids = list(saved.get("pids") or [])
    if saved_pids and len(saved_pids) != len(pids):
        raise ReidError(f"{checkpoint}: the data differs from the saved run's ({'; '.join(differences)}); this "
                        f"cannot be accepted: the model classifies {len(saved_pids)} identities, the data has "
                        f"{len(pids)}. Start a new run (--overwrite or another --out)")
    if not accept_changes:
        raise ReidError(f"{checkpoint}: the run differs from the saved one: {'; '.join(differences)}. Pass "
                        "--accept-changes to resume with them, or train into another --out")
    log(f"Resuming with accepted changes: {'; '.join(differences)}"
        + (f"; and {describe_changes(free)}" if free else ""))
    return [key for key, _, _ in changes]


def _apply_optim(trainer: Any, optim: dict) -> None:
    """Give the resumed optimizer and schedule the accepted ``optim`` values (the checkpoint's state restored the old
    ones): the learning rate the new schedule has at the checkpoint's epoch, the new weight decay."""
    from collections import Counter

    scheduler = trainer.scheduler
    scheduler.milestones = Counter(optim["milestones"])
    scheduler.gamma = optim["gamma"]
    scheduler.base_lrs = [optim["lr"] for _ in scheduler.base_lrs]
    decays = bisect.bisect_right(sorted(optim["milestones"]), scheduler.last_epoch)
    lr = optim["lr"] * optim["gamma"] ** decays
    for group in trainer.optimizer.param_groups:
        group.update(initial_lr=optim["lr"], lr=lr, weight_decay=optim["weight_decay"])
    scheduler._last_lr = [lr for _ in scheduler.base_lrs]


def _identity_changes(saved: dict, pids: list, tracklets: int) -> str:
    """What differs between the identities saved in a checkpoint and the dataset's ('' when nothing does)."""
    parts = []
    saved_pids = saved.get("pids")
    if saved_pids is not None:
        old, new = set(saved_pids), set(pids)
        added, missing = _sorted(new - old), _sorted(old - new)
        if added:
            parts.append(f"{len(added)} new ({_some(added)})")
        if missing:
            parts.append(f"{len(missing)} missing ({_some(missing)})")
    saved_tracklets = saved.get("train_tracklets")
    if saved_tracklets is not None and saved_tracklets != tracklets:
        parts.append(f"train tracklets {saved_tracklets} -> {tracklets}")
    return ", ".join(parts)


def _sorted(items: set) -> list:
    try:
        return sorted(items)
    except TypeError:  # pids of mixed types
        return sorted(items, key=str)


def _some(items: list, limit: int = 5) -> str:
    shown = ", ".join(str(item) for item in items[:limit])
    return shown + (f", ... {len(items) - limit} more" if len(items) > limit else "")
