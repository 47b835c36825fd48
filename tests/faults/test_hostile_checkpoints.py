"""Fault suite: hostile pickles through every command that loads a checkpoint or a weights file.

Each hostile file is a real ``torch.save`` zip (or the legacy format) whose pickle calls ``os.system`` /
``builtins.exec`` when unpickled unsafely: it would create a marker file. Every command runs through the real entry
point (``reid_runtime.cli.main.main``, what the ``reid`` script calls; one case in a fresh process) and must refuse
the file: the marker never appears, exit status 2, one line on stderr naming the file, no output written.
"""

from __future__ import annotations

import builtins
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from reid_runtime.cli.main import main
from reid_train.engine.checkpoint import FORMAT

TRAIN_SETS = [
    "model.name=sta_tiny", "model.kwargs={num_regions: 2, embedding_dim: 32, width: 16}", "data.input_size=[64, 32]",
    "data.p=3", "data.k=2", "data.num_workers=0", "data.test_max_clips=1", "optim.milestones=[1]",
    "train.eval_every=0", "train.max_steps_per_epoch=1", "optim.epochs=1",
]
SETS = [part for item in TRAIN_SETS for part in ("--set", item)]


class Call:
    """Pickles as ``function(*args)``: what a hostile file runs when it is unpickled without restrictions."""

    def __init__(self, function, *args) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _touch(marker: Path) -> Call:
    return Call(os.system, f"touch {marker}")


def _exec(marker: Path) -> Call:
    return Call(builtins.exec, f"open({str(marker)!r}, 'w').close()")


def hostile_file(path: Path, marker: Path, kind: str = "system", base: dict | None = None) -> Path:
    """A ``.pt`` that looks like a checkpoint (format, model config, tensors) but runs code when unpickled."""
    payload = dict(base or {"format": FORMAT, "model_config": {"name": "sta_tiny"}, "model": {"w": torch.zeros(2)}})
    options = {}
    if kind == "system":
        payload["model"] = _touch(marker)
    elif kind == "exec":
        payload["model"] = _exec(marker)
    elif kind == "hidden":  # a genuine checkpoint with one field replaced deep inside
        payload["config"] = {"train": {"seed": 0, "note": [1, 2, {"x": _touch(marker)}]}}
    elif kind == "protocol4":  # STACK_GLOBAL instead of GLOBAL
        payload["rng"] = _exec(marker)
        options["pickle_protocol"] = 4
    elif kind == "legacy":  # the pre-zip torch.save format
        payload["model"] = _touch(marker)
        options["_use_new_zipfile_serialization"] = False
    else:
        raise ValueError(kind)
    torch.save(payload, path, **options)
    return path


def reid(capfd, *args) -> tuple[int, str, str]:
    """Run ``reid ARGS`` through the CLI entry point; (exit status, stdout, stderr)."""
    capfd.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capfd.readouterr()
    return code, out, err


def assert_refused(code: int, err: str, path: Path, marker: Path) -> None:
    assert not marker.exists(), "the hostile pickle ran"
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert str(path) in lines[0] and ("refused" in lines[0] or "old format" in lines[0]), lines[0]


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "MARKER"


@pytest.fixture
def evil(tmp_path: Path, marker: Path) -> Path:
    return hostile_file(tmp_path / "evil.pt", marker)


@pytest.fixture
def crops(tmp_path: Path, make_tracklets) -> Path:
    for name, frames in zip(("a", "b"), make_tracklets([3, 2])):
        (tmp_path / "crops" / name).mkdir(parents=True)
        for i, frame in enumerate(frames):
            Image.fromarray(frame).save(tmp_path / "crops" / name / f"{i:04d}.png")
    return tmp_path / "crops"


@pytest.mark.parametrize("kind", ["system", "exec", "hidden", "protocol4", "legacy"])
def test_info_refuses_every_kind_of_hostile_pickle(capfd, tmp_path, marker, sta_checkpoint, kind):
    base = torch.load(sta_checkpoint, weights_only=True) if kind == "hidden" else None
    path = hostile_file(tmp_path / f"{kind}.pt", marker, kind, base)
    code, out, err = reid(capfd, "info", path)
    assert_refused(code, err, path, marker)
    assert out == ""


def test_embed(capfd, tmp_path, marker, evil, crops):
    code, _, err = reid(capfd, "embed", "--model", evil, "--tracklets", crops, "--out", tmp_path / "e.npz")
    assert_refused(code, err, evil, marker)
    assert not (tmp_path / "e.npz").exists()


def test_eval(capfd, marker, evil, tiny_mars):
    code, _, err = reid(capfd, "eval", "--model", evil, "--data-root", tiny_mars, "--dataset", "mars",
                        "--no-progress")
    assert_refused(code, err, evil, marker)


@pytest.mark.parametrize("fmt", ["onnx", "onnx-fp16"])
def test_export(capfd, tmp_path, marker, evil, fmt):
    code, _, err = reid(capfd, "export", "--model", evil, "--format", fmt, "--out", tmp_path / "x.onnx")
    assert_refused(code, err, evil, marker)
    assert not (tmp_path / "x.onnx").exists()


def test_verify_reference(capfd, marker, evil, sta_onnx):
    code, _, err = reid(capfd, "verify", "--model", sta_onnx, "--reference", evil)
    assert_refused(code, err, evil, marker)


@pytest.mark.parametrize("bench", ["flops", "formats", "mixed", "tradeoff"])
def test_bench_commands_that_export_or_count(capfd, marker, evil, bench):
    code, _, err = reid(capfd, "bench", bench, "--model", evil)
    assert_refused(code, err, evil, marker)


def test_bench_latency_lists_the_model_as_failed(capfd, marker, evil, sta_onnx):
    """A benchmark of several models goes on past one it cannot load: that row is failed, with the one-line reason;
    with nothing left to time, the command fails in one line."""
    code, out, err = reid(capfd, "bench", "latency", "--model", sta_onnx, "--model", evil, "--runs", "1",
                          "--warmup", "0", "--min-seconds", "0", "--json")
    assert not marker.exists(), "the hostile pickle ran"
    assert code == 0, err
    good, entry = json.loads(out)["entries"]
    assert good["status"] == "ok"
    assert entry["status"] == "failed" and str(evil) in entry["reason"] and "refused" in entry["reason"]
    assert "\n" not in entry["reason"] and "Traceback" not in err
    assert sum(line.startswith(f"{evil.name} [torch]: failed: ") for line in err.splitlines()) == 1
    code, out, err = reid(capfd, "bench", "latency", "--model", evil, "--runs", "1", "--warmup", "0",
                          "--min-seconds", "0")
    assert not marker.exists() and code == 2
    assert err.strip().splitlines()[-1].startswith("Error: nothing was timed")


@pytest.mark.parametrize("kind", ["system", "protocol4", "legacy"])
def test_info_in_a_fresh_process(tmp_path, marker, kind):
    """The entry point as a user runs it (warnings and all): nothing executes, exit 2, one line on stderr."""
    evil = hostile_file(tmp_path / "evil.pt", marker, kind)
    done = subprocess.run([sys.executable, "-m", "reid_runtime.cli.main", "info", str(evil)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert_refused(done.returncode, done.stderr, evil, marker)


def test_train_resume_from_a_hostile_last_pt(capfd, tmp_path, marker, tiny_mars):
    run = tmp_path / "run"
    args = ["train", "--config", "demo", "--data-root", tiny_mars, "--out", run, "--no-progress", *SETS]
    code, _, err = reid(capfd, *args)
    assert code == 0, err
    hostile_file(run / "last.pt", marker, "hidden", torch.load(run / "last.pt", weights_only=True))
    code, _, err = reid(capfd, *args, "--resume")
    assert_refused(code, err, run / "last.pt", marker)


def test_train_with_hostile_pretrained_weights(capfd, tmp_path, marker, tiny_mars):
    weights = tmp_path / "evil.pth"
    torch.save({"conv1.weight": _touch(marker)}, weights)
    code, _, err = reid(capfd, "train", "--config", "demo", "--data-root", tiny_mars, "--out", tmp_path / "run",
                        "--no-progress", *SETS, "--set", f"model.pretrained={weights}")
    assert_refused(code, err, weights, marker)
    assert not (tmp_path / "run" / "last.pt").exists()


@pytest.mark.parametrize("trust", [False, True])
def test_checkpoint_convert_never_runs_it(capfd, tmp_path, marker, evil, trust):
    """Without --trust-this-file nothing is read; with it, only numpy's array rebuilding is allowed in, so a file that
    names os.system is refused even from a user who vouches for it."""
    code, _, err = reid(capfd, "checkpoint", "convert", "--model", evil, "--out", tmp_path / "new.pt",
                        *(["--trust-this-file"] if trust else []))
    assert not marker.exists() and code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(evil) in err and ("posix.system" in err if trust else "--trust-this-file" in err)
    assert not (tmp_path / "new.pt").exists()
