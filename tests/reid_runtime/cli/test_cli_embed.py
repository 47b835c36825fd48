"""`reid embed` on dataset splits, tracklet folders and MOT sequences; resuming after a kill; --json, progress."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from reid_runtime.cli.embed import embed
from reid_runtime.embeddings_file import load_embeddings
from reid_runtime.model import ReidModel


@pytest.fixture(scope="module")
def synth_mars(tmp_path_factory) -> Path:
    from reid_runtime.data.synth import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("cli_embed") / "mars"
    synthesize(SynthConfig("mars", ids=4, size=(64, 32), min_len=2, max_len=7), root)
    return root


def _invoke(command, args):
    result = CliRunner().invoke(command, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def test_dataset_split_to_npz(sta_split, synth_mars, tmp_path):
    for split in ("query", "gallery"):
        _invoke(embed, ["--model", sta_split, "--data-root", synth_mars, "--split", split,
                        "--out", tmp_path / f"{split}.npz", "--threads", 1, "--seq-lens", 4, "--batch-sizes", 8])
    query = load_embeddings(tmp_path / "query.npz")
    assert query.embeddings.shape[1] == 32 and np.isfinite(query.embeddings).all()
    assert (query.pids > 0).all() and set(query.camids) <= set(range(1, 7)) and query.tids.dtype.kind == "U"
    assert query.meta["dataset"] == "mars" and query.meta["split"] == "query" and query.meta["seq_len"] == 4
    assert query.meta["model_info"]["role"] == "backbone" and query.meta["backend"] == "onnxruntime"
    assert query.meta["model"] == str(Path(sta_split).resolve())


def test_json_report_and_progress(sta_onnx, synth_mars, tmp_path):
    args = ["--model", sta_onnx, "--data-root", synth_mars, "--split", "query", "--seq-lens", 2, "--json"]
    quiet = _invoke(embed, [*args, "--out", tmp_path / "a.npz", "--no-progress"])
    report = json.loads(quiet.stdout)
    saved = load_embeddings(tmp_path / "a.npz")
    assert report["path"] == str(tmp_path / "a.npz") and report["count"] == len(saved) and report["dim"] == 32
    assert report["skipped"] == [] and report["metric"] == "euclidean" and report["seq_len"] == 2
    assert "tracklet/s" not in quiet.stderr and "wrote" in quiet.stderr
    assert "tracklet/s" in _invoke(embed, [*args, "--out", tmp_path / "b.npz", "--progress"]).stderr


def test_skipped_tracklets_are_reported(sta_onnx, make_tracklets, tmp_path):
    for name, frames in zip(("good", "broken"), make_tracklets([3, 2])):
        (tmp_path / "crops" / name).mkdir(parents=True)
        for i, frame in enumerate(frames):
            Image.fromarray(frame).save(tmp_path / "crops" / name / f"{i:04d}.png")
    (tmp_path / "crops" / "broken" / "0001.png").write_bytes(b"not a png")
    result = _invoke(embed, ["--model", sta_onnx, "--tracklets", tmp_path / "crops", "--out", tmp_path / "c.npz",
                             "--json"])
    report = json.loads(result.stdout)
    assert [s["tid"] for s in report["skipped"]] == ["broken"] and "0001.png" in report["skipped"][0]["error"]
    assert "skipped broken" in result.stderr
    strict = CliRunner().invoke(embed, ["--model", str(sta_onnx), "--tracklets", str(tmp_path / "crops"),
                                        "--out", str(tmp_path / "d.npz"), "--strict"])
    assert strict.exit_code != 0 and not (tmp_path / "d.npz").exists()


def test_tracklet_folders(sta_onnx, make_tracklets, tmp_path):
    for name, frames in zip(("walker-b", "walker-a"), make_tracklets([3, 5])):
        (tmp_path / "crops" / name).mkdir(parents=True)
        for i, frame in enumerate(frames):
            Image.fromarray(frame).save(tmp_path / "crops" / name / f"{i:04d}.png")
    _invoke(embed, ["--model", sta_onnx, "--tracklets", tmp_path / "crops", "--out", tmp_path / "c.npz",
                    "--sampling", "all"])
    saved = load_embeddings(tmp_path / "c.npz")
    assert saved.tids.tolist() == ["walker-a", "walker-b"] and saved.pids.tolist() == [-1, -1]
    assert saved.paths[0].endswith("walker-a") and saved.meta["sampling"] == "all"


def test_mot_sequence(sta_onnx, mot_sequence, tmp_path):
    _invoke(embed, ["--model", sta_onnx, "--mot", mot_sequence, "--min-frames", 2, "--camid", 3,
                    "--out", tmp_path / "mot.npz"])
    saved = load_embeddings(tmp_path / "mot.npz")
    assert saved.tids.tolist() == ["SYN-01:1", "SYN-01:2", "SYN-01:4"] and saved.pids.tolist() == [1, 2, 4]
    assert saved.camids.tolist() == [3, 3, 3] and np.isfinite(saved.embeddings).all()
    assert saved.paths[0].endswith("000001.jpg")


def test_resume_after_a_kill(sta_onnx, make_tracklets, tmp_path, monkeypatch):
    for i, frames in enumerate(make_tracklets([2, 3, 4, 2, 3])):
        (tmp_path / "crops" / f"t{i}").mkdir(parents=True)
        for j, frame in enumerate(frames):
            Image.fromarray(frame).save(tmp_path / "crops" / f"t{i}" / f"{j}.png")
    args = ["--model", sta_onnx, "--tracklets", tmp_path / "crops", "--chunk-size", 2]
    _invoke(embed, args + ["--out", tmp_path / "whole.npz"])

    original, calls, killed = ReidModel.embed, [], []

    def dying(self, tracklets, **options):
        calls.append(len(tracklets))
        if len(calls) == 2 and not killed:
            killed.append(True)
            raise RuntimeError("killed")
        return original(self, tracklets, **options)

    monkeypatch.setattr(ReidModel, "embed", dying)
    with pytest.raises(RuntimeError, match="killed"):
        _invoke(embed, args + ["--out", tmp_path / "resumed.npz"])
    assert not (tmp_path / "resumed.npz").exists() and (tmp_path / "resumed.npz.partial").is_dir()
    calls.clear()
    _invoke(embed, args + ["--out", tmp_path / "resumed.npz"])
    assert calls == [2, 1]  # tracklets t0, t1 were done before the kill
    whole, resumed = load_embeddings(tmp_path / "whole.npz"), load_embeddings(tmp_path / "resumed.npz")
    np.testing.assert_allclose(resumed.embeddings, whole.embeddings, rtol=1e-6)
    assert resumed.tids.tolist() == whole.tids.tolist()


def test_exactly_one_input(sta_onnx, tmp_path):
    result = CliRunner().invoke(embed, ["--model", str(sta_onnx), "--out", str(tmp_path / "x.npz")])
    assert result.exit_code == 2 and "exactly one input" in result.output
    both = CliRunner().invoke(embed, ["--model", str(sta_onnx), "--out", str(tmp_path / "x.npz"),
                                      "--tracklets", str(tmp_path), "--mot", str(tmp_path)])
    assert both.exit_code == 2 and "got --tracklets and --mot" in both.output
    single = CliRunner().invoke(embed, ["--model", str(sta_onnx), "--out", str(tmp_path / "x.npz"),
                                        "--tracklets", str(tmp_path), "--seq-lens", "2,4"])
    assert single.exit_code == 2 and "one value" in single.output
