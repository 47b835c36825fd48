"""OpenVINO backend: the equality tests of onnxruntime (batching, split, streaming), agreement with onnxruntime on
the same FP32 / FP16 / INT8 files, its options, its one-line errors, and `reid embed / eval / bench latency` with
``--backend openvino``, also on the edge install."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

pytest.importorskip("openvino")

import reid_runtime
from reid_runtime.aggregation import fuse
from reid_runtime.backends.openvino_backend import OpenVINOBackend
from reid_runtime.cli.main import cli
from reid_runtime.embeddings_file import load_embeddings
from reid_runtime.errors import ReidError
from reid_runtime.stream import TrackletStream

LENGTHS = [1, 2, 3, 5, 8, 13, 21, 4]


def _load(path, **options):
    return reid_runtime.load(path, backend="openvino", threads=1, **options)


def test_onnx_files_stay_on_onnxruntime_unless_openvino_is_asked_for(sta_onnx):
    assert reid_runtime.load(sta_onnx).backend_name == "onnxruntime"
    model = _load(sta_onnx)
    assert model.backend_name == "openvino" and model.backend.providers == ["CPU"]
    assert model.backend.mode == "full" and not model.backend.has_frame_terms
    facts = model.backend.describe()
    assert facts["threads"] == 1 and facts["precision"] == "f32" and facts["hint"] == "latency"
    assert "backend:      openvino on CPU" in model.describe()


@pytest.mark.parametrize("fixture", ["sta_onnx", "sta_split", "tp_split"])
def test_embeddings_match_onnxruntime_on_the_same_file(request, fixture, make_tracklets):
    path = request.getfixturevalue(fixture)
    tracklets = make_tracklets([3, 9, 17], seed=4)
    ov, ort = _load(path), reid_runtime.load(path, threads=1)
    np.testing.assert_allclose(ov.embed(tracklets), ort.embed(tracklets), rtol=1e-4, atol=1e-4)
    if ov.backend.has_frame_terms:
        frames = np.random.default_rng(1).uniform(0, 255, (5, 3, 64, 32)).astype(np.float32)
        for mine, theirs in zip(ov.backend.run_backbone(frames), ort.backend.run_backbone(frames)):
            np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-4)
        assert ov.backend.fusion == ort.backend.fusion


@pytest.mark.parametrize("fixture", ["sta_onnx", "sta_split"])
@pytest.mark.parametrize("sampling", ["dense", "evenly", "all"])
def test_batched_equals_alone_in_input_order(request, fixture, sampling, make_tracklets):
    model = _load(request.getfixturevalue(fixture))
    tracklets = make_tracklets(LENGTHS)
    batched = model.embed(tracklets, seq_len=4, sampling=sampling, batch_size=3)
    alone = np.concatenate([model.embed([t], seq_len=4, sampling=sampling) for t in tracklets])
    assert batched.shape == (len(LENGTHS), 32) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, alone, rtol=1e-5, atol=1e-5)
    assert np.abs(batched[0] - batched[1]).max() > 1e-3


@pytest.mark.parametrize("which", ["backbone", "head"])
def test_split_graphs_reproduce_the_full_graph(sta_onnx, sta_split, which):
    split = OpenVINOBackend(sta_split if which == "backbone" else sta_split.with_name("sta.head.onnx"), threads=1)
    full = OpenVINOBackend(sta_onnx, threads=1)
    assert split.mode == "split" and split.has_frame_terms and split.info.role == "backbone"
    clip = np.random.default_rng(2).uniform(0, 255, (1, 6, 3, 64, 32)).astype(np.float32)
    scores, strips = split.run_backbone(clip[0])
    assert scores.shape == (6, 4) and strips.shape[:2] == (6, 4)
    fused = fuse("sta", scores[None], strips[None], fusion=split.fusion)
    np.testing.assert_allclose(split.run_head(fused), full.run_full(clip), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("fixture", ["sta_split", "tp_split"])
@pytest.mark.parametrize("updates", [[1] * 5, [3, 1, 5, 2]])
def test_stream_equals_offline_all_frames(request, fixture, updates, make_tracklets):
    model = _load(request.getfixturevalue(fixture))
    frames = make_tracklets([sum(updates)], seed=len(updates))[0]
    stream = TrackletStream(model)
    seen = 0
    for size in updates:
        stream.update("t", frames[seen:seen + size])
        seen += size
        offline = model.embed([frames[:seen]], sampling="all")[0]
        np.testing.assert_allclose(stream.embedding("t"), offline, rtol=1e-5, atol=1e-5)


def test_streams_run_parts_of_a_batch_side_by_side(sta_onnx, sta_split):
    for path in (sta_onnx, sta_split):
        parallel = OpenVINOBackend(path, threads=2, streams=2, hint="throughput")
        assert parallel.describe()["streams"] == 2 and parallel.describe()["hint"] == "throughput"
        single = OpenVINOBackend(path, threads=1)
        if parallel.mode == "full":
            clips = np.random.default_rng(3).uniform(0, 255, (5, 3, 3, 64, 32)).astype(np.float32)
            np.testing.assert_allclose(parallel.run_full(clips), single.run_full(clips), rtol=1e-5, atol=1e-5)
        else:
            frames = np.random.default_rng(3).uniform(0, 255, (7, 3, 64, 32)).astype(np.float32)
            for mine, theirs in zip(parallel.run_backbone(frames), single.run_backbone(frames)):
                np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-5)


# --- the FP16 and INT8 exports of the same checkpoint ---------------------------------------------------------------

@pytest.fixture(scope="module")
def low_precision(sta_checkpoint, tmp_path_factory) -> dict[str, Path]:
    """onnx-fp16 and onnx-int8 exports (full graphs) of the tiny STA checkpoint."""
    api = pytest.importorskip("reid_export.api")
    folder = tmp_path_factory.mktemp("ov_low_precision")
    rng = np.random.default_rng(0)
    (folder / "calib").mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (64, 32, 3), dtype=np.uint8)).save(folder / "calib" / f"{i}.png")
    files = {"fp16": folder / "sta_fp16.onnx", "int8": folder / "sta_int8.onnx"}
    api.export(sta_checkpoint, format="onnx-fp16", out=files["fp16"], no_verify=True)
    api.export(sta_checkpoint, format="onnx-int8", out=files["int8"], calib=folder / "calib", no_verify=True)
    return files


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_fp16_file_matches_onnxruntime(low_precision, make_tracklets):
    tracklets = make_tracklets([4, 7, 12], seed=6)
    model = _load(low_precision["fp16"])
    assert model.info.precision == "fp16" and model.backend.describe()["precision"] == "f32"
    ort = reid_runtime.load(low_precision["fp16"], threads=1).embed(tracklets)
    assert _cosines(model.embed(tracklets), ort).min() > 0.9999


def test_int8_file_runs_its_convolutions_in_u8(low_precision, sta_onnx, make_tracklets):
    model = _load(low_precision["int8"])
    assert model.info.precision == "int8"
    runtime = model.backend.full.compiled.get_runtime_model()
    convolutions = [op.get_rt_info()["runtimePrecision"].astype(str) for op in runtime.get_ordered_ops()
                    if op.get_rt_info()["layerType"].astype(str) == "Convolution"]
    assert convolutions and set(convolutions) == {"u8"}  # under the f32 hint too
    tracklets = make_tracklets([4, 7, 12], seed=6)
    fp32 = reid_runtime.load(sta_onnx, threads=1).embed(tracklets)
    int8 = model.embed(tracklets)
    assert _cosines(int8, fp32).min() > 0.99
    assert _cosines(int8, reid_runtime.load(low_precision["int8"], threads=1).embed(tracklets)).min() > 0.99


# --- errors: one line naming the file or the value ---------------------------------------------------------------


def test_wrong_files_and_options_are_one_line(sta_onnx, sta_checkpoint, tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"not protobuf at all")
    (tmp_path / "cut.onnx").write_bytes(sta_onnx.read_bytes()[:5000])
    for name in ("junk.onnx", "cut.onnx"):
        with pytest.raises(ReidError, match=f"{name}: not a loadable ONNX model"):
            _load(tmp_path / name)
    with pytest.raises(ReidError, match="a .pt file runs on the torch backend, not openvino"):
        _load(sta_checkpoint)
    with pytest.raises(ReidError, match="missing.onnx: model file not found"):
        _load(tmp_path / "missing.onnx")
    for options, message in (({"hint": "fast"}, "hint 'fast' is not one of latency, throughput"),
                             ({"precision": "int4"}, "precision 'int4' is not one of f32, bf16, f16"),
                             ({"streams": 0}, "streams must be a positive integer"),
                             ({"providers": ["cpu"]}, "the openvino backend does not take providers")):
        with pytest.raises(ReidError, match=message):
            _load(sta_onnx, **options)


def test_the_graph_contract_is_checked(sta_onnx, tmp_path):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(sta_onnx)
    for prop in model.metadata_props:
        if prop.key == "reid.embedding_dim":
            prop.value = "64"
    onnx.save(model, tmp_path / "bad.onnx")
    with pytest.raises(ReidError, match="bad.onnx: output 'embedding' is 32-d but its metadata says "
                                        "reid.embedding_dim 64") as error:
        _load(tmp_path / "bad.onnx")
    assert "\n" not in str(error.value)
    del model.metadata_props[:]
    onnx.save(model, tmp_path / "plain.onnx")
    with pytest.raises(ReidError, match="plain.onnx: not a reid-toolkit export"):
        _load(tmp_path / "plain.onnx")


# --- the commands -------------------------------------------------------------------------------------------------


@pytest.fixture
def crops(make_tracklets, tmp_path) -> Path:
    root = tmp_path / "crops"
    for i, frames in enumerate(make_tracklets([2, 5, 9], seed=8)):
        (root / f"t{i}").mkdir(parents=True)
        for j, frame in enumerate(frames):
            Image.fromarray(frame).save(root / f"t{i}" / f"{j}.png")
    return root


def _reid(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_reid_embed_with_backend_openvino(sta_split, crops, tmp_path):
    for backend in ("openvino", "onnxruntime"):
        _reid("embed", "--model", sta_split, "--tracklets", crops, "--out", tmp_path / f"{backend}.npz",
              "--backend", backend, "--threads", 1, "--no-progress")
    ov, ort = load_embeddings(tmp_path / "openvino.npz"), load_embeddings(tmp_path / "onnxruntime.npz")
    assert ov.meta["backend"] == "openvino" and list(ov.tids) == list(ort.tids) and len(ov.tids) == 3
    np.testing.assert_allclose(ov.embeddings, ort.embeddings, rtol=1e-4, atol=1e-4)


def test_reid_eval_with_backend_openvino_scores_like_onnxruntime(sta_onnx, tiny_mars):
    reports = {}
    for backend in ("openvino", "onnxruntime"):
        result = _reid("eval", "--model", sta_onnx, "--data-root", tiny_mars, "--dataset", "mars", "--max-clips", 2,
                       "--backend", backend, "--threads", 1, "--json", "--no-progress")
        reports[backend] = json.loads(result.stdout)
    assert reports["openvino"]["backend"] == "openvino"
    mine, theirs = reports["openvino"]["results"][0], reports["onnxruntime"]["results"][0]
    for score in ("R1", "R5", "mAP", "mINP"):
        assert mine[score] == pytest.approx(theirs[score], abs=1e-3)


def test_reid_bench_latency_times_onnxruntime_and_openvino_side_by_side(sta_onnx):
    result = _reid("bench", "latency", "--model", sta_onnx, "--backends", "onnxruntime,openvino", "--threads", 1,
                   "--runs", 2, "--warmup", 1, "--min-seconds", 0, "--json")
    entries = {e["label"]: e for e in json.loads(result.stdout)["entries"]}
    ov = entries["sta.onnx [openvino]"]
    assert entries["sta.onnx [onnxruntime]"]["status"] == "ok" and ov["status"] == "ok"
    assert ov["providers"] == ["CPU"] and ov["rows"][0]["p50_ms"] > 0 and ov["cosine_min_vs_first"] > 0.9999


def test_edge_install_without_the_extra_names_it(run_edge, sta_onnx, crops, tmp_path):
    result = run_edge("embed", "--model", sta_onnx, "--tracklets", crops, "--out", tmp_path / "e.npz",
                      "--backend", "openvino")
    assert result.returncode == 1 and "pip install 'reid-toolkit[openvino]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "e.npz").exists()


def test_edge_install_with_the_extra_embeds_without_torch(run_edge_openvino, sta_split, crops, tmp_path):
    result = run_edge_openvino("embed", "--model", sta_split, "--tracklets", crops, "--out", tmp_path / "e.npz",
                               "--backend", "openvino", "--threads", "1", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["count"] == 3
    saved = load_embeddings(tmp_path / "e.npz")
    assert saved.meta["backend"] == "openvino" and saved.embeddings.shape == (3, 32)
