"""The evaluation service: one report for CLI, demo and Python users; scores in percent; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import reid_runtime
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


def test_unreadable_frames_stop_the_evaluation(sta_onnx, tiny_mars, tmp_path):
    import shutil

    root = tmp_path / "mars"
    shutil.copytree(tiny_mars, root)
    splits = load_dataset("mars", root, attributes=False)
    Path(splits.query[0].frames[0]).write_bytes(b"broken")
    with pytest.raises(ReidError, match="1 tracklets could not be embedded") as error:
        evaluate(sta_onnx, root, "mars", sampling="all", out=tmp_path / "eval")
    assert splits.query[0].frames[0] in str(error.value) and not (tmp_path / "eval").exists()
