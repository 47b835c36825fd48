"""`reid verify` / `verify()`: PyTorch vs ONNX Runtime on random and real tracklets, tolerances, failures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reid_export import api
from reid_export.verification import compare, open_onnx, tolerance_for, tracklet_frames, verify, verify_files
from reid_runtime.errors import ReidError
from reid_train.engine.checkpoint import load_model


def test_default_tolerances_per_precision_and_overrides():
    assert (tolerance_for("fp32").max_abs, tolerance_for("fp32").min_cosine) == (1e-3, 0.9999)
    assert (tolerance_for("fp16").max_abs, tolerance_for("fp16").min_cosine) == (None, 0.999)
    assert tolerance_for("int8").min_cosine == 0.98
    assert tolerance_for("fp16", max_abs=0.01, min_cosine=0.99) == type(tolerance_for("fp16"))(0.01, 0.99)
    with pytest.raises(ValueError, match="bf16"):
        tolerance_for("bf16")


def test_compare_reports_max_abs_scale_and_min_cosine():
    reference = np.array([[3.0, 4.0], [1.0, 0.0]])
    output = np.array([[3.0, 4.5], [0.0, 1.0]])
    max_abs, scale, cosine = compare(reference, output)
    assert (max_abs, scale) == (1.0, 4.0) and cosine == pytest.approx(0.0)


def test_tolerance_is_relative_to_output_scale(checkpoints):
    model, _ = load_model(checkpoints["tp_tiny"])

    def scaled(frames):  # 5e-4 relative error: passes 1e-3 x scale, fails 1e-4 x scale
        import torch

        with torch.no_grad():
            return model(torch.from_numpy(frames)).numpy() * (1 + 5e-4)

    grid = {"seq_lengths": (1, 3), "batch_sizes": (2,)}
    assert verify(model, scaled, **grid).passed
    failed = verify(model, scaled, tolerance=tolerance_for("fp32", max_abs=1e-4), **grid)
    assert not failed.passed and "NO" in failed.table() and "FAILED" in failed.summary()


def test_tracklet_frames_cycles_short_tracklets():
    pool = [np.full((2, 3, 4, 4), i, dtype=np.float32) for i in range(2)]
    frames = tracklet_frames(pool, batch=3, seq=5)
    assert frames.shape == (3, 5, 3, 4, 4)
    assert [frames[b, 0, 0, 0, 0] for b in range(3)] == [0, 1, 0]


def test_verify_cli_on_real_mars_tracklets(reid, full_exports, checkpoints, synth_mars):
    path, _ = full_exports["sta_tiny"]
    run = reid("verify", "--model", path, "--reference", checkpoints["sta_tiny"], "--data-root", synth_mars,
               "--dataset", "mars", "--seq-lens", "1,4,9", "--batch-sizes", "1,3")
    assert run.code == 0, run.err
    rows = [line.split() for line in run.out.splitlines() if line.startswith(("random", "mars"))]
    assert len(rows) == 12 and {row[0] for row in rows} == {"random", "mars"}
    assert {(row[1], row[2]) for row in rows} == {(b, t) for b in ("1", "3") for t in ("1", "4", "9")}
    assert "verification passed" in run.out


def test_verify_cli_json(reid, split_exports, checkpoints):
    backbone = split_exports["tp_tiny"][1].files[0]
    run = reid("verify", "--model", backbone, "--reference", checkpoints["tp_tiny"], "--seq-lens", "2,5",
               "--batch-sizes", "2", "--json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["passed"] and report["precision"] == "fp32"
    assert (report["model"], report["reference"]) == (str(backbone), str(checkpoints["tp_tiny"]))
    assert (report["seq_lens"], report["batch_sizes"]) == ([2, 5], [2])
    assert [(c["source"], c["batch"], c["seq"]) for c in report["cases"]] == [("random", 2, 2), ("random", 2, 5)]
    assert all(c["min_cosine"] >= 0.9999 for c in report["cases"])
    assert report["tolerance"] == {"max_abs": 1e-3, "min_cosine": 0.9999}
    assert "verification passed" in run.err


def test_verify_cli_fails_beyond_tolerance_in_one_line(reid, full_exports, checkpoints):
    path, _ = full_exports["tp_tiny"]
    run = reid("verify", "--model", path, "--reference", checkpoints["tp_tiny"], "--max-abs", "0", "--seq-lens", "2",
               "--batch-sizes", "2", "--json")
    assert run.code == 2 and json.loads(run.out)["passed"] is False
    assert "FAILED" in run.err and run.err.strip().splitlines()[-1].startswith(f"Error: {path}: does not match")


def test_verify_against_the_registry_name_an_export_came_from(tmp_path):
    result = api.export("sta_tiny", "onnx", tmp_path / "sta.onnx", size=(64, 32), no_verify=True)
    report = api.verify(result.files[0], "sta_tiny", seq_lens=(3,), batch_sizes=(2,))
    assert report.passed and report.reference == "sta_tiny"


def test_python_verify_refuses_unknown_options_and_non_onnx(full_exports, checkpoints):
    with pytest.raises(ReidError, match="verify\\(\\) has no option 'seq_lengths'"):
        api.verify(full_exports["sta_tiny"][0], checkpoints["sta_tiny"], seq_lengths=(2,))
    with pytest.raises(ReidError, match="compares an exported .onnx"):
        api.verify(checkpoints["sta_tiny"], checkpoints["sta_tiny"])


def test_verify_rejects_a_model_of_another_checkpoint(full_exports, checkpoints):
    with pytest.raises(ReidError, match="D=1024"):
        verify_files(checkpoints["tp_tiny"], full_exports["sta_tiny"][0], seq_lengths=(2,), batch_sizes=(1,))


def test_verify_needs_data_root_and_dataset_together(full_exports, checkpoints, synth_mars):
    with pytest.raises(ReidError, match="together"):
        verify_files(checkpoints["sta_tiny"], full_exports["sta_tiny"][0], data_root=synth_mars)


def test_open_onnx_rejects_a_foreign_file(tmp_path):
    foreign = tmp_path / "foreign.onnx"
    foreign.write_bytes(b"not a model")
    with pytest.raises(ReidError, match="not a readable ONNX model"):
        open_onnx(foreign)
