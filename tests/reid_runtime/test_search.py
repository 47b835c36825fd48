"""Search: numpy and faiss give the same top-k, camera exclusion, re-ranking limits, chunked evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from reid_runtime import search as search_module
from reid_runtime.embeddings_file import Embeddings
from reid_runtime.errors import ReidError
from reid_runtime.metrics import evaluate_ranking, pairwise_distance
from reid_runtime.search import evaluate, search


def _set(n: int, seed: int, metric: str = "euclidean", dim: int = 16) -> Embeddings:
    rng = np.random.default_rng(seed)
    return Embeddings(rng.normal(size=(n, dim)), rng.integers(0, 6, n), rng.integers(1, 4, n),
                      [f"t{seed}-{i}" for i in range(n)], [f"/p/{i}" for i in range(n)], {"metric": metric})


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("exclude", [False, True])
def test_numpy_and_faiss_agree(metric, exclude):
    pytest.importorskip("faiss")
    query, gallery = _set(23, 0, metric), _set(150, 1, metric)
    a = search(query, gallery, 7, exclude_same_camera=exclude, engine="numpy", chunk_size=5)
    b = search(query, gallery, 7, exclude_same_camera=exclude, engine="faiss", chunk_size=5)
    assert (a.engine, b.engine, a.metric) == ("numpy", "faiss", metric)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.distances, b.distances, rtol=1e-5, atol=1e-5)


def test_ranking_is_the_sorted_distance_row():
    query, gallery = _set(4, 2), _set(30, 3)
    result = search(query, gallery, 5, engine="numpy")
    dist = pairwise_distance(query.embeddings, gallery.embeddings)
    np.testing.assert_array_equal(result.indices, np.argsort(dist, axis=1, kind="stable")[:, :5])
    np.testing.assert_allclose(result.distances, np.sort(dist, axis=1)[:, :5], rtol=1e-6)


def test_exclude_same_camera_drops_only_same_pid_and_camera():
    query = Embeddings(np.zeros((2, 2)), [1, -1], [1, 1], ["q1", "q2"], ["", ""])
    gallery = Embeddings(np.arange(8).reshape(4, 2), [1, 1, 2, -1], [1, 2, 1, 1], list("abcd"), [""] * 4)
    result = search(query, gallery, 4, exclude_same_camera=True)
    assert result.indices[0].tolist() == [1, 2, 3, -1]  # a (pid 1, cam 1) dropped, padded with -1
    assert np.isinf(result.distances[0, 3])
    assert result.indices[1].tolist() == [0, 1, 2, 3]  # unknown pid: nothing dropped


def test_metric_from_files_and_conflicts():
    assert search(_set(2, 0, "cosine"), _set(5, 1, "cosine"), 2).metric == "cosine"
    with pytest.raises(ReidError, match="different metrics"):
        search(_set(2, 0, "cosine"), _set(5, 1, "euclidean"), 2)
    assert search(_set(2, 0, "cosine"), _set(5, 1, "euclidean"), 2, metric="euclidean").metric == "euclidean"
    nan = _set(3, 4)
    nan.embeddings[1] = np.nan
    with pytest.raises(ReidError, match="1 NaN rows"):
        search(_set(2, 0), nan, 2)


def test_rerank_uses_the_reranked_matrix_and_refuses_large_sets(monkeypatch):
    query, gallery = _set(6, 5), _set(40, 6)
    result = search(query, gallery, 3, rerank=True)
    assert result.engine == "numpy+rerank" and result.distmat.shape == (6, 40)
    np.testing.assert_array_equal(result.indices, np.argsort(result.distmat, axis=1, kind="stable")[:, :3])
    monkeypatch.setattr(search_module, "RERANK_MAX_ITEMS", 45)
    with pytest.raises(ReidError, match="refused above 45 items"):
        search(query, gallery, 3, rerank=True)


def test_chunked_evaluation_equals_whole_matrix_in_percent():
    query, gallery = _set(25, 7), _set(120, 8)
    whole = evaluate_ranking(pairwise_distance(query.embeddings, gallery.embeddings), query.pids, gallery.pids,
                             query.camids, gallery.camids, max_rank=10)
    chunked = evaluate(query, gallery, "euclidean", chunk_size=4)
    assert chunked["R1"] == pytest.approx(100 * whole["cmc"][0])
    assert chunked["R10"] == pytest.approx(100 * whole["cmc"][9])
    assert chunked["mAP"] == pytest.approx(100 * whole["mAP"]) and chunked["mINP"] == pytest.approx(100 * whole["mINP"])
    assert chunked["num_valid_queries"] == whole["num_valid_queries"]
    unknown = Embeddings(query.embeddings, np.full(25, -1), query.camids, query.tids, query.paths)
    assert evaluate(unknown, gallery, "euclidean") is None
