import json

import numpy as np
import pytest

from reid_runtime.data.tracklet import Tracklet
from reid_runtime.evaluation import format_results_table, results_markdown, score, write_results_json


def _tracklets(pids, cams, prefix="t"):
    return [Tracklet(frames=(f"{prefix}{i}.jpg",), pid=p, camid=c, tid=f"{prefix}{i}")
            for i, (p, c) in enumerate(zip(pids, cams))]


def _embed(tracklets, dim=8):
    """One-hot per pid, so the same pid is at distance 0 and every other pid at the same larger distance."""
    return np.eye(dim)[[t.pid for t in tracklets]]


QUERY = _tracklets([1, 2, 3], [1, 1, 1], "q")
GALLERY = _tracklets([1, 2, 3, 4, 5, 1], [2, 2, 2, 2, 2, 1], "g")


def test_perfect_embeddings_score_100_percent():
    result = score(_embed(QUERY), _embed(GALLERY), QUERY, GALLERY)
    for key in ("R1", "R5", "R10", "R20", "mAP", "mINP"):
        assert result[key] == pytest.approx(100.0)
    assert result["num_valid_queries"] == result["num_queries"] == 3
    assert result["num_gallery"] == 6
    assert (result["protocol"], result["metric"], result["reranked"]) == ("standard", "euclidean", False)
    assert len(result["cmc"]) == 50
    assert "distmat" not in result


def test_shuffled_embeddings_score_lower():
    g_emb = _embed(GALLERY)[[1, 2, 0, 3, 4, 5]]  # gallery items 0..2 now look like pids 2, 3, 1
    result = score(_embed(QUERY), g_emb, QUERY, GALLERY, metric="cosine")
    assert result["R1"] == pytest.approx(0.0)
    assert result["mAP"] < 50.0
    assert result["R5"] == pytest.approx(100.0)


def test_with_query_appends_queries_so_a_query_matched_only_by_a_query_becomes_valid():
    query = _tracklets([1, 1, 2], [1, 2, 1], "q")  # q0's only cross-camera match is the query q1
    gallery = _tracklets([2, 3], [2, 2], "g")
    q_emb, g_emb = _embed(query), _embed(gallery)

    standard = score(q_emb, g_emb, query, gallery, protocol="standard")
    assert standard["num_valid_queries"] == 1
    with_query = score(q_emb, g_emb, query, gallery, protocol="with-query", return_distances=True)
    assert with_query["num_valid_queries"] == with_query["num_queries"] == 3
    assert with_query["num_gallery"] == 5
    assert [t.key for t in with_query["gallery"]] == [t.key for t in gallery + query]
    assert with_query["distmat"].shape == (3, 5)
    assert with_query["mAP"] == pytest.approx(100.0)

    # A gallery that already holds the queries (as load_dataset(protocol="with-query") builds it) is kept as is.
    prebuilt = score(q_emb, np.concatenate([g_emb, q_emb]), query, gallery + query, protocol="with-query")
    assert prebuilt["num_gallery"] == 5
    assert prebuilt["mAP"] == pytest.approx(with_query["mAP"])


def test_official_protocol_counts_every_query_and_skips_junk():
    query = _tracklets([1, 7], [1, 1], "q")  # pid 7 has no match anywhere
    gallery = _tracklets([-1, 2, 1], [2, 2, 2], "g")
    q_emb = np.array([[0.0, 0.0], [5.0, 5.0]])
    g_emb = np.array([[0.0, 0.1], [0.0, 0.2], [0.0, 0.3]])  # junk, negative, then the positive
    result = score(q_emb, g_emb, query, gallery, protocol="official")
    assert result["num_queries"] == 2
    assert result["num_valid_queries"] == 1
    assert result["num_gallery"] == 5  # the two queries appended
    # Query 0: junk skipped, positive at rank 2, trapezoid AP (0 + 1/2) / 2; query 1 scores 0.
    assert result["R1"] == pytest.approx(0.0)
    assert result["R5"] == pytest.approx(50.0)
    assert result["mAP"] == pytest.approx(100 * (0.25 + 0.0) / 2)


def test_rerank_runs_and_changes_the_distances():
    rng = np.random.default_rng(0)
    query = _tracklets([1, 2, 3, 4], [1, 1, 1, 1], "q")
    gallery = _tracklets([1, 2, 3, 4] * 3, [2] * 12, "g")
    centres = rng.normal(size=(5, 16))
    q_emb = centres[[t.pid for t in query]] + 0.1 * rng.normal(size=(4, 16))
    g_emb = centres[[t.pid for t in gallery]] + 0.1 * rng.normal(size=(12, 16))
    plain = score(q_emb, g_emb, query, gallery, return_distances=True)
    reranked = score(q_emb, g_emb, query, gallery, rerank=True, return_distances=True)
    assert reranked["reranked"] is True
    assert reranked["R1"] == pytest.approx(100.0)
    assert not np.allclose(plain["distmat"], reranked["distmat"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"protocol": "matlab"}, "protocol must be one of"),
        ({"max_rank": 10}, "max_rank"),
        ({"metric": "manhattan"}, "metric must be one of"),
    ],
)
def test_bad_options_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        score(_embed(QUERY), _embed(GALLERY), QUERY, GALLERY, **kwargs)


def test_embedding_rows_must_match_the_tracklets():
    with pytest.raises(ValueError, match="g_emb has 5 rows but there are 6 gallery tracklets"):
        score(_embed(QUERY), _embed(GALLERY)[:5], QUERY, GALLERY)
    with pytest.raises(ValueError, match="same embedding size"):
        score(_embed(QUERY), _embed(GALLERY, dim=9), QUERY, GALLERY)


def _row(seq_len, r1, protocol="standard"):
    return {"seq_len": seq_len, "R1": r1, "R5": 93.8, "R10": 95.7, "R20": 97.04, "mAP": 75.66, "mINP": 50.0,
            "num_valid_queries": 1840, "num_queries": 1980, "protocol": protocol, "metric": "euclidean",
            "reranked": False, "model": "sta", "backend": "onnxruntime", "sampling": "evenly"}


def test_results_table_has_one_row_per_sequence_length_and_the_shared_settings():
    text = format_results_table([_row(2, 81.7), _row(4, 86.3)], "STA on MARS")
    lines = text.splitlines()
    assert lines[0] == "STA on MARS"
    assert lines[1].split() == ["seq_len", "R1", "R5", "R10", "R20", "mAP", "mINP", "valid", "queries"]
    assert lines[3].split() == ["2", "81.7", "93.8", "95.7", "97.0", "75.7", "50.0", "1840/1980"]
    assert lines[4].split()[:2] == ["4", "86.3"]
    assert ("protocol: standard | metric: euclidean | reranked: no | model: sta | backend: onnxruntime | "
            "sampling: evenly") in text


def test_results_table_shows_a_setting_that_differs_between_rows_as_a_column():
    text = format_results_table([_row(4, 86.3), _row(4, 88.0, protocol="official")], "mixed")
    lines = text.splitlines()
    assert lines[1].split()[-1] == "protocol"
    assert lines[3].split()[-1] == "standard"
    assert lines[4].split()[-1] == "official"
    assert "protocol:" not in text


def test_results_table_rejects_rows_that_are_not_scores():
    with pytest.raises(ValueError, match="lacks mINP"):
        format_results_table([{"R1": 1, "R5": 1, "R10": 1, "R20": 1, "mAP": 1}], "x")
    with pytest.raises(ValueError, match="no result rows"):
        results_markdown([])


def test_results_markdown_is_a_table():
    text = results_markdown([_row(2, 81.7), _row(8, 86.2)], title="STA")
    lines = text.splitlines()
    assert lines[0] == "### STA"
    assert lines[2] == "| seq_len | R1 | R5 | R10 | R20 | mAP | mINP | valid queries |"
    assert lines[3].count("---:") == 8
    assert lines[4] == "| 2 | 81.7 | 93.8 | 95.7 | 97.0 | 75.7 | 50.0 | 1840/1980 |"
    assert "protocol: standard" in text


def test_write_results_json_round_trips_score_output(tmp_path):
    result = score(_embed(QUERY), _embed(GALLERY), QUERY, GALLERY)
    path = write_results_json(tmp_path / "out" / "results.json", {"rows": [dict(result, seq_len=4)]})
    loaded = json.loads(path.read_text())
    assert loaded["rows"][0]["seq_len"] == 4
    assert loaded["rows"][0]["mAP"] == pytest.approx(100.0)
    assert loaded["rows"][0]["cmc"] == result["cmc"]
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]


def test_write_results_json_names_the_file_when_payload_is_not_serialisable(tmp_path):
    result = score(_embed(QUERY), _embed(GALLERY), QUERY, GALLERY, return_distances=True)
    target = tmp_path / "results.json"
    with pytest.raises(ValueError, match="results.json: results are not JSON serialisable"):
        write_results_json(target, {"rows": [result]})
    assert list(tmp_path.iterdir()) == []
