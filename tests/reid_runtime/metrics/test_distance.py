from __future__ import annotations

import numpy as np
import pytest

from reid_runtime.metrics import l2_normalize, pairwise_distance


def _direct(a, b, metric, squared=False):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if metric == "cosine":
        na = np.linalg.norm(a, axis=1, keepdims=True)
        nb = np.linalg.norm(b, axis=1, keepdims=True)
        cos = (a @ b.T) / np.where(na > 0, na, 1) / np.where(nb > 0, nb, 1).T
        return 1 - cos
    sq = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
    return sq if squared else np.sqrt(sq)


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 4096])
@pytest.mark.parametrize(("metric", "squared"), [("euclidean", False), ("euclidean", True), ("cosine", False)])
def test_chunked_equals_direct(chunk_size, metric, squared):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(10, 6)).astype(np.float32)
    b = rng.normal(size=(13, 6)).astype(np.float32)
    out = pairwise_distance(a, b, metric=metric, chunk_size=chunk_size, squared=squared)
    assert out.shape == (10, 13)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, _direct(a, b, metric, squared), rtol=1e-5, atol=1e-5)


def test_float64_inputs_are_computed_in_float64():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 4)) * 1e3
    out = pairwise_distance(a, a + 1e-3)
    np.testing.assert_allclose(out, _direct(a, a + 1e-3, "euclidean"), rtol=1e-3)


def test_features_with_a_large_common_offset_keep_their_small_distances():
    rng = np.random.default_rng(2)
    a = (1000.0 + rng.normal(size=(6, 32))).astype(np.float32)
    out = pairwise_distance(a, a)
    assert np.isfinite(out).all()
    # Without centring, float32 cancellation at |x|^2 ~ 3e7 leaves errors of order 1.
    np.testing.assert_allclose(out, _direct(a, a, "euclidean"), atol=1e-2)


def test_zero_vectors():
    a = np.array([[0.0, 0.0], [3.0, 4.0]])
    b = np.array([[0.0, 0.0], [1.0, 0.0]])
    cosine = pairwise_distance(a, b, metric="cosine")
    np.testing.assert_allclose(cosine, [[1.0, 1.0], [1.0, 0.4]], rtol=1e-6)
    np.testing.assert_allclose(pairwise_distance(a, b), [[0.0, 1.0], [5.0, np.sqrt(20)]], rtol=1e-6)


def test_cosine_of_opposite_vectors_is_two():
    out = pairwise_distance([[1.0, 2.0]], [[-2.0, -4.0]], metric="cosine")
    np.testing.assert_allclose(out, [[2.0]], rtol=1e-6)


def test_l2_normalize():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    out = l2_normalize(x)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert out.dtype == np.float64
    assert l2_normalize(np.array([[1, 1]])).dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(l2_normalize(np.random.default_rng(0).normal(size=(4, 5))), axis=1), 1)


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "message"),
    [
        (np.zeros((2, 3)), np.zeros((2, 4)), {}, "same embedding size"),
        (np.zeros(3), np.zeros((2, 3)), {}, "2-D"),
        (np.zeros((2, 3)), np.zeros((2, 3)), {"metric": "manhattan"}, "metric"),
        (np.zeros((2, 3)), np.zeros((2, 3)), {"metric": "cosine", "squared": True}, "squared"),
        (np.zeros((2, 3)), np.zeros((2, 3)), {"chunk_size": 0}, "chunk_size"),
        (np.full((2, 3), np.nan), np.zeros((2, 3)), {}, "NaN"),
    ],
)
def test_bad_input_raises(a, b, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pairwise_distance(a, b, **kwargs)


def test_empty_sets_give_an_empty_matrix():
    assert pairwise_distance(np.zeros((0, 3)), np.ones((4, 3))).shape == (0, 4)
    assert pairwise_distance(np.ones((2, 3)), np.zeros((0, 3)), metric="cosine").shape == (2, 0)
