"""Fault suite, memory and model output: a long tracklet embeds in the memory of a short one (frames streamed in
chunks, exactly), and a model that outputs NaN or inf is reported as a model error naming the model, not embedded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import reid_runtime
from reid_runtime.aggregation import fuse
from reid_runtime.backends.base import Backend
from reid_runtime.errors import ReidError
from reid_runtime.model import ModelOutputError, ReidModel
from reid_runtime.model_format import ModelInfo
from reid_runtime.stream import TrackletStream

LONG, SHORT = 2000, 200


@pytest.fixture(scope="module")
def frame_folder(tmp_path_factory) -> Path:
    """``LONG`` small JPEG crops (64x32) on disk: decoding is part of the measured path."""
    folder = tmp_path_factory.mktemp("long_tracklet")
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (64, 32, 3), dtype=np.uint8)
    for i in range(LONG):
        frame = np.clip(base.astype(np.int16) + rng.integers(-40, 40, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(frame).save(folder / f"{i:05d}.jpg", quality=90)
    return folder


_PEAK = r"""
import json, sys
from pathlib import Path
import numpy as np
import reid_runtime
from reid_runtime.timing import current_peak_rss_mb
model, folder, count, sampling = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
paths = sorted(folder.iterdir())[:count]
loaded = reid_runtime.load(model, threads=1)
loaded.embed([paths[:16]], sampling=sampling)  # first-call setup (session arenas) before the measured call
embedding = loaded.embed([paths], sampling=sampling)
print(json.dumps({"peak_mb": current_peak_rss_mb(), "finite": bool(np.isfinite(embedding).all())}))
"""


def _peak_mb(model: Path, folder: Path, count: int, sampling: str) -> float:
    """The peak RSS of a fresh process that loads ``model`` and embeds one tracklet of ``count`` frames."""
    proc = subprocess.run([sys.executable, "-c", _PEAK, str(model), str(folder), str(count), sampling],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer["finite"]
    return answer["peak_mb"]


@pytest.mark.parametrize("sampling", ["all", "dense"])
def test_peak_memory_does_not_grow_with_tracklet_length(sta_split, frame_folder, sampling):
    # Unchunked, 2000 decoded frames alone are 2000 x 3 x 64 x 32 float32 = 49 MB (twice that with the copies);
    # streamed, the long tracklet needs what the short one needs.
    short = _peak_mb(sta_split, frame_folder, SHORT, sampling)
    long = _peak_mb(sta_split, frame_folder, LONG, sampling)
    assert long - short < 20, f"peak RSS {short:.0f} MB at {SHORT} frames, {long:.0f} MB at {LONG} frames"


def _recording(backend: Backend, name: str, sizes: list[int]) -> None:
    run = getattr(backend, name)
    setattr(backend, name, lambda x: sizes.append(len(x)) or run(x))


@pytest.mark.parametrize("fixture", ["sta_split", "tp_split", "sta_checkpoint", "tp_checkpoint"])
def test_all_sampling_streamed_in_chunks_equals_the_whole_clip(request, fixture, make_tracklets):
    model = reid_runtime.load(request.getfixturevalue(fixture), threads=1)
    frames = make_tracklets([50, 7], seed=2)
    clip = frames[0].transpose(0, 3, 1, 2).astype(np.float32)
    if model.backend.mode == "full":  # a checkpoint: the whole clip through the model's own forward
        whole = model.backend.run_full(clip[None])[0]
    else:  # a split export: the offline aggregation of all frames, then the head
        scores, strips = model.backend.run_backbone(clip)
        fused = fuse(model.info.aggregation, scores[None], strips[None], model.backend.fusion)
        whole = model.backend.run_head(fused)[0]
    sizes: list[int] = []
    _recording(model.backend, "run_backbone", sizes)
    chunked = model.embed(frames, sampling="all", batch_size=2, seq_len=3)  # 6 frames per backbone call
    assert max(sizes) <= 6 and sum(sizes) == 57
    np.testing.assert_allclose(chunked[0], whole, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(chunked, model.embed(frames, sampling="all", batch_size=64), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fixture", ["sta_split", "sta_checkpoint", "sta_onnx"])
def test_dense_sampling_in_bounded_groups_equals_one_batch(request, fixture, make_tracklets):
    model = reid_runtime.load(request.getfixturevalue(fixture), threads=1)
    frames = make_tracklets([50, 3, 9], seed=3)  # 13 clips of 4, then 1, then 3
    runs = {"run_backbone": [], "run_full": []}
    whole = model.embed(frames, sampling="dense", seq_len=4, batch_size=64)
    for name, sizes in runs.items():
        _recording(model.backend, name, sizes)
    chunked = model.embed(frames, sampling="dense", seq_len=4, batch_size=2)
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-5)
    calls = runs["run_backbone"] or runs["run_full"]
    assert len(calls) == 9 and max(calls) <= 8  # 17 clips, 2 per batch: 2 clips (8 frames) per backbone call


# ---------------------------------------------------------------- NaN / inf: a model error, not an embedding


def _nan_onnx(source: Path, out: Path) -> Path:
    """``source`` (a full graph with the toolkit's metadata) with its embedding multiplied by NaN."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    model = onnx.load(str(source))
    for node in model.graph.node:
        node.output[:] = ["embedding_raw" if name == "embedding" else name for name in node.output]
    model.graph.initializer.append(helper.make_tensor("nan_factor", TensorProto.FLOAT, [], [float("nan")]))
    model.graph.node.append(helper.make_node("Mul", ["embedding_raw", "nan_factor"], ["embedding"]))
    onnx.save(model, str(out))
    return out


def test_nan_model_is_a_one_line_model_error_in_embed_and_eval(sta_onnx, tiny_mars, make_tracklets, run_edge,
                                                               tmp_path):
    broken = _nan_onnx(sta_onnx, tmp_path / "nan_model.onnx")
    with pytest.raises(ModelOutputError, match=r"nan_model\.onnx: the model produced non-finite values .*tracklet 0"):
        reid_runtime.load(broken).embed(make_tracklets([5]))
    crops = tmp_path / "crops" / "t1"
    crops.mkdir(parents=True)
    for i, frame in enumerate(make_tracklets([3])[0]):
        Image.fromarray(frame).save(crops / f"{i}.png")
    commands = [
        ["embed", "--model", broken, "--tracklets", tmp_path / "crops", "--out", tmp_path / "e.npz"],
        ["eval", "--model", broken, "--data-root", tiny_mars, "--dataset", "mars", "--out", tmp_path / "eval"],
    ]
    for args in commands:
        proc = run_edge(*args, "--no-progress")
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and len([x for x in lines if x.startswith("Error:")]) == 1
        assert "nan_model.onnx" in lines[-1] and "non-finite values (NaN or inf)" in lines[-1]
    assert not (tmp_path / "e.npz").exists()


class _BrightIsNaN(Backend):
    """A whole-clip model whose embedding is NaN (or inf) for clips brighter than 200 on average."""

    name = "fake"
    mode = "full"

    def __init__(self, bad: float) -> None:
        self.path = Path("bright_nan.onnx")
        self.bad = bad
        self.info = ModelInfo(role="full", architecture="fake", input_size=(4, 2), embedding_dim=3,
                              metric="euclidean", aggregation="mean", num_regions=1)

    def run_full(self, frames: np.ndarray) -> np.ndarray:
        mean = frames.mean(axis=(1, 2, 3, 4))
        return np.where(mean[:, None] > 200, self.bad, mean[:, None] * np.ones(3)).astype(np.float32)

    def describe(self):
        return {}


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_the_error_names_the_tracklet_and_skipped_tracklets_stay_reported_skips(bad, tmp_path):
    model = ReidModel(_BrightIsNaN(bad))
    dark, bright = np.full((6, 4, 2, 3), 10, np.uint8), np.full((5, 4, 2, 3), 250, np.uint8)
    with pytest.raises(ModelOutputError, match=r"bright_nan\.onnx: .*non-finite.* tracklet 2"):
        model.embed([dark, dark, bright], sampling="all")
    assert isinstance(ModelOutputError("x"), ReidError)  # the CLI's one line, exit 2
    unreadable = tmp_path / "broken.jpg"
    unreadable.write_bytes(b"\xff\xd8 not a jpeg")
    out = model.embed([dark, [unreadable], dark])  # a skip is a NaN row and a reported error, not a model error
    assert np.isnan(out[1]).all() and np.isfinite(out[[0, 2]]).all()
    assert [(e.index, "broken.jpg" in e.error) for e in model.last_errors] == [(1, True)]


def test_nan_inputs_are_refused_as_input_not_blamed_on_the_model(sta_onnx):
    model = reid_runtime.load(sta_onnx, threads=1)
    frames = np.full((3, 64, 32, 3), 100.0, np.float32)
    frames[1, 5, 5, 0] = np.nan
    with pytest.raises(ReidError, match="tracklet 0: the frames hold NaN"):
        model.embed([frames])


def test_streaming_a_nan_model_is_a_model_error(sta_split, make_tracklets):
    model = reid_runtime.load(sta_split, threads=1)
    head = model.backend.run_head
    model.backend.run_head = lambda fused: head(fused) * np.float32(np.nan)
    stream = TrackletStream(model)
    stream.update("walker", make_tracklets([3])[0])
    with pytest.raises(ModelOutputError, match=r"non-finite values .*track 'walker'"):
        stream.embedding("walker")
    with pytest.raises(ModelOutputError, match="sta.backbone.onnx"):
        model.embed(make_tracklets([40]), sampling="all", batch_size=2)
