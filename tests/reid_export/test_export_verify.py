"""`reid verify` / `verify()`: PyTorch vs ONNX Runtime on random and real tracklets, tolerances, failures, and STA's
selection-aware check (near-tie flips of the selected frame are reported and accepted, real errors fail)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from reid_export import api
from reid_export.verification import (
    Reference,
    check_case,
    check_clips,
    compare,
    cosines,
    open_onnx,
    run_with_selection,
    spread_error,
    tolerance_for,
    tracklet_frames,
    verify,
    verify_files,
)
from reid_runtime.aggregation import sta_fuse
from reid_runtime.errors import ReidError
from reid_train.engine.checkpoint import load_model


def test_default_tolerances_per_precision_and_overrides():
    assert (tolerance_for("fp32").max_abs, tolerance_for("fp32").min_cosine) == (1e-3, 0.9999)
    assert (tolerance_for("fp16").max_abs, tolerance_for("fp16").min_cosine) == (None, 0.999)
    assert tolerance_for("int8").min_cosine == 0.98
    # flip margins (relative score gap of an accepted near-tie flip): tiny for fp32, 1e-3 scale for fp16, larger int8
    assert [tolerance_for(p).flip_margin for p in ("fp32", "fp16", "int8")] == [1e-4, 5e-3, 0.1]
    assert tolerance_for("fp16", max_abs=0.01, min_cosine=0.99) == type(tolerance_for("fp16"))(0.01, 0.99, 5e-3)
    assert tolerance_for("fp16", flip_margin=0.02).flip_margin == 0.02
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
    assert [tracklet_frames(pool, batch=1, seq=2, start=start)[0, 0, 0, 0, 0] for start in (1, 2)] == [1, 0]


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
    assert report["tolerance"] == {"max_abs": 1e-3, "min_cosine": 0.9999, "flip_margin": 1e-4}
    assert report["selections"]["compared"] == 0  # TP averages frames: nothing is selected
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


# ---------------------------------------------------------------- STA: the selected frame per region


def _blocky(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` frames (3, 64, 32) of random 8x8 blocks: unlike pixel noise, two of them have clearly different
    strips, so selecting one or the other moves the embedding."""
    return np.kron(rng.uniform(0, 255, (count, 3, 8, 4)), np.ones((1, 1, 8, 8))).astype(np.float32)


def _scores(model, frames: np.ndarray) -> np.ndarray:
    """Raw per-frame scores s_{n,k} (N, K) of frames (N, 3, H, W) (each frame's scores depend on that frame only)."""
    with torch.no_grad():
        return model.frame_terms(model.forward_features(torch.from_numpy(frames)[None]))[0][0].numpy()


def _near_tie(model, gap: float = 1e-5, seed: int = 0) -> tuple[np.ndarray, int]:
    """A clip (1, 2, 3, H, W) whose frames 0 and 1 differ but whose scores in one region tie up to a relative
    ``gap`` (frame 0 ahead): frame 1 is a blend of two other frames, bisected to that score. Returns the region."""
    rng = np.random.default_rng(seed)
    while True:
        a, b, c = _blocky(rng, 3)
        sa, sb, sc = _scores(model, np.stack([a, b, c]))
        for k in range(len(sa)):
            target = sa[k] * (1 - gap)
            if not min(sb[k], sc[k]) < target < max(sb[k], sc[k]):
                continue
            low, high = (0.0, 1.0) if sb[k] < sc[k] else (1.0, 0.0)  # score(blend(low)) < target < score(high)
            for _ in range(50):
                middle = (low + high) / 2
                if _scores(model, ((1 - middle) * b + middle * c)[None])[0, k] < target:
                    low = middle
                else:
                    high = middle
            return np.stack([a, (1 - low) * b + low * c])[None].astype(np.float32), k


def _boosted(model, frame: int, factor: float):
    """A stand-in export: PyTorch with the raw scores of ``frame`` multiplied by ``factor`` (a relative score error),
    aggregated by the runtime's numpy STA fusion."""
    def run(frames: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            scores, strips = model.frame_terms(model.forward_features(torch.from_numpy(frames)))
            scores = scores.numpy().copy()
            scores[:, frame] *= factor
            return model.forward_fused(torch.from_numpy(sta_fuse(scores, strips.numpy()))).numpy()
    return run


@pytest.fixture(scope="module")
def sta_model(checkpoints):
    return load_model(checkpoints["sta_tiny"])[0].eval()


def test_near_tie_flip_is_reported_and_accepted(sta_model):
    clip, region = _near_tie(sta_model)
    export = _boosted(sta_model, 1, 1 + 1e-4)  # frame 1's scores 1e-4 higher: FP16-scale rounding of the scores
    case = check_clips(sta_model, export, clip, tolerance_for("fp16"))
    assert case.plain_min_cosine < 0.999  # what the plain check saw: FP16's cosine tolerance missed
    assert case.passed and case.min_cosine > 0.9999 and not case.problem
    assert [(f.clip, f.region, f.frame, f.export_frame, f.accepted) for f in case.flips] == [(0, region, 0, 1, True)]
    assert 0 < case.flips[0].margin < 2e-5 and 0 < case.flips[0].gap < case.flips[0].margin
    # told the export's selection (as a full graph's ArgMax or a split backbone's scores tell it): the same verdict
    selection = Reference(sta_model, clip).selection.copy()
    selection[0, region] = 1
    told = check_case("clips", 2, Reference(sta_model, clip), export(clip), tolerance_for("fp16"), selection)
    assert told.passed and told.flips == case.flips
    # through verify(): reported in the table, the summary and the JSON figures
    report = verify(sta_model, export, precision="fp16", real=("near-tie", [clip[0]]), seq_lengths=(2,),
                    batch_sizes=(1,))
    assert report.passed
    figures = report.to_dict()["selections"]
    assert figures["flipped"] >= 1 and figures["beyond_epsilon"] == 0 and figures["epsilon"] == 5e-3
    assert "near-ties, accepted" in report.summary()
    near = next(line for line in report.table().splitlines() if line.startswith("near-tie"))
    assert near.split()[-2:] == ["1e-05", "yes"] and near.split()[-3] == "1"


def test_large_margin_flip_fails(sta_model):
    export = _boosted(sta_model, 3, 3.0)  # frame 3 wins every region: far beyond any rounding
    report = verify(sta_model, export, precision="fp16", seq_lengths=(4,), batch_sizes=(2,))
    assert not report.passed
    case = report.cases[0]
    assert "flip beyond epsilon" in case.problem and "NO flip beyond epsilon" in report.table()
    assert case.flips and all(flip.export_frame == 3 for flip in case.flips)
    assert case.flip_margin > 10 * tolerance_for("fp16").flip_margin
    assert "beyond the fp16 epsilon 0.005, a real error" in report.summary()


def test_embedding_error_with_agreeing_selections_fails(sta_model):
    def export(frames):  # the right frames selected, the embedding off by 5% of its norm
        with torch.no_grad():
            embedding = sta_model(torch.from_numpy(frames)).numpy()
        direction = np.sin(np.arange(embedding.shape[1])) / np.sqrt(embedding.shape[1] / 2)
        return embedding + 0.05 * np.linalg.norm(embedding, axis=1, keepdims=True) * direction

    report = verify(sta_model, export, precision="fp16", seq_lengths=(1, 4), batch_sizes=(2,))
    assert not report.passed and all(not case.passed for case in report.cases)
    assert [(case.problem, case.flips) for case in report.cases] == [("embedding off", ())] * 2
    assert "NO embedding off" in report.table() and "FAILED (2 cases)" in report.summary()


@pytest.mark.parametrize("kind", ["full", "split"])
def test_the_exports_selection_is_read_from_the_graph(kind, full_exports, split_exports, checkpoints, sta_model):
    path = full_exports["sta_tiny"][0] if kind == "full" else split_exports["sta_tiny"][1].files[0]
    runner, _ = open_onnx(path)
    frames = np.stack([_blocky(np.random.default_rng(seed), 5) for seed in range(3)])  # B=3, T=5
    embedding, selection = run_with_selection(runner, frames)
    reference = Reference(sta_model, frames)
    np.testing.assert_array_equal(selection, reference.selection)
    np.testing.assert_allclose(embedding, reference.embedding, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(runner(frames), embedding)
    if kind == "full":  # the file itself is unchanged: the ArgMax is exposed in the verification session only
        assert [output.name for output in onnx.load(str(path)).graph.output] == ["embedding"]


def test_verify_cli_json_reports_the_selections_of_sta(reid, full_exports, checkpoints):
    run = reid("verify", "--model", full_exports["sta_tiny"][0], "--reference", checkpoints["sta_tiny"],
               "--seq-lens", "1,3", "--batch-sizes", "2", "--json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["selections"] == {"compared": 16, "flipped": 0, "accepted": 0, "beyond_epsilon": 0,
                                    "flipped_clips": 0, "clips": 4, "worst_margin": None, "worst_gap": None,
                                    "epsilon": 1e-4}
    assert [(case["selections"], case["flips"], case["problem"]) for case in report["cases"]] == [(8, [], "")] * 2
    assert "frame selections: all 16 (clip, region) agree with PyTorch" in run.err


def test_spread_error_weighs_the_error_against_the_differences_between_clips():
    rng = np.random.default_rng(0)
    collapsed = 10 * rng.normal(size=(1, 16)) + 1e-4 * rng.normal(size=(8, 16))  # every clip nearly one vector
    noisy = collapsed + 1e-3 * rng.normal(size=(8, 16))
    assert cosines(collapsed, noisy).min() > 0.9999 and spread_error(collapsed, noisy) > 5  # cosine cannot tell
    spread = rng.normal(size=(8, 16))
    assert spread_error(spread, spread + 1e-3 * rng.normal(size=(8, 16))) < 0.01
    assert spread_error(spread, 3 * spread) == pytest.approx(0.0, abs=1e-9)  # scale-free, like cosine retrieval
    assert np.isnan(spread_error(spread[:1], spread[:1]))  # one clip has no spread to measure
