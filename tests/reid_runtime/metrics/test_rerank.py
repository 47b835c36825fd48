from __future__ import annotations

import numpy as np
import pytest

from reid_runtime.metrics import evaluate_ranking, pairwise_distance, re_rank, rerank


def _dense_re_rank(q_g, q_q, g_g, k1, k2, lambda_value):
    """The seven steps on dense matrices with plain loops (slow, for small cases)."""
    num_q = len(q_q)
    num = num_q + len(g_g)
    full = np.block([[q_q, q_g], [q_g.T, g_g]]).astype(np.float32) ** 2
    full = (full / full.max(axis=0)).T
    rank = np.argsort(full, axis=1, kind="stable")

    def reciprocal(i, k):
        return [c for c in rank[i, :k + 1] if i in rank[c, :k + 1]]

    v = np.zeros((num, num))
    for i in range(num):
        members = reciprocal(i, k1)
        expanded = set(members)
        for c in members:
            candidate = reciprocal(c, int(np.around(k1 / 2)))
            if len(set(candidate) & set(members)) > 2 / 3 * len(candidate):
                expanded |= set(candidate)
        idx = sorted(expanded)
        weight = np.exp(-full[i, idx].astype(np.float64))
        v[i, idx] = weight / weight.sum()
    if k2 != 1:
        v = np.stack([v[rank[i, :k2]].mean(axis=0) for i in range(num)])
    jaccard = np.zeros((num_q, num - num_q))
    for q in range(num_q):
        for g in range(num - num_q):
            m = np.minimum(v[q], v[num_q + g]).sum()
            jaccard[q, g] = 1 - m / (2 - m)
    return (1 - lambda_value) * jaccard + lambda_value * full[:num_q, num_q:]


def _blocks(q, g):
    return pairwise_distance(q, g), pairwise_distance(q, q), pairwise_distance(g, g)


@pytest.mark.parametrize(("k1", "k2"), [(20, 6), (5, 3), (4, 1), (2, 2)])
@pytest.mark.parametrize("rounded", [False, True])
@pytest.mark.parametrize("small_blocks", [False, True])
def test_matches_dense_reference(k1, k2, rounded, small_blocks, monkeypatch):
    if small_blocks:
        monkeypatch.setattr(rerank, "_ROW_BLOCK_ELEMENTS", 100)
        monkeypatch.setattr(rerank, "_EXPANSION_BLOCK_ELEMENTS", 1000)
        monkeypatch.setattr(rerank, "_JACCARD_BLOCK_ELEMENTS", 300)
    rng = np.random.default_rng(k1 + k2)
    q, g = rng.normal(size=(8, 4)), rng.normal(size=(24, 4))
    if rounded:  # integer features: many tied distances, broken by index in both implementations
        q, g = np.round(q), np.round(g)
    blocks = _blocks(q, g)
    np.testing.assert_allclose(re_rank(*blocks, k1=k1, k2=k2), _dense_re_rank(*blocks, k1, k2, 0.3), atol=1e-6)


def test_output_shape_dtype_finite_non_negative_and_deterministic():
    rng = np.random.default_rng(0)
    blocks = _blocks(rng.normal(size=(5, 16)), rng.normal(size=(30, 16)))
    out = re_rank(*blocks)
    assert out.shape == (5, 30)
    assert out.dtype == np.float32
    assert np.isfinite(out).all() and (out >= 0).all()
    np.testing.assert_array_equal(out, re_rank(*blocks))


def test_lambda_one_gives_the_normalised_squared_distance():
    rng = np.random.default_rng(1)
    q_g, q_q, g_g = _blocks(rng.normal(size=(4, 8)), rng.normal(size=(12, 8)))
    row_max = np.maximum(q_q.max(axis=0), q_g.max(axis=1)) ** 2  # column i of the stacked matrix, i < Q
    np.testing.assert_allclose(re_rank(q_g, q_q, g_g, lambda_value=1.0), q_g**2 / row_max[:, None], rtol=1e-6)


@pytest.mark.parametrize("seed", [0, 2, 10])
def test_rerank_raises_map_on_identity_clusters(seed):
    rng = np.random.default_rng(seed)
    num_ids, per_id = 6, 6
    centers = rng.normal(size=(num_ids, 8))
    g = np.repeat(centers, per_id, axis=0) + 0.45 * rng.normal(size=(num_ids * per_id, 8))
    q = centers + 0.45 * rng.normal(size=(num_ids, 8))
    labels = (np.arange(num_ids), np.repeat(np.arange(num_ids), per_id), np.zeros(num_ids), np.ones(len(g)))
    q_g, q_q, g_g = _blocks(q, g)
    before = evaluate_ranking(q_g, *labels)["mAP"]
    after = evaluate_ranking(re_rank(q_g, q_q, g_g, k1=6, k2=3), *labels)["mAP"]
    assert before < 1
    assert after > before


def test_all_zero_distances_do_not_divide_by_zero():
    out = re_rank(np.zeros((2, 3)), np.zeros((2, 2)), np.zeros((3, 3)), k1=2, k2=2)
    assert np.isfinite(out).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(q_q=np.zeros((3, 3))), "q_q must have shape"),
        (dict(g_g=np.zeros((4, 5))), "g_g must have shape"),
        (dict(q_g=np.full((2, 4), -1.0)), "negative"),
        (dict(q_g=np.full((2, 4), np.inf)), "NaN or infinite"),
        (dict(k1=0), "k1"),
        (dict(k2=1.5), "k2"),
        (dict(lambda_value=1.5), "lambda_value"),
    ],
)
def test_bad_input_raises(kwargs, message):
    args = dict(q_g=np.ones((2, 4)), q_q=np.ones((2, 2)), g_g=np.ones((4, 4)))
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        re_rank(**args)
