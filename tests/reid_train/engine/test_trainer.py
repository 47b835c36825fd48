"""The trainer: exact resume, clean interrupt, metrics log, checkpoints a model can be rebuilt from."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from reid_runtime.data.synth import SynthConfig, synthesize
from reid_runtime.errors import ReidError
from reid_train.engine.checkpoint import FORMAT, OLD_FORMAT, convert_checkpoint, load_checkpoint, load_model
from reid_train.engine.config import load_config
from reid_train.engine.trainer import Trainer

TINY = [
    "model.name=sta_tiny", "model.kwargs={num_regions: 4, embedding_dim: 32, width: 16}",
    "data.input_size=[64, 32]", "data.p=3", "data.k=2", "data.num_workers=0", "data.test_max_clips=2",
    "optim.milestones=[1]", "train.eval_every=0", "train.max_steps_per_epoch=3",
]


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "mars"
    synthesize(SynthConfig(layout="mars", ids=6, size=(64, 32), min_len=4, max_len=8, seed=1), root)
    return root


def _config(root: Path, *extra: str) -> dict:
    return load_config("demo", [*TINY, f"data.root={root}", *extra])


def _as_old_format(path: Path, out: Path) -> None:
    """Rewrite a checkpoint as the previous version wrote it: RNG states as the Python / numpy objects of
    random.getstate() and np.random.get_state(), MultiStepLR's milestones as a Counter, format 1."""
    ckpt = torch.load(path, weights_only=True)
    py, npy = ckpt["rng"]["python"], ckpt["rng"]["numpy"]
    ckpt["rng"]["python"] = (py["version"], tuple(py["state"].tolist()), py["gauss_next"])
    ckpt["rng"]["numpy"] = (npy["bit_generator"], npy["key"].numpy().astype(np.uint32), npy["pos"],
                            npy["has_gauss"], npy["gauss"])
    ckpt["scheduler"]["milestones"] = Counter(ckpt["scheduler"]["milestones"])
    ckpt["format"] = OLD_FORMAT
    out.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, out / "last.pt")


def test_resume_after_mid_epoch_stop_equals_uninterrupted_run(synth_root, tmp_path):
    cfg = _config(synth_root, "optim.epochs=2")
    full = Trainer(cfg, tmp_path / "full", progress=False)
    full_metrics = full.fit()

    first = Trainer(cfg, tmp_path / "split", progress=False)
    stopped = first.fit(stop_after_steps=4)  # epoch 2, step 1
    assert stopped["interrupted"] == "stop_after_steps" and (stopped["epoch"], stopped["step"]) == (1, 1)
    _as_old_format(tmp_path / "split" / "last.pt", tmp_path / "old")
    resumed = Trainer(cfg, tmp_path / "split", resume=True, progress=False)
    resumed_metrics = resumed.fit()

    for key, value in full.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert resumed_metrics["mAP"] == pytest.approx(full_metrics["mAP"])
    events = [json.loads(line)["event"] for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert events == ["epoch", "interrupted", "resume", "epoch"]

    # the same stop written by the previous version: refused, then converted on request, resumes bit for bit
    with pytest.raises(ReidError, match="reid checkpoint convert"):
        Trainer(cfg, tmp_path / "old", resume=True, progress=False)
    convert_checkpoint(tmp_path / "old" / "last.pt", tmp_path / "converted" / "last.pt", trust=True)
    converted = Trainer(cfg, tmp_path / "converted", resume=True, progress=False)
    converted.fit()
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, converted.model.state_dict()[key]), key


def test_checkpoint_rebuilds_the_model_and_logs_metrics(synth_root, tmp_path):
    trainer = Trainer(_config(synth_root, "optim.epochs=1"), tmp_path, progress=False)
    metrics = trainer.fit()
    assert {"R1", "mAP", "mINP", "num_valid_queries"} <= set(metrics)
    model, ckpt = load_model(tmp_path / "last.pt")
    assert ckpt["epoch"] == 1 and ckpt["model_config"]["name"] == "sta_tiny" and ckpt["format"] == FORMAT
    for name in ("last.pt", "best.pt"):  # nothing but tensors and plain values: loads with weights_only=True
        assert torch.serialization.get_unsafe_globals_in_checkpoint(tmp_path / name) == []
        assert load_checkpoint(tmp_path / name)["model_config"] == ckpt["model_config"]
    frames = torch.rand(2, 3, 3, 64, 32) * 255
    trainer.model.eval()
    torch.testing.assert_close(model(frames), trainer.model(frames))
    record = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["event"] == "epoch" and "eval_mAP" in record and record["loss"] > 0
    assert (tmp_path / "best.pt").is_file()


def test_resume_refuses_a_different_architecture(synth_root, tmp_path):
    Trainer(_config(synth_root, "optim.epochs=1"), tmp_path, progress=False).fit(stop_after_steps=1)
    other = _config(synth_root, "optim.epochs=1", "model.kwargs={num_regions: 2, embedding_dim: 32, width: 16}")
    with pytest.raises(Exception, match="differs"):
        Trainer(other, tmp_path, resume=True, progress=False)


def _reid(*args: str) -> list[str]:
    return [sys.executable, "-m", "reid_runtime.cli.main", *args]


def test_sigterm_saves_a_checkpoint_and_resume_finishes(synth_root, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--config", "demo", "--data-root", str(synth_root), "--out", str(out), "--no-progress",
            *[item for s in TINY if not s.startswith("train.max_steps") for item in ("--set", s)],
            "--set", "optim.epochs=50"]
    proc = subprocess.Popen(_reid(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = out / "metrics.jsonl"
    deadline = time.time() + 120
    while not (log.is_file() and log.read_text().strip()) and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert "Interrupted (SIGTERM)" in output and "--resume" in output
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["event"] == "interrupted" and last["reason"] == "SIGTERM"
    assert (out / "last.pt").is_file()

    finish = subprocess.run(_reid(*[a if a != "optim.epochs=50" else f"optim.epochs={last['epoch'] + 1}" for a in args],
                                  "--resume", "--json"), capture_output=True, text=True, timeout=300)
    assert finish.returncode == 0, finish.stderr[-2000:]
    result = json.loads(finish.stdout)
    assert result["epochs"] == last["epoch"] + 1 and result["epochs_run"] == 1 and "mAP" in result["final"]


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun with gloo")
def test_ddp_two_processes_on_cpu(synth_root, tmp_path):
    args = ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
            "-m", "reid_runtime.cli.main", "train", "--config", "demo", "--data-root", str(synth_root),
            "--out", str(tmp_path), "--no-progress", *[item for s in TINY for item in ("--set", s)],
            "--set", "optim.epochs=1", "--set", "train.threads=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    model, ckpt = load_model(tmp_path / "last.pt")
    assert ckpt["epoch"] == 1
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1  # only rank 0 logs


def test_fixbase_epochs_train_the_head_only_then_everything(synth_root, tmp_path):
    cfg = _config(synth_root, "optim.epochs=2", "optim.fixbase_epochs=1", "optim.optimizer=amsgrad",
                  "optim.scheduler=cosine")
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    stopped = trainer.fit(stop_after_steps=3)  # the whole first (fixbase) epoch: 3 steps
    assert stopped["interrupted"]
    after_fixbase = trainer.model.state_dict()
    backbone = [k for k in initial if k.startswith("backbone.")]
    assert backbone and all(torch.equal(initial[k], after_fixbase[k]) for k in backbone)  # BN statistics too
    assert not torch.equal(initial["head.fc.weight"], after_fixbase["head.fc.weight"])
    assert trainer.optimizer.param_groups[0]["amsgrad"] is True

    resumed = Trainer(cfg, tmp_path / "run", resume=True, progress=False)
    resumed.fit()
    final = resumed.model.state_dict()
    assert not torch.equal(initial["backbone.conv1.weight"], final["backbone.conv1.weight"])
    assert not torch.equal(initial["backbone.bn1.running_mean"], final["backbone.bn1.running_mean"])
    lrs = [json.loads(line)["lr"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
           if json.loads(line)["event"] == "epoch"]
    assert lrs == pytest.approx([cfg["optim"]["lr"] / 2, 0.0], abs=1e-12)  # cosine over 2 epochs: half, then zero

