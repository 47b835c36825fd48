"""The search service: files or loaded embeddings, percent scores, NaN rows left out, atomic results file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reid_runtime.embeddings_file import Embeddings, save_embeddings
from reid_runtime.errors import ReidError
from reid_runtime.metrics import evaluate_ranking, pairwise_distance
from reid_runtime.services.search import SearchReport, search


def _set(n: int, seed: int) -> Embeddings:
    rng = np.random.default_rng(seed)
    centres = np.eye(8)[rng.integers(0, 4, n)]
    return Embeddings(centres + 0.3 * rng.normal(size=(n, 8)), np.argmax(centres, axis=1), rng.integers(1, 4, n),
                      [f"t{seed}-{i}" for i in range(n)], [f"/p/{i}" for i in range(n)], {"metric": "euclidean"})


def test_scores_are_percent_of_the_ranking():
    query, gallery = _set(12, 0), _set(40, 1)
    report = search(query, gallery, topk=4)
    assert isinstance(report, SearchReport) and report.out is None
    whole = evaluate_ranking(pairwise_distance(query.embeddings, gallery.embeddings), query.pids, gallery.pids,
                             query.camids, gallery.camids, max_rank=10)
    assert report.scores["mAP"] == pytest.approx(100 * whole["mAP"])
    assert report.scores["R1"] == pytest.approx(100 * whole["cmc"][0]) and report.scores["R10"] <= 100
    assert len(report.results) == 12 and all(len(r["matches"]) == 4 for r in report.results)
    assert "R1" in report.summary() and "scores in %" in report.summary()


def test_files_with_nan_rows_and_the_written_json(tmp_path):
    query, gallery = _set(6, 2), _set(20, 3)
    gallery.embeddings[[0, 5]] = np.nan
    save_embeddings(tmp_path / "q.npz", query)
    save_embeddings(tmp_path / "g.npz", gallery)
    lines: list[str] = []
    report = search(tmp_path / "q.npz", tmp_path / "g.npz", tmp_path / "out" / "results.json", topk=3,
                    exclude_same_camera=True, log=lines.append)
    assert report.left_out == {"gallery": ["t3-0", "t3-5"]} and report.num_gallery == 18
    assert any("leaving out 2" in line for line in lines)
    written = json.loads((tmp_path / "out" / "results.json").read_text())
    assert written == json.loads(json.dumps(report.to_dict())) and len(written["results"]) == 6
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["results.json"]  # no temp file left
    assert "results" not in report.to_dict(with_results=False)


def test_unknown_identities_have_no_scores_and_bad_options_are_errors():
    query = _set(3, 4)
    unknown = Embeddings(query.embeddings, [-1] * 3, query.camids, query.tids, query.paths, query.meta)
    assert search(unknown, _set(10, 5)).scores is None
    with pytest.raises(ReidError, match="topk must be a positive integer"):
        search(query, _set(10, 5), topk=0)
    with pytest.raises(ReidError, match="unknown search engine"):
        search(query, _set(10, 5), engine="annoy")


def _from_model(embeddings: Embeddings, ident: str, model: str) -> Embeddings:
    meta = {**embeddings.meta, "model": model,
            "fingerprint": {"id": ident, "architecture": "sta_tiny", "precision": "fp32", "files": {}}}
    return Embeddings(embeddings.embeddings, embeddings.pids, embeddings.camids, embeddings.tids, embeddings.paths,
                      meta)


def test_files_of_two_models_are_refused_unless_allowed(tmp_path):
    save_embeddings(tmp_path / "q.npz", _from_model(_set(5, 6), "sha256:" + "a" * 64, "/m/a.onnx"))
    save_embeddings(tmp_path / "g.npz", _from_model(_set(12, 7), "sha256:" + "b" * 64, "/m/b.onnx"))
    with pytest.raises(ReidError) as info:
        search(tmp_path / "q.npz", tmp_path / "g.npz", tmp_path / "r.json")
    message = str(info.value)
    assert "\n" not in message and "were embedded by different models" in message
    for name in ("q.npz", "g.npz", "/m/a.onnx", "/m/b.onnx", "sha256:aaaaaaaaaaaa", "sha256:bbbbbbbbbbbb"):
        assert name in message
    assert "--allow-mixed-models" in message and not (tmp_path / "r.json").exists()
    lines: list[str] = []
    report = search(tmp_path / "q.npz", tmp_path / "g.npz", tmp_path / "r.json", allow_mixed_models=True,
                    log=lines.append)
    assert report.num_queries == 5 and any(line.startswith("warning: ") for line in lines)


def test_one_model_passes_and_files_without_fingerprint_get_a_note(tmp_path):
    same = "sha256:" + "c" * 64
    lines: list[str] = []
    search(_from_model(_set(4, 8), same, "/m/a.onnx"), _from_model(_set(9, 9), same, "/copy/a.onnx"), log=lines.append)
    assert not any("fingerprint" in line for line in lines)  # the same content at another path is the same model
    search(_set(4, 8), _from_model(_set(9, 9), same, "/m/a.onnx"), log=lines.append)
    assert [line for line in lines if line.startswith("note: ")] == [
        "note: embeddings in memory carries no model fingerprint (written before reid embed recorded one); cannot "
        "check that both files come from one model"]


def test_an_out_that_is_the_query_or_gallery_file_is_refused(tmp_path):
    save_embeddings(tmp_path / "q.npz", _set(4, 10))
    save_embeddings(tmp_path / "g.npz", _set(9, 11))
    before = (tmp_path / "g.npz").read_bytes()
    for out, role in (("q.npz", "the query file"), ("g.npz", "the gallery file")):
        with pytest.raises(ReidError, match=f"--out .*{out} would overwrite {role}"):
            search(tmp_path / "q.npz", tmp_path / "g.npz", tmp_path / out)
    assert (tmp_path / "g.npz").read_bytes() == before
