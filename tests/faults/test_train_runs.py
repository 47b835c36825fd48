"""Fault suite: training runs that cannot be clobbered or mixed, logs consistent with checkpoints after a crash, and
a recipe validated whole before any work.

Every case runs the real ``reid`` console script in a fresh process on the tiny synthetic MARS data: a folder that
holds a run (finished, or interrupted and its ``--resume`` forgotten) is refused and left byte for byte as it was;
``--overwrite`` discards it; ``--resume`` lists what differs (recipe, training identities) and refuses unless
``--accept-changes``; a SIGTERM or a kill -9 followed by ``--resume`` ends with the weights of an uninterrupted run
and a metrics.jsonl that logs each epoch once.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from reid_runtime.data.synth import SynthConfig, synthesize

TINY = [
    "model.name=sta_tiny", "model.kwargs={num_regions: 4, embedding_dim: 32, width: 16}", "data.input_size=[64, 32]",
    "data.p=3", "data.k=2", "data.num_workers=0", "data.test_max_clips=2", "optim.milestones=[4]",
    "train.eval_every=0", "train.max_steps_per_epoch=2", "train.threads=1",
]
RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl", "config.json")


def _reid() -> list[str]:
    script = Path(sys.executable).parent / "reid"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "reid_runtime.cli.main"]


def _args(root: Path, out: Path, *extra: str, epochs: int = 2) -> list[str]:
    sets = [part for item in [*TINY, f"optim.epochs={epochs}"] for part in ("--set", item)]
    return [*_reid(), "train", "--config", "demo", "--data-root", str(root), "--out", str(out), "--no-progress",
            *sets, *extra]


def _run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


@pytest.fixture(scope="module")
def finished(tiny_mars, tmp_path_factory) -> Path:
    """A finished 2-epoch run (the template each test copies)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    done = _run(_args(tiny_mars, out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert {p.name for p in out.iterdir()} >= set(RUN_FILES)
    return out


@pytest.fixture
def run(finished, tmp_path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "run"))


@pytest.mark.parametrize("keep", [RUN_FILES, ("last.pt",), ("best.pt",), ("metrics.jsonl",), ("config.json",)])
def test_a_folder_holding_a_run_is_refused_and_left_as_it_was(tiny_mars, run, keep):
    for name in RUN_FILES:
        if name not in keep:
            (run / name).unlink()
    before = _snapshot(run)
    line = _one_line_error(_run(_args(tiny_mars, run)))
    assert f"{run}: holds a run ({', '.join(keep)})" in line and "--resume" in line and "--overwrite" in line
    assert _snapshot(run) == before


def test_overwrite_discards_the_old_run_and_starts_again(tiny_mars, run):
    done = _run(_args(tiny_mars, run, "--overwrite", epochs=1))
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"Discarding the previous run in {run}" in done.stdout
    assert [r["epoch"] for r in _records(run)] == [1]
    assert json.loads((run / "config.json").read_text())["optim"]["epochs"] == 1
    assert torch.load(run / "last.pt", weights_only=True)["epoch"] == 1


@pytest.mark.parametrize("bad", [["--set", "optim.lr=fast"], ["--set", "data.p=50"]])
def test_overwrite_keeps_the_old_run_when_the_new_one_cannot_start(tiny_mars, run, bad):
    before = _snapshot(run)
    _one_line_error(_run(_args(tiny_mars, run, "--overwrite", *bad)))
    assert _snapshot(run) == before


def test_resume_with_a_changed_recipe_lists_the_differences_and_refuses(tiny_mars, run):
    before = _snapshot(run)
    done = _run(_args(tiny_mars, run, "--resume", "--set", "loss.triplet_margin=0.5", "--set", "data.k=3", epochs=3))
    line = _one_line_error(done)
    assert f"{run / 'last.pt'}: the run differs from the saved one" in line
    assert "loss.triplet_margin 0.3 -> 0.5" in line and "data.k 2 -> 3" in line and "--accept-changes" in line
    assert "optim.epochs" not in line  # the run's length may change
    assert _snapshot(run) == before


def test_accept_changes_resumes_with_the_new_recipe(tiny_mars, run):
    done = _run(_args(tiny_mars, run, "--resume", "--accept-changes", "--set", "optim.lr=0.002", epochs=3))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Resuming with accepted changes: recipe optim.lr 0.001 -> 0.002" in done.stdout
    assert json.loads((run / "config.json").read_text())["optim"]["lr"] == 0.002
    records = _records(run)
    assert [r["event"] for r in records] == ["epoch", "epoch", "resume", "epoch"]
    assert records[-1]["epoch"] == 3 and records[-1]["lr"] == pytest.approx(0.002)  # the new rate took effect


def test_changed_training_identities_are_listed_and_refused(tmp_path, run):
    other = tmp_path / "other"  # as many identities as the run's data, other ones
    synthesize(SynthConfig(layout="mars", ids=6, size=(64, 32), min_len=4, max_len=8, seed=7), other)
    before = _snapshot(run)
    line = _one_line_error(_run(_args(other, run, "--resume", epochs=3)))
    assert "the run differs from the saved one: training identities" in line and "--accept-changes" in line
    assert "data.root" not in line  # where the data lives may change; what it holds may not
    assert _snapshot(run) == before

    more = tmp_path / "more"  # a different number of identities cannot be accepted: the classifier has 6 outputs
    synthesize(SynthConfig(layout="mars", ids=8, size=(64, 32), min_len=4, max_len=8, seed=7), more)
    line = _one_line_error(_run(_args(more, run, "--resume", "--accept-changes", epochs=3)))
    assert "cannot be accepted" in line and "6 identities" in line
    assert _snapshot(run) == before


def test_resume_of_a_finished_run_says_so(tiny_mars, run):
    line = _one_line_error(_run(_args(tiny_mars, run, "--resume")))
    assert "already trained 2 epochs" in line and "raise optim.epochs" in line


# ---- crashes --------------------------------------------------------------------------------------------------
EPOCHS = 12
CRASH = ("--set", "train.checkpoint_every=3")  # checkpoints at epochs 3, 6, 9, 12: a kill can fall between two


@pytest.fixture(scope="module")
def uninterrupted(tiny_mars, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    done = _run(_args(tiny_mars, out, *CRASH, epochs=EPOCHS))
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def _start_and_stop(args: list[str], log: Path, sig: signal.Signals, after_epoch: int) -> subprocess.Popen:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if log.is_file() and any(f'"epoch": {after_epoch},' in line and '"event": "epoch"' in line
                                 for line in log.read_text().splitlines()):
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_interrupted_then_resumed_run_equals_an_uninterrupted_one(tiny_mars, tmp_path, uninterrupted, sig):
    out = tmp_path / "run"
    args = _args(tiny_mars, out, *CRASH, epochs=EPOCHS)
    proc = _start_and_stop(args, out / "metrics.jsonl", sig, after_epoch=4)
    assert proc.returncode == (130 if sig == signal.SIGTERM else -signal.SIGKILL)
    saved = torch.load(out / "last.pt", weights_only=True)
    logged = [r["epoch"] for r in _records(out) if r["event"] == "epoch"]
    if sig == signal.SIGKILL:  # killed after epoch 4 was logged: the log runs ahead of last.pt (epoch 3)
        assert saved["epoch"] % 3 == 0 and saved["epoch"] >= 3 and max(logged) >= saved["epoch"]
    else:  # SIGTERM saves where it stopped
        assert saved["epoch"] >= 4 and _records(out)[-1]["event"] == "interrupted"

    # forgetting --resume after the interrupt is refused; the interrupted run stays as it was
    before = _snapshot(out)
    assert "holds a run" in _one_line_error(_run(args))
    assert _snapshot(out) == before

    done = _run([*args, "--resume", "--json"])
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["epochs"] == EPOCHS
    reference, resumed = _weights(uninterrupted / "last.pt"), _weights(out / "last.pt")
    assert reference.keys() == resumed.keys()
    for key, value in reference.items():
        assert torch.equal(value, resumed[key]), key

    records = _records(out)
    assert [r["epoch"] for r in records if r["event"] == "epoch"] == list(range(1, EPOCHS + 1))
    resume = next(i for i, r in enumerate(records) if r["event"] == "resume")
    assert all(r["epoch"] <= saved["epoch"] for r in records[:resume] if r["event"] == "epoch")
    final = [r for r in _records(uninterrupted) if r["event"] == "epoch"][-1]
    assert records[-1]["loss"] == pytest.approx(final["loss"]) and records[-1]["eval_mAP"] == final["eval_mAP"]


# ---- the recipe, validated before any work --------------------------------------------------------------------
@pytest.mark.parametrize(("bad", "message"), [
    (["--set", "optim.lr=fast"], "--set optim.lr=fast: optim.lr is 'fast', expected a number"),
    (["--set", "optim.epochs=2.5"], "--set optim.epochs=2.5: optim.epochs is 2.5, expected an integer"),
    (["--set", "train.checkpoint_every=0"], "train.checkpoint_every is 0, expected a value >= 1"),
    (["--set", "optim.epoch=3"], "unknown config key 'optim.epoch'. Did you mean 'optim.epochs'?"),
])
def test_a_bad_recipe_value_is_one_line_before_any_work(tiny_mars, tmp_path, bad, message):
    line = _one_line_error(_run(_args(tiny_mars, tmp_path / "run", *bad)))
    assert message in line
    assert not (tmp_path / "run").exists()


def test_a_bad_value_in_a_recipe_file_names_the_file(tiny_mars, tmp_path):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("model:\n  name: sta_tiny\noptim:\n  lr: fast\n")
    args = [*_reid(), "train", "--config", str(recipe), "--data-root", str(tiny_mars), "--out", str(tmp_path / "run")]
    assert _one_line_error(_run(args)) == f"Error: {recipe}: optim.lr is 'fast', expected a number"
    assert not (tmp_path / "run").exists()
