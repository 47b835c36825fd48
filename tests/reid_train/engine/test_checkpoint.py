"""Checkpoints hold plain values only (they load with weights_only=True); old-format files are refused in one line and
converted only on explicit request for a trusted file."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from reid_runtime.errors import ReidError
from reid_train.engine.checkpoint import (
    FORMAT,
    OLD_FORMAT,
    check_plain,
    convert_checkpoint,
    load_checkpoint,
    load_model,
    load_scheduler_state,
    rng_state,
    save_checkpoint,
    scheduler_state,
    set_rng_state,
)
from reid_train.models import create_model

MODEL = dict(name="sta_tiny", num_classes=4, input_size=(64, 32), width=16, embedding_dim=32)


def _draws() -> tuple:
    return (random.random(), random.gauss(0, 1), np.random.rand(3).tolist(), np.random.randn(),
            torch.rand(3).tolist())


def _old_format_checkpoint(path: Path) -> dict:
    """A checkpoint as the previous version wrote it: RNG states as Python / numpy objects, MultiStepLR's Counter,
    format 1 -- it does not load with weights_only=True."""
    torch.manual_seed(3)
    model = create_model(**MODEL).eval()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 4], gamma=0.1)
    model(torch.rand(2, 2, 3, 64, 32)).sum().backward()
    optimizer.step()
    scheduler.step()
    random.seed(5)
    random.gauss(0, 1)  # a cached gaussian in neither RNG would hide a lost field
    np.random.seed(6)
    np.random.randn()
    payload = {
        "format": OLD_FORMAT, "toolkit_version": "0.1.0", "model": model.state_dict(),
        "model_config": model.model_config, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "scaler": {}, "generator": torch.Generator().manual_seed(7).get_state(),
        "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()},
        "epoch": 1, "step_in_epoch": 2, "global_step": 5, "best_map": np.float64(12.5), "config": {"seed": 0},
        "pids": [3, 1], "dataset": "mars",
    }
    assert isinstance(payload["scheduler"]["milestones"], Counter)
    torch.save(payload, path)
    return payload


def _reid(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reid_runtime.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def test_saved_checkpoint_loads_with_weights_only_and_names_nothing_unsafe(tmp_path):
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[1, 3])
    path = save_checkpoint(tmp_path / "c.pt", {"rng": rng_state(), "scheduler": scheduler_state(scheduler),
                                               "optimizer": optimizer.state_dict()})
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT == "reid-toolkit-checkpoint/2"
    assert load_checkpoint(path)["scheduler"]["milestones"] == {1: 1, 3: 1}


def test_rng_state_round_trips_every_generator():
    random.gauss(0, 1)
    state = rng_state()
    expected = _draws()
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    set_rng_state(state)
    assert _draws() == expected


def test_scheduler_counter_becomes_a_dict_and_back():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[1, 1, 2], gamma=0.5)
    state = scheduler_state(scheduler)
    assert type(state["milestones"]) is dict and state["milestones"] == {1: 2, 2: 1}
    other = torch.optim.lr_scheduler.MultiStepLR(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0),
                                                 milestones=[9])
    load_scheduler_state(other, state)
    assert other.milestones == Counter({1: 2, 2: 1}) and isinstance(other.milestones, Counter)
    other.optimizer.step()
    other.step()
    assert other.get_last_lr() == [0.25]  # the doubled milestone still counts twice


def test_save_refuses_values_that_would_need_unpickling(tmp_path):
    with pytest.raises(TypeError, match=r"\['rng'\]\['key'\] is a numpy.ndarray"):
        save_checkpoint(tmp_path / "c.pt", {"rng": {"key": np.zeros(3)}})
    with pytest.raises(TypeError, match="collections.Counter"):
        check_plain({"milestones": Counter({1: 1})})
    assert not (tmp_path / "c.pt").exists()


def test_old_format_is_refused_in_one_line_with_the_command_that_converts_it(tmp_path):
    old = tmp_path / "old.pt"
    _old_format_checkpoint(old)
    with pytest.raises(ReidError) as info:
        load_checkpoint(old)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{old}: ") and OLD_FORMAT in message
    assert f"reid checkpoint convert --model {old} --out NEW.pt --trust-this-file" in message
    assert "weights_only` set to `False" not in message  # torch's advice to load unsafely is not passed on


def test_convert_needs_the_trust_flag_and_another_output(tmp_path):
    old = tmp_path / "old.pt"
    _old_format_checkpoint(old)
    before = old.read_bytes()
    with pytest.raises(ReidError, match="--trust-this-file"):
        convert_checkpoint(old, tmp_path / "new.pt")
    with pytest.raises(ReidError, match="--out must differ from --model"):
        convert_checkpoint(old, tmp_path / "." / "old.pt", trust=True)
    assert old.read_bytes() == before and not (tmp_path / "new.pt").exists()


def test_converted_checkpoint_keeps_model_rng_and_schedule(tmp_path):
    old = tmp_path / "old.pt"
    payload = _old_format_checkpoint(old)
    new = convert_checkpoint(old, tmp_path / "new.pt", trust=True)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(new) == []
    ckpt = torch.load(new, weights_only=True)
    assert ckpt["format"] == FORMAT and ckpt["converted_from"]["format"] == OLD_FORMAT
    assert ckpt["best_map"] == 12.5 and type(ckpt["best_map"]) is float

    model, _ = load_model(new)
    reference = create_model(**MODEL).eval()
    reference.load_state_dict(payload["model"])
    frames = torch.rand(2, 3, 3, 64, 32) * 255
    torch.testing.assert_close(model(frames), reference(frames), rtol=0, atol=0)

    random.setstate(payload["rng"]["python"])
    np.random.set_state(payload["rng"]["numpy"])
    torch.set_rng_state(payload["rng"]["torch"])
    expected = _draws()
    set_rng_state(ckpt["rng"])
    assert _draws() == expected

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[7])
    load_scheduler_state(scheduler, ckpt["scheduler"])
    assert scheduler.milestones == payload["scheduler"]["milestones"] and scheduler.last_epoch == 1


def test_reid_checkpoint_convert_command(tmp_path):
    old = tmp_path / "old.pt"
    _old_format_checkpoint(old)
    refused = _reid("info", old)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "reid checkpoint convert" in refused.stderr

    no_trust = _reid("checkpoint", "convert", "--model", old, "--out", tmp_path / "new.pt")
    assert no_trust.returncode == 2 and "--trust-this-file" in no_trust.stderr
    assert len(no_trust.stderr.strip().splitlines()) == 1 and not (tmp_path / "new.pt").exists()

    done = _reid("checkpoint", "convert", "--model", old, "--out", tmp_path / "new.pt", "--trust-this-file")
    assert done.returncode == 0, done.stderr
    info = _reid("info", tmp_path / "new.pt", "--json")
    assert info.returncode == 0, info.stderr
    assert "sta_tiny" in info.stdout
