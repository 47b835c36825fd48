"""Streaming embeddings equal the offline embedding of every frame seen as one clip, whatever the update sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import reid_runtime
from reid_runtime.aggregation import sta_fuse
from reid_runtime.backends.base import Backend
from reid_runtime.errors import ReidError
from reid_runtime.model import ReidModel
from reid_runtime.model_format import ModelInfo
from reid_runtime.stream import TrackletStream


@pytest.fixture(params=["sta_split", "tp_split", "sta_checkpoint", "tp_checkpoint"])
def stream_model(request):
    return reid_runtime.load(request.getfixturevalue(request.param), threads=1)


@pytest.mark.parametrize("updates", [[1] * 6, [3, 1, 5, 2], [11]])
def test_stream_equals_offline_all_frames(stream_model, make_tracklets, updates):
    frames = make_tracklets([sum(updates)], seed=len(updates))[0]
    stream = TrackletStream(stream_model)
    seen = 0
    for size in updates:
        stream.update("t", frames[seen:seen + size])
        seen += size
        offline = stream_model.embed([frames[:seen]], sampling="all")[0]
        np.testing.assert_allclose(stream.embedding("t"), offline, rtol=1e-5, atol=1e-5)
    assert stream.num_frames("t") == seen


def test_update_many_and_embeddings_match_single_updates(sta_split, make_tracklets):
    model = reid_runtime.load(sta_split, threads=1)
    a, b = make_tracklets([4, 6], seed=3)
    together, apart = TrackletStream(model), TrackletStream(model)
    together.update_many({"a": a[:2], "b": b[:5]})
    together.update_many({"a": a[2:], "b": b[5]})  # one (H, W, 3) frame
    apart.update("a", a)
    apart.update("b", b)
    np.testing.assert_allclose(together.embeddings(["a", "b"]), apart.embeddings(), rtol=1e-5, atol=1e-5)
    assert together.tracks() == ["a", "b"]


def test_paths_stream_like_arrays(sta_split, make_tracklets, tmp_path: Path):
    from PIL import Image

    model = reid_runtime.load(sta_split, threads=1)
    frames = make_tracklets([3], seed=5)[0]
    paths = []
    for i, frame in enumerate(frames):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(frame).save(paths[-1])
    stream = TrackletStream(model)
    stream.update(7, paths[:2])
    stream.update(7, paths[2])
    np.testing.assert_allclose(stream.embedding(7), model.embed([frames], sampling="all")[0], rtol=1e-5, atol=1e-5)


def test_close_and_eviction(sta_split, make_tracklets):
    model = reid_runtime.load(sta_split, threads=1)
    a, b = make_tracklets([2, 2], seed=4)
    stream = TrackletStream(model)
    stream.update(1, a, timestamp=10)
    stream.update(2, b, timestamp=25)
    evicted = stream.evict_older_than(10, now=30)
    assert list(evicted) == [1] and stream.tracks() == [2]
    np.testing.assert_allclose(evicted[1], model.embed([a], sampling="all")[0], rtol=1e-5, atol=1e-5)
    final = stream.close(2)
    assert final.shape == (model.embedding_dim,) and len(stream) == 0
    with pytest.raises(KeyError, match="unknown track 2"):
        stream.embedding(2)


def test_full_only_models_need_a_split_export(sta_onnx, asta_checkpoint):
    for path in (sta_onnx, asta_checkpoint):
        with pytest.raises(ReidError, match="split export"):
            TrackletStream(reid_runtime.load(path, threads=1))


class _TermsBackend(Backend):
    """Per-frame terms read off the pixels: score = pixel [0, 0, 0] per region, strip = pixel [0, 1, :] * region."""

    name = "fake"
    mode = "split"
    has_frame_terms = True

    def __init__(self) -> None:
        self.path = Path("fake")
        self.info = ModelInfo(role="backbone", architecture="fake", input_size=(2, 2), embedding_dim=4,
                              metric="euclidean", aggregation="sta", num_regions=2)

    def run_backbone(self, frames):
        scores = np.repeat(frames[:, 0, 0, :1], 2, axis=1)
        strips = frames[:, :2, 0, 1][:, None, :] * np.array([1.0, 2.0])[None, :, None]
        return scores.astype(np.float32), strips.astype(np.float32)

    def run_head(self, fused):
        return fused

    def describe(self):
        return {}


def test_ties_keep_the_first_max_frame_like_the_offline_argmax():
    model = ReidModel(_TermsBackend())
    frames = np.zeros((4, 2, 2, 3), np.uint8)
    frames[:, 0, 0, 0] = [5, 9, 9, 3]   # scores: frames 1 and 2 tie for the max
    frames[:, 0, 1, 0] = [1, 2, 3, 4]   # strips differ per frame
    frames[:, 0, 1, 1] = [7, 6, 5, 4]
    stream = TrackletStream(model)
    for frame in frames:
        stream.update(0, frame)
    scores, strips = model.backend.run_backbone(frames.transpose(0, 3, 1, 2).astype(np.float32))
    offline = sta_fuse(scores[None], strips[None])[0]
    np.testing.assert_allclose(stream.embedding(0), offline, rtol=1e-6)
    assert stream.embedding(0)[0] == pytest.approx(1.5 * 2)  # selected half: frame 1's strip, mean of regions 1x, 2x
