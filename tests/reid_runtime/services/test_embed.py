"""The embedding service: the three inputs, a loaded model or a path, the report, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import reid_runtime
from reid_runtime.embeddings_file import load_embeddings
from reid_runtime.errors import ReidError
from reid_runtime.services.embed import EmbedReport, embed, folder_input, mot_input


def _crops(root: Path, tracklets: list[np.ndarray], names: list[str]) -> Path:
    for name, frames in zip(names, tracklets):
        (root / name).mkdir(parents=True)
        for i, frame in enumerate(frames):
            Image.fromarray(frame).save(root / name / f"{i:04d}.png")
    return root


def test_loaded_model_and_path_give_the_same_file(sta_onnx, make_tracklets, tmp_path):
    crops = _crops(tmp_path / "crops", make_tracklets([3, 5, 2]), ["b", "a", "c"])
    lines: list[str] = []
    report = embed(reid_runtime.load(sta_onnx), tmp_path / "one.npz", tracklets=crops, seq_len=2, log=lines.append)
    assert isinstance(report, EmbedReport)
    assert (report.count, report.dim, report.skipped, report.backend) == (3, 32, [], "onnxruntime")
    assert report.to_dict()["path"] == str(tmp_path / "one.npz") and report.model == str(sta_onnx)
    assert any(line.startswith("wrote") for line in lines)
    again = embed(sta_onnx, tmp_path / "two.npz", tracklets=crops, seq_len=2)
    one, two = load_embeddings(report.path), load_embeddings(again.path)
    assert one.tids.tolist() == ["a", "b", "c"] and one.meta["seq_len"] == 2
    np.testing.assert_allclose(one.embeddings, two.embeddings, rtol=1e-6)


def test_mot_input_crops_tracks(sta_onnx, mot_sequence, tmp_path):
    records, make_source, described = mot_input(mot_sequence, "gt", 2, 7)
    assert [r.tid for r in records] == ["SYN-01:1", "SYN-01:2", "SYN-01:4"] and {r.camid for r in records} == {7}
    assert "SYN-01" in described
    crops = dict(make_source((64, 32))([0, 2]))
    assert set(crops) == {0, 2} and crops[2].shape[1:] == (64, 32, 3)
    report = embed(sta_onnx, tmp_path / "mot.npz", mot=mot_sequence, min_frames=2, sampling="all")
    assert report.count == 3 and "MOT sequence SYN-01" in report.input


@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one input"),
    ({"tracklets": ".", "mot": "."}, "got tracklets and mot"),
    ({"data_root": "."}, "data_root needs split"),
    ({"tracklets": ".", "seq_len": 0}, "seq_len must be a positive integer"),
    ({"tracklets": ".", "sampling": "random"}, "unknown sampling"),
    ({"mot": ".", "source": "dets"}, "unknown MOT source 'dets'"),
])
def test_bad_input_is_a_reid_error(sta_onnx, tmp_path, kwargs, message):
    with pytest.raises(ReidError, match=message):
        embed(sta_onnx, tmp_path / "x.npz", **kwargs)
    assert not (tmp_path / "x.npz").exists()


def test_folder_input_errors_name_the_folder(tmp_path):
    with pytest.raises(ReidError, match="no tracklet folders"):
        folder_input(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReidError, match="empty: tracklet folder holds no frames"):
        folder_input(tmp_path)


def test_the_file_carries_the_model_fingerprint(sta_split, make_tracklets, tmp_path):
    from reid_runtime.embeddings_file import model_fingerprint

    crops = _crops(tmp_path / "crops", make_tracklets([2, 3]), ["a", "b"])
    report = embed(sta_split, tmp_path / "e.npz", tracklets=crops, seq_len=2)
    fingerprint = load_embeddings(report.path).meta["fingerprint"]
    assert fingerprint == model_fingerprint(reid_runtime.load(sta_split))
    assert fingerprint["architecture"] == "sta_tiny" and len(fingerprint["files"]) == 2  # both graphs of the split


@pytest.mark.parametrize("where", ["model", "tracklets folder", "partial inside the tracklets folder"])
def test_an_out_that_is_an_input_is_refused(sta_onnx, make_tracklets, tmp_path, where):
    crops = _crops(tmp_path / "crops", make_tracklets([2]), ["a"])
    model = tmp_path / "m.onnx"
    model.write_bytes(sta_onnx.read_bytes())
    out = {"model": model, "tracklets folder": crops, "partial inside the tracklets folder": crops / "e.npz"}[where]
    refused = "--out .* (would overwrite the (model|tracklets folder)|writes into the tracklets folder)"
    with pytest.raises(ReidError, match=refused):
        embed(model, out, tracklets=crops)
    assert model.read_bytes() == sta_onnx.read_bytes() and sorted(p.name for p in crops.iterdir()) == ["a"]
