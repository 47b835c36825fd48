"""Batched embedding of variable-length tracklets equals embedding each alone, on every backend available here."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import reid_runtime
from reid_runtime.data.frames import FrameReadError
from reid_runtime.data.tracklet import Tracklet
from reid_runtime.errors import ReidError

LENGTHS = [1, 2, 3, 5, 8, 13, 21, 40, 4]


@pytest.fixture(params=["onnx_full", "onnx_split", "torch"])
def any_model(request):
    fixture = {"onnx_full": "sta_onnx", "onnx_split": "sta_split", "torch": "sta_checkpoint"}[request.param]
    return reid_runtime.load(request.getfixturevalue(fixture), threads=1)


@pytest.mark.parametrize("sampling", ["dense", "evenly", "all"])
def test_batched_equals_alone_in_input_order(any_model, make_tracklets, sampling):
    tracklets = make_tracklets(LENGTHS)
    batched = any_model.embed(tracklets, seq_len=4, sampling=sampling, batch_size=3)
    alone = np.concatenate([any_model.embed([t], seq_len=4, sampling=sampling) for t in tracklets])
    assert batched.shape == (len(LENGTHS), any_model.embedding_dim) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, alone, rtol=1e-5, atol=1e-5)
    assert np.abs(batched[0] - batched[1]).max() > 1e-3  # different tracklets, different embeddings


def test_backends_agree(sta_onnx, sta_split, sta_checkpoint, make_tracklets):
    tracklets = make_tracklets([3, 9, 17])
    results = [reid_runtime.load(p, threads=1).embed(tracklets) for p in (sta_onnx, sta_split, sta_checkpoint)]
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=1e-4, atol=1e-4)


def test_tracklet_mean_of_clip_embeddings(sta_onnx, make_tracklets):
    model = reid_runtime.load(sta_onnx, threads=1)
    frames = make_tracklets([10])[0]  # dense, seq_len 4: clips 0-3, 4-7 and 8 8 9 9
    clips = [frames[0:4], frames[4:8], frames[[8, 8, 9, 9]]]
    expected = np.mean([model.embed([c], sampling="all")[0] for c in clips], axis=0)
    np.testing.assert_allclose(model.embed([frames], seq_len=4)[0], expected, rtol=1e-5, atol=1e-5)


def test_split_model_packs_a_batch_into_one_backbone_and_one_head_call(sta_split, make_tracklets):
    model = reid_runtime.load(sta_split, threads=1)
    calls = {"backbone": [], "head": []}
    backbone, head = model.backend.run_backbone, model.backend.run_head
    model.backend.run_backbone = lambda x: calls["backbone"].append(len(x)) or backbone(x)
    model.backend.run_head = lambda x: calls["head"].append(len(x)) or head(x)
    model.embed(make_tracklets([2, 7, 5, 1]), seq_len=4, batch_size=16)
    assert calls == {"backbone": [15], "head": [6]}  # distinct frames 2+7+5+1; clips 1+2+2+1


def test_all_sampling_packs_short_tracklets_and_streams_long_ones_in_full_backbone_calls(sta_split, make_tracklets):
    model = reid_runtime.load(sta_split, threads=1)
    calls = {"backbone": [], "head": []}
    backbone, head = model.backend.run_backbone, model.backend.run_head
    model.backend.run_backbone = lambda x: calls["backbone"].append(len(x)) or backbone(x)
    model.backend.run_head = lambda x: calls["head"].append(len(x)) or head(x)
    tracklets = make_tracklets([20, 3, 5, 30])
    out = model.embed(tracklets, sampling="all", seq_len=4, batch_size=4)  # 16 frames per backbone call
    assert calls == {"backbone": [16, 16, 16, 10], "head": [3, 1]}  # three tracklets end in the 2nd call, one last
    np.testing.assert_allclose(out, model.embed(tracklets, sampling="all", batch_size=64), rtol=1e-5, atol=1e-5)


def test_full_model_calls_never_mix_lengths_and_respect_batch_size(sta_onnx, make_tracklets):
    model = reid_runtime.load(sta_onnx, threads=1)
    shapes = []
    run = model.backend.run_full
    model.backend.run_full = lambda x: shapes.append(x.shape[:2]) or run(x)
    model.embed(make_tracklets([3, 5, 3, 9, 5, 3]), sampling="all", batch_size=2)
    assert sorted(shapes) == [(1, 3), (1, 9), (2, 3), (2, 5)]


def test_paths_and_tracklets_match_arrays(sta_onnx, make_tracklets, tmp_path):
    model = reid_runtime.load(sta_onnx, threads=1)
    frames = make_tracklets([6])[0]
    paths = []
    for i, frame in enumerate(frames):
        paths.append(str(tmp_path / f"{i:03d}.png"))
        Image.fromarray(frame).save(paths[-1])
    record = Tracklet(frames=tuple(paths), pid=3, camid=1, tid="0007")
    out = model.embed([frames, paths, record])
    np.testing.assert_allclose(out[1], out[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out[2], out[0], rtol=1e-6, atol=1e-6)


def test_frame_files_of_another_size_are_resized_but_arrays_must_match(sta_onnx, tmp_path, make_tracklets):
    model = reid_runtime.load(sta_onnx, threads=1)
    Image.new("RGB", (50, 120), (200, 30, 30)).save(tmp_path / "big.png")
    assert np.isfinite(model.embed([[tmp_path / "big.png"]])).all()
    with pytest.raises(ReidError, match="64x32"):
        model.embed([np.zeros((3, 60, 30, 3), np.uint8)])


def test_corrupt_frame_skips_its_tracklet_unless_strict(sta_onnx, make_tracklets, tmp_path):
    model = reid_runtime.load(sta_onnx, threads=1)
    good = make_tracklets([5, 4])
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    Image.fromarray(good[1][0]).save(tmp_path / "ok.png")
    out = model.embed([good[0], [tmp_path / "ok.png", bad], good[1]])
    assert [(e.index, "broken.jpg" in e.error) for e in model.last_errors] == [(1, True)]
    assert np.isnan(out[1]).all() and np.isfinite(out[[0, 2]]).all()
    np.testing.assert_allclose(out[[0, 2]], model.embed([good[0], good[1]]), rtol=1e-6, atol=1e-6)
    assert model.last_errors == []
    with pytest.raises(FrameReadError, match="broken.jpg"):
        model.embed([good[0], [bad]], strict=True)


def test_empty_tracklet_is_named(sta_onnx, make_tracklets):
    model = reid_runtime.load(sta_onnx, threads=1)
    with pytest.raises(ReidError, match="tracklet 1 .*empty"):
        model.embed([make_tracklets([2])[0], []])


def test_load_picks_backend_by_suffix_and_explains_mistakes(sta_onnx, sta_checkpoint, tmp_path):
    assert reid_runtime.load(sta_onnx).backend_name == "onnxruntime"
    assert reid_runtime.load(sta_checkpoint, threads=1).backend_name == "torch"
    description = reid_runtime.load(sta_onnx).describe()
    assert "onnxruntime on CPUExecutionProvider" in description and "64x32" in description
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(ReidError, match="suffix '.bin'"):
        reid_runtime.load(tmp_path / "model.bin")
    with pytest.raises(ReidError, match="runs on the onnxruntime backend"):
        reid_runtime.load(sta_onnx, backend="torch")
    with pytest.raises(ReidError, match="not found"):
        reid_runtime.load(tmp_path / "missing.onnx")
    with pytest.raises(ReidError, match="torch backend does not take providers"):
        reid_runtime.load(sta_checkpoint, providers=["cpu"])


def test_embed_argument_errors(sta_onnx, make_tracklets):
    model = reid_runtime.load(sta_onnx)
    with pytest.raises(ValueError, match="sampling"):
        model.embed(make_tracklets([2]), sampling="random")
    with pytest.raises(ValueError, match="list"):
        model.embed(make_tracklets([2])[0])
    assert model.embed([]).shape == (0, model.embedding_dim)


def test_load_builds_a_registry_name_on_the_backend_that_declares_model_names(tmp_path):
    model = reid_runtime.load("sta_tiny", input_size=(64, 32))
    assert model.backend_name == "torch" and model.info.architecture == "sta_tiny" and model.input_size == (64, 32)
    with pytest.raises(ReidError, match="neither a model file nor a registered model name"):
        reid_runtime.load("sta_nonexistent")
    with pytest.raises(ReidError, match="unknown backend 'bogus'"):
        reid_runtime.load("sta_tiny", backend="bogus")
