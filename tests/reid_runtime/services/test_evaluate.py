"""The evaluation service: one report for CLI, demo and Python users; scores in percent; clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import reid_runtime
from reid_runtime.data.frames import FrameReadError
from reid_runtime.data.registry import load_dataset
from reid_runtime.errors import ReidError
from reid_runtime.evaluation import score
from reid_runtime.services.evaluate import EvalReport, evaluate


def test_report_rows_equal_scoring_the_embeddings_directly(sta_onnx, tiny_mars):
    model = reid_runtime.load(sta_onnx)
    lines: list[str] = []
    report = evaluate(model, tiny_mars, "mars", protocol="with-query", seq_lens=[2, 4], max_clips=2, log=lines.append)
    assert isinstance(report, EvalReport) and report.files == []
    assert [row["seq_len"] for row in report.rows] == [2, 4] and report.model == str(sta_onnx)
    splits = load_dataset("mars", tiny_mars, protocol="with-query", attributes=False)
    q = model.embed(splits.query, seq_len=4, max_clips=2)
    g = model.embed(splits.gallery, seq_len=4, max_clips=2)
    expected = score(q, g, splits.query, splits.gallery, protocol="with-query")
    for key in ("R1", "R5", "R20", "mAP", "mINP", "num_valid_queries"):
        assert report.row(4)[key] == pytest.approx(expected[key], abs=1e-4), key
    assert report.row(4)["mAP"] > 1  # percent
    assert any("onnxruntime" in line for line in lines) and report.table() in lines
    assert report.markdown().startswith("### mars (with-query protocol) - sta.onnx on onnxruntime")


def test_query_tracklets_in_the_gallery_are_embedded_once(sta_onnx, tiny_mars, monkeypatch):
    model = reid_runtime.load(sta_onnx)
    counts = []
    original = type(model).embed

    def counting(self, tracklets, **options):
        counts.append(len(tracklets))
        return original(self, tracklets, **options)

    monkeypatch.setattr(type(model), "embed", counting)
    evaluate(model, tiny_mars, "mars", protocol="official", sampling="evenly")
    splits = load_dataset("mars", tiny_mars, protocol="official", attributes=False)
    assert counts == [len({t.key for t in [*splits.query, *splits.gallery]})] and counts[0] < len(splits.query) + len(
        splits.gallery)


def test_registry_name_with_an_input_size_writes_files(tiny_mars, tmp_path):
    pytest.importorskip("torch")
    report = evaluate("tp_tiny", tiny_mars, "mars", input_size=(64, 32), sampling="evenly", rerank=True,
                      out=tmp_path, visualize=True, num_visualize=2)
    assert report.backend == "torch" and report.model_info["input_size"] == (64, 32)
    assert [(r["seq_len"], r["reranked"]) for r in report.rows] == [(4, False), (4, True)]
    written = json.loads((tmp_path / "eval.json").read_text())
    assert written == json.loads(json.dumps(report.to_dict()))
    assert {Path(f).parent.name for f in written["files"]} == {"ranked_lists", tmp_path.name}  # TP: no attention
    assert not (tmp_path / "attention").exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"seq_lens": []}, "seq_lens is empty"),
    ({"seq_lens": [0]}, "seq_lens must be a positive integer"),
    ({"sampling": "random"}, "unknown sampling 'random'"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"visualize": True}, "visualize needs out"),
    ({"dataset": "market"}, "unknown dataset 'market'"),
    ({"protocol": "official", "dataset": "dukev"}, "has no protocol 'official'"),
    ({"threads": 2}, "loaded already"),
])
def test_bad_input_is_a_reid_error(sta_onnx, tiny_mars, kwargs, message):
    options = {"dataset": "mars"} | kwargs
    dataset = options.pop("dataset")
    with pytest.raises(ReidError, match=message):
        evaluate(reid_runtime.load(sta_onnx), tiny_mars, dataset, **options)


def _corrupt_copy(tiny_mars: Path, tmp_path: Path, protocol: str = "standard") -> tuple[Path, object]:
    root = tmp_path / "mars"
    shutil.copytree(tiny_mars, root)
    return root, load_dataset("mars", root, protocol=protocol, attributes=False)


def test_an_unreadable_gallery_frame_skips_its_tracklet_and_the_rest_scores_exactly(sta_onnx, tiny_mars, tmp_path):
    root, splits = _corrupt_copy(tiny_mars, tmp_path)
    victim = splits.gallery[2]
    frame = victim.frames[len(victim.frames) // 2]
    Path(frame).write_bytes(Path(frame).read_bytes()[:40])  # truncated JPEG
    lines: list[str] = []
    report = evaluate(sta_onnx, root, "mars", seq_lens=[2, 4], sampling="all", out=tmp_path / "eval",
                      log=lines.append)

    assert [(s["tid"], s["role"]) for s in report.skipped] == [(victim.tid, "gallery")]
    assert frame in report.skipped[0]["error"]  # the real frame, not the tracklet's first one
    assert any(frame in line for line in lines) and "Skipped 1 tracklets" in report.table()
    model = reid_runtime.load(sta_onnx)
    gallery = [t for t in splits.gallery if t is not victim]
    for length in (2, 4):  # equal to evaluating the dataset without that tracklet
        expected = score(model.embed(splits.query, seq_len=length, sampling="all"),
                         model.embed(gallery, seq_len=length, sampling="all"), splits.query, gallery)
        row = report.row(length)
        assert row["num_gallery"] == len(splits.gallery) - 1 and row["num_queries"] == len(splits.query)
        for key in ("R1", "R5", "mAP", "mINP", "num_valid_queries"):
            assert row[key] == pytest.approx(expected[key], abs=1e-6), key
    written = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert written["skipped_gallery"] == 1 and written["skipped_queries"] == 0
    assert written["skipped"][0]["tid"] == victim.tid and frame in written["skipped"][0]["error"]
    assert frame in (tmp_path / "eval" / "eval.md").read_text()


def test_an_unreadable_query_leaves_the_query_set(sta_onnx, tiny_mars, tmp_path):
    root, splits = _corrupt_copy(tiny_mars, tmp_path, "with-query")
    victim = splits.query[0]
    Path(victim.frames[-1]).write_bytes(b"")
    report = evaluate(sta_onnx, root, "mars", protocol="with-query", sampling="all")
    assert len(report.skipped) == 1 and report.skipped[0]["tid"] == victim.tid
    assert report.skipped[0]["role"].startswith("query") and "empty file" in report.skipped[0]["error"]
    assert report.row(4)["num_queries"] == len(splits.query) - 1
    assert report.skipped_queries == 1 and report.to_dict()["skipped_queries"] == 1


def test_strict_stops_at_the_first_unreadable_frame(sta_onnx, tiny_mars, tmp_path):
    root, splits = _corrupt_copy(tiny_mars, tmp_path)
    frame = splits.query[1].frames[0]
    Path(frame).write_text("not an image")
    with pytest.raises(FrameReadError, match="strict") as error:
        evaluate(sta_onnx, root, "mars", sampling="all", strict=True, out=tmp_path / "eval")
    assert error.value.path == frame and frame in str(error.value)
    assert not (tmp_path / "eval").exists()


def test_nothing_left_to_score_is_one_error(sta_onnx, tiny_mars, tmp_path):
    root, splits = _corrupt_copy(tiny_mars, tmp_path)
    for tracklet in splits.query:
        Path(tracklet.frames[0]).write_bytes(b"broken")
    with pytest.raises(ReidError, match=r"all \d+ query tracklets have unreadable frames"):
        evaluate(sta_onnx, root, "mars", sampling="all")


def test_a_frame_only_the_pictures_use_stops_the_pictures_not_the_scores(sta_onnx, tiny_mars, tmp_path):
    from reid_runtime.data.sampling import sample_test_clips

    root, splits = _corrupt_copy(tiny_mars, tmp_path)
    query = splits.query[0]  # the first query is always drawn
    scored = set(sample_test_clips(len(query), 2, "evenly").ravel().tolist())
    drawn = [i for i in sample_test_clips(len(query), 4, "evenly")[0].tolist() if i not in scored]
    assert drawn, "the ranked list draws more frames of the query than an evenly sampled 2-frame clip uses"
    frame = query.frames[drawn[0]]
    Path(frame).write_bytes(b"")
    report = evaluate(sta_onnx, root, "mars", seq_lens=[2], sampling="evenly", out=tmp_path / "eval", visualize=True)
    assert report.skipped == [] and report.row(2)["num_queries"] == len(splits.query)
    written = json.loads((tmp_path / "eval" / "eval.json").read_text())
    notes = [note for note in written["notes"] if note.startswith("Pictures stopped at an unreadable frame")]
    assert len(notes) == 1 and frame in notes[0]
    with pytest.raises(FrameReadError, match="empty file"):
        evaluate(sta_onnx, root, "mars", seq_lens=[2], sampling="evenly", out=tmp_path / "eval2", visualize=True,
                 strict=True)
