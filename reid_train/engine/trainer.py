"""The training loop: PK batches, AMP on CUDA, torchrun DDP, atomic per-epoch checkpoints, exact resume,
JSONL metrics, periodic evaluation, and a clean stop on Ctrl-C / SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from reid_runtime.data.registry import load_dataset
from reid_runtime.errors import ReidError
from reid_runtime.io import write_json_atomic
from reid_runtime.metrics import evaluate_ranking, pairwise_distance
from reid_train.data.pk_sampler import PKSampler
from reid_train.data.transforms import build_train_transform
from reid_train.data.video_dataset import VideoTrainDataset
from reid_train.engine.checkpoint import (
    CONVERT_HINT,
    FORMAT,
    load_checkpoint,
    load_scheduler_state,
    rng_state,
    save_checkpoint,
    scheduler_state,
    set_rng_state,
)
from reid_train.engine.features import extract_features
from reid_train.engine.objective import Objective
from reid_train.models import create_model


class Trainer:
    """Trains one recipe into ``out_dir`` (``last.pt``, ``best.pt``, ``metrics.jsonl``, ``config.json``)."""

    def __init__(self, config: dict, out_dir: str | Path, *, resume: str | Path | bool = False, progress: bool = True):
        self.config = config
        self.out_dir = Path(out_dir)
        self.progress = progress
        self._stop_signal: str | None = None
        self._setup_distributed()
        self._setup_device()
        torch.manual_seed(config["train"]["seed"])
        np.random.seed(config["train"]["seed"] % 2**32)
        self._build_data()
        self._build_model()
        self.start_epoch, self.start_step, self.global_step = 0, 0, 0
        self.best_map = -1.0
        if resume:
            self._resume(self.out_dir / "last.pt" if resume is True else Path(resume))

    # ---- set-up -------------------------------------------------------------------------------------------
    def _setup_distributed(self) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if self.world_size > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
        self.is_main = self.rank == 0

    def _setup_device(self) -> None:
        choice = self.config["train"]["device"]
        if choice == "auto":
            choice = f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(choice)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.config["train"]["threads"]:
            torch.set_num_threads(int(self.config["train"]["threads"]))
        self.use_amp = bool(self.config["train"]["amp"]) and self.device.type == "cuda"

    def _build_data(self) -> None:
        d = self.config["data"]
        if not d["root"]:
            raise ReidError("no dataset root: pass --data-root DIR (or data.root in the recipe)")
        self.splits = load_dataset(d["dataset"], d["root"], protocol=d["protocol"], min_seq_len=d["min_seq_len"])
        size = tuple(d["input_size"])
        transform = build_train_transform(size, flip=d["flip"], pad=d["pad"], erasing_p=d["erasing_p"])
        self.train_set = VideoTrainDataset(
            self.splits.train, seq_len=d["seq_len"], sampling=d["train_sampling"], size=size, transform=transform,
            attribute_schema=self.splits.attribute_schema, seed=self.config["train"]["seed"],
        )
        identities = len(set(self.train_set.labels))
        if identities < d["p"]:
            raise ReidError(f"{d['root']}: the train split holds {identities} identities, fewer than the "
                            f"{d['p']} a batch takes (data.p); use a larger dataset or --set data.p={identities}")
        self.sampler = PKSampler(self.train_set.labels, p=d["p"], k=d["k"], seed=self.config["train"]["seed"],
                                 rank=self.rank, world_size=self.world_size, epoch_size=d["epoch_size"])
        self.batch_size = d["p"] * d["k"]

    def _build_model(self) -> None:
        m, d = self.config["model"], self.config["data"]
        kwargs = dict(m["kwargs"])
        kwargs.setdefault("input_size", tuple(d["input_size"]))
        if m["pretrained"]:
            kwargs["pretrained"] = m["pretrained"]
        self.model = create_model(m["name"], num_classes=self.train_set.num_classes, **kwargs).to(self.device)
        self.objective = Objective(self.config["loss"], self.train_set.num_classes,
                                   attribute_schema=self.splits.attribute_schema).to(self.device)
        o = self.config["optim"]
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=o["lr"], weight_decay=o["weight_decay"],
                                          amsgrad=o["optimizer"] == "amsgrad")
        if o["scheduler"] == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=o["epochs"])
        else:
            self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, milestones=o["milestones"],
                                                                  gamma=o["gamma"])
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.generator = torch.Generator().manual_seed(self.config["train"]["seed"])
        self.train_model = self.model
        if self.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # fixbase: the frozen backbone gets no gradients for a while, which DDP must be told
            self.train_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=ids, find_unused_parameters=self.config["optim"]["fixbase_epochs"] > 0)

    # ---- checkpoints --------------------------------------------------------------------------------------
    def _state(self, epoch: int, step: int) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "model_config": self.model.model_config,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": scheduler_state(self.scheduler),  # MultiStepLR's Counter as a plain dict
            "scaler": self.scaler.state_dict(),
            "generator": self.generator.get_state(),
            "rng": rng_state(),
            "epoch": epoch,
            "step_in_epoch": step,
            "global_step": self.global_step,
            "best_map": self.best_map,
            "config": self.config,
            "pids": sorted(self.train_set.pid_to_label, key=self.train_set.pid_to_label.get),
            "dataset": self.splits.name,
            "train_tracklets": len(self.train_set.tracklets),  # with pids: the training identities --resume compares
        }

    def _save(self, name: str, epoch: int, step: int) -> Path | None:
        if not self.is_main:
            return None
        return save_checkpoint(self.out_dir / name, self._state(epoch, step))

    def _resume(self, path: Path) -> None:
        ckpt = load_checkpoint(path, map_location=self.device)
        if ckpt["format"] != FORMAT:
            raise ReidError(f"{path}: a checkpoint of the old format {ckpt['format']!r}; convert it with: "
                            + CONVERT_HINT.format(path=path))
        missing = [k for k in ("optimizer", "scheduler", "scaler", "generator", "rng", "epoch") if k not in ckpt]
        if missing:
            raise ReidError(f"{path}: holds no training state to resume from (no {', '.join(missing)}); "
                            "expected the last.pt of a reid train run")
        if ckpt["model_config"] != self.model.model_config:
            raise ReidError(f"{path}: the checkpoint's model ({ckpt['model_config']}) differs from the recipe's "
                            f"({self.model.model_config})")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        load_scheduler_state(self.scheduler, ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.generator.set_state(ckpt["generator"].cpu())
        set_rng_state(ckpt["rng"])
        self.start_epoch, self.start_step = ckpt["epoch"], ckpt["step_in_epoch"]
        self.global_step, self.best_map = ckpt["global_step"], ckpt["best_map"]
        self._truncate_metrics(self.start_epoch, self.start_step)
        self._log({"event": "resume", "from": str(path), "epoch": self.start_epoch, "step": self.start_step})

    # ---- logging ------------------------------------------------------------------------------------------
    def _log(self, record: dict[str, Any]) -> None:
        if not self.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        record = {"time": round(time.time(), 3), **record}
        with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())  # on disk before the checkpoint that follows it

    def _truncate_metrics(self, epoch: int, step: int) -> None:
        """Cut metrics.jsonl back to the checkpoint being resumed (``epoch`` epochs done, ``step`` steps into the
        next), atomically: records logged after it by a run killed between two checkpoints (and a torn last line)
        go, so the resumed run logs each epoch once."""
        from reid_runtime.io import write_bytes_atomic

        path = self.out_dir / "metrics.jsonl"
        if not self.is_main or not path.is_file():
            return
        text = path.read_text(encoding="utf-8", errors="replace")
        kept: list[str] = []
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line torn by a kill
            if not isinstance(record, dict):
                continue
            at = _log_position(record)
            if at is not None and at > (epoch, step):
                break
            kept.append(line)
        new = "".join(f"{line}\n" for line in kept)
        if new != text:
            write_bytes_atomic(path, new.encode("utf-8"))

    # ---- the loop -----------------------------------------------------------------------------------------
    def _handle_signal(self, signum, frame) -> None:
        self._stop_signal = signal.Signals(signum).name

    def _epoch_loader(self, epoch: int, skip_batches: int) -> DataLoader:
        self.sampler.set_epoch(epoch)
        self.train_set.set_epoch(epoch)
        order = list(self.sampler)[skip_batches * self.batch_size:]
        return DataLoader(self.train_set, batch_size=self.batch_size, sampler=order, drop_last=True,
                          num_workers=self.config["data"]["num_workers"], pin_memory=self.device.type == "cuda")

    def steps_per_epoch(self) -> int:
        n = len(self.sampler) // self.batch_size
        cap = self.config["train"]["max_steps_per_epoch"]
        return min(n, cap) if cap else n

    def fit(self, stop_after_steps: int | None = None) -> dict[str, Any]:
        """Train to the recipe's last epoch; returns the final metrics. ``stop_after_steps`` simulates an interrupt."""
        if self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.out_dir / "config.json", self.config)
        previous = {s: signal.signal(s, self._handle_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        epochs = self.config["optim"]["epochs"]
        last_metrics: dict[str, Any] = {}
        steps_run = 0
        try:
            for epoch in range(self.start_epoch, epochs):
                first_step = self.start_step if epoch == self.start_epoch else 0
                total = self.steps_per_epoch()
                self.train_model.train()
                self._freeze_backbone(epoch < self.config["optim"]["fixbase_epochs"])
                sums: dict[str, float] = {}
                loader = self._epoch_loader(epoch, first_step)
                bar = None
                if self.progress and self.is_main:
                    from tqdm import tqdm

                    bar = tqdm(total=total, initial=first_step, desc=f"epoch {epoch + 1}/{epochs}", unit="it",
                               leave=False)
                step = first_step
                for batch in loader:
                    if step >= total:
                        break
                    terms = self._train_step(batch)
                    for key, value in terms.items():
                        sums[key] = sums.get(key, 0.0) + value
                    step += 1
                    steps_run += 1
                    self.global_step += 1
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{terms['loss']:.3f}")
                    if self._stop_signal or (stop_after_steps is not None and steps_run >= stop_after_steps):
                        reason = self._stop_signal or "stop_after_steps"
                        path = self._save("last.pt", epoch, step)
                        self._log({"event": "interrupted", "reason": reason, "epoch": epoch, "step": step})
                        if bar is not None:
                            bar.close()
                        return {"interrupted": reason, "checkpoint": str(path), "epoch": epoch, "step": step}
                if bar is not None:
                    bar.close()
                self.scheduler.step()
                n = max(step - first_step, 1)
                record = {"event": "epoch", "epoch": epoch + 1, "lr": self.optimizer.param_groups[0]["lr"],
                          **{k: v / n for k, v in sums.items()}}
                every = self.config["train"]["eval_every"]
                if self.is_main and (epoch + 1 == epochs or (every and (epoch + 1) % every == 0)):
                    last_metrics = self.evaluate()
                    record.update({f"eval_{k}": v for k, v in last_metrics.items() if not isinstance(v, list)})
                    if last_metrics["mAP"] > self.best_map:
                        self.best_map = last_metrics["mAP"]
                        self._save("best.pt", epoch + 1, 0)
                self._log(record)
                if (epoch + 1) % self.config["train"]["checkpoint_every"] == 0 or epoch + 1 == epochs:
                    self._save("last.pt", epoch + 1, 0)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        return last_metrics

    def _freeze_backbone(self, frozen: bool) -> None:
        """The fixbase epochs (torchreid's ``fixbase_epoch``): only the new head learns while the pretrained backbone
        stays as loaded, BatchNorm statistics included; it follows the epoch number, so a resumed run does the same."""
        for parameter in self.model.backbone.parameters():
            parameter.requires_grad_(not frozen)
        if frozen:
            self.model.backbone.eval()

    def _train_step(self, batch: dict) -> dict[str, float]:
        batch = {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.use_amp):
            out = self.train_model(batch["frames"])
        loss, terms = self.objective(out, batch, generator=self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return {"loss": float(loss.detach()), **terms}

    def close(self) -> None:
        """Leave the process group of a torchrun job."""
        if self.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()

    def evaluate(self) -> dict[str, Any]:
        """Query/gallery features with deterministic test sampling, then CMC / mAP / mINP."""
        return evaluate_model(self.model, self.splits, self.config["data"], device=self.device,
                              progress=self.progress)


def _log_position(record: dict[str, Any]) -> tuple[int, int] | None:
    """Where in training a metrics.jsonl record was written: (epochs done, steps into the next epoch)."""
    epoch, step = record.get("epoch"), record.get("step", 0)
    if record.get("event") not in ("epoch", "interrupted", "resume") or type(epoch) is not int or type(step) is not int:
        return None
    return (epoch, 0) if record["event"] == "epoch" else (epoch, step)


def evaluate_model(model: torch.nn.Module, splits, data_cfg: dict, *, device: torch.device | str = "cpu",
                   seq_len: int | None = None, progress: bool = False) -> dict[str, Any]:
    """Evaluate a model on a dataset's query/gallery under the splits' protocol; values in percent."""
    kwargs = dict(seq_len=seq_len or data_cfg["test_seq_len"], sampling=data_cfg["test_sampling"],
                  size=tuple(data_cfg["input_size"]), max_clips=data_cfg["test_max_clips"], device=device,
                  progress=progress)
    qf = extract_features(model, splits.query, **kwargs)
    gf = extract_features(model, splits.gallery, **kwargs)
    metric = getattr(model, "metric", "euclidean")
    dist_qg = pairwise_distance(qf, gf, metric=metric)
    q_pids = np.array([t.pid for t in splits.query])
    g_pids = np.array([t.pid for t in splits.gallery])
    q_cams = np.array([t.camid for t in splits.query])
    g_cams = np.array([t.camid for t in splits.gallery])
    protocol = "official" if splits.protocol == "official" else "standard"
    result = evaluate_ranking(dist_qg, q_pids, g_pids, q_cams, g_cams, protocol=protocol)
    cmc = result["cmc"]
    return {
        "R1": 100 * float(cmc[0]), "R5": 100 * float(cmc[min(4, len(cmc) - 1)]),
        "R10": 100 * float(cmc[min(9, len(cmc) - 1)]), "R20": 100 * float(cmc[min(19, len(cmc) - 1)]),
        "mAP": 100 * float(result["mAP"]), "mINP": 100 * float(result["mINP"]),
        "num_valid_queries": int(result["num_valid_queries"]), "protocol": splits.protocol,
    }
