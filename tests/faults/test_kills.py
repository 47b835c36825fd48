"""Fault suite: ``kill -9`` in the middle of ``reid export`` and ``reid embed``, then the same command again.

Whatever the moment of the kill, the output is either absent or complete (atomic writes), and running the same
command again gives exactly the result of a run that was never interrupted. (``reid train`` is covered by
``test_train_runs.py``.) The kill times are spread over the run, so each test hits several phases.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ENTRY = [sys.executable, "-m", "reid_runtime.cli.main"]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*ENTRY, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def _killed(args: list[str], cwd: Path, after: float) -> int:
    """Start ``reid ARGS`` and SIGKILL it ``after`` seconds later (if still running); its return code."""
    proc = subprocess.Popen([*ENTRY, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + after
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    return proc.wait()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


def test_export_killed_at_any_moment_leaves_nothing_half_written(sta_checkpoint, tmp_path):
    clean = tmp_path / "clean"
    clean.mkdir()
    args = ["export", "--model", str(sta_checkpoint), "--format", "onnx", "--out", "sta.onnx", "--no-verify"]
    assert _run(args, clean).returncode == 0
    reference = (clean / "sta.onnx").read_bytes()
    for after in (0.5, 2.0, 4.0):
        work = tmp_path / f"killed_{after}"
        work.mkdir()
        _killed(args, work, after)
        out = work / "sta.onnx"
        assert not out.exists() or out.read_bytes() == reference, f"half-written export after {after} s"
        again = _run(args, work)
        assert again.returncode == 0, again.stderr
        assert out.read_bytes() == reference
        assert _leftovers(work) == []


@pytest.fixture
def crops(tmp_path, make_tracklets) -> Path:
    folder = tmp_path / "crops"
    for i, frames in enumerate(make_tracklets([3, 5, 8, 4, 6, 7, 2, 9] * 4)):
        (folder / f"t{i:03d}").mkdir(parents=True)
        for j, frame in enumerate(frames):
            Image.fromarray(frame).save(folder / f"t{i:03d}" / f"{j}.png")
    return folder


def test_embed_killed_at_any_moment_resumes_to_the_uninterrupted_result(sta_split, crops, tmp_path):
    def args(out: Path) -> list[str]:
        return ["embed", "--model", str(sta_split), "--tracklets", str(crops), "--out", str(out), "--chunk-size", "4",
                "--no-progress"]

    clean = tmp_path / "clean.npz"
    assert _run(args(clean), tmp_path).returncode == 0
    with np.load(clean, allow_pickle=False) as expected_file:
        expected = expected_file["embeddings"]
    for after in (1.0, 2.0, 3.0):
        out = tmp_path / f"killed_{after}.npz"
        _killed(args(out), tmp_path, after)
        assert not out.exists() or np.load(out, allow_pickle=False)["embeddings"].shape == expected.shape
        again = _run(args(out), tmp_path)
        assert again.returncode == 0, again.stderr
        with np.load(out, allow_pickle=False) as got:
            np.testing.assert_allclose(got["embeddings"], expected, rtol=1e-5, atol=1e-6)
            assert list(got["tids"]) == sorted(p.name for p in crops.iterdir())
    assert _leftovers(tmp_path) == []
