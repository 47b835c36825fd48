from __future__ import annotations

import numpy as np
import pytest

from reid_runtime.metrics import evaluate_ranking, ranking


def _one_query(dists, g_pids, g_cams, q_pid=1, q_cam=0, **kwargs):
    return evaluate_ranking(np.array([dists], dtype=float), [q_pid], g_pids, [q_cam], g_cams, **kwargs)


# Positives (pid 1, other camera) at ranks 1 and 3 of a 4-item gallery.
WORKED = dict(dists=[0.1, 0.2, 0.3, 0.4], g_pids=[1, 2, 1, 3], g_cams=[1, 1, 2, 1])


def test_worked_example_standard_vs_trapezoid_ap():
    standard = _one_query(**WORKED, max_rank=4)
    official = _one_query(**WORKED, max_rank=4, protocol="official")
    assert standard["mAP"] == pytest.approx((1 + 2 / 3) / 2)  # 0.833
    # compute_AP.m: 1/2 * (1 + 1) / 2 + 1/2 * (1/2 + 2/3) / 2 = 19/24
    assert official["mAP"] == pytest.approx(19 / 24)  # 0.792
    for result in (standard, official):
        np.testing.assert_allclose(result["cmc"], [1, 1, 1, 1])
        assert result["mINP"] == pytest.approx(2 / 3)
        assert result["num_valid_queries"] == result["num_queries"] == 1


def test_ties_are_broken_by_gallery_index():
    late = _one_query([0.5, 0.5, 0.5], [2, 1, 3], [1, 1, 1], max_rank=3)
    np.testing.assert_allclose(late["cmc"], [0, 1, 1])
    assert late["mAP"] == pytest.approx(0.5)
    assert late["mINP"] == pytest.approx(0.5)
    early = _one_query([0.5, 0.5, 0.5], [1, 2, 3], [1, 1, 1], max_rank=3)
    np.testing.assert_allclose(early["cmc"], [1, 1, 1])
    assert early["mAP"] == pytest.approx(1.0)


def test_tied_positive_and_negative_with_official_protocol():
    result = _one_query([0.2, 0.2, 0.1], [3, 1, 1], [1, 1, 0], protocol="official", max_rank=2)
    # Item 2 is the query's own copy (junk); item 0 precedes item 1 in the tie, so the hit is at position 2.
    np.testing.assert_allclose(result["cmc"], [0, 1])
    assert result["mAP"] == pytest.approx((0 + 1 / 2) / 2)  # trapezoid from precision 0 after the miss


@pytest.mark.parametrize("protocol", ["standard", "official"])
def test_same_camera_same_pid_is_excluded_but_same_camera_other_pid_is_a_miss(protocol):
    # Item 0: same pid and camera (excluded). Item 1: other pid, same camera (a miss). Item 2: the positive.
    result = _one_query([0.1, 0.2, 0.3], [1, 7, 1], [0, 0, 1], protocol=protocol, max_rank=3)
    np.testing.assert_allclose(result["cmc"], [0, 1, 1])
    assert result["mAP"] == pytest.approx(0.5 if protocol == "standard" else (0 + 1 / 2) / 2)
    assert result["mINP"] == pytest.approx(0.5)


@pytest.mark.parametrize("protocol", ["standard", "official"])
def test_junk_pid_minus_one_is_skipped(protocol):
    result = _one_query([0.0, 0.1, 0.2, 0.3], [-1, -1, 1, 2], [1, 2, 1, 1], protocol=protocol, max_rank=2)
    np.testing.assert_allclose(result["cmc"], [1, 1])
    assert result["mAP"] == pytest.approx(1.0)
    assert result["mINP"] == pytest.approx(1.0)


@pytest.mark.parametrize("protocol", ["standard", "official"])
def test_distractors_pid_zero_are_plain_negatives(protocol):
    result = _one_query([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 0], [1, 0, 2, 1], protocol=protocol, max_rank=3)
    np.testing.assert_allclose(result["cmc"], [0, 0, 1])
    assert result["mAP"] == pytest.approx(1 / 3 if protocol == "standard" else (0 + 1 / 3) / 2)
    assert result["mINP"] == pytest.approx(1 / 3)


def test_query_without_positive_is_skipped_in_standard_and_zero_in_official():
    distmat = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])
    args = (distmat, [1, 5], [1, 5, 2], [0, 0], [1, 0, 1])  # query 1's only match shares its camera
    standard = evaluate_ranking(*args, max_rank=1)
    assert standard["num_queries"] == 2
    assert standard["num_valid_queries"] == 1
    np.testing.assert_array_equal(standard["valid"], [True, False])
    assert standard["mAP"] == pytest.approx(1.0)
    np.testing.assert_allclose(standard["cmc"], [1.0])
    assert np.isnan(standard["ap"][1]) and np.isnan(standard["inp"][1])
    assert np.nanmean(standard["ap"]) == pytest.approx(standard["mAP"])

    official = evaluate_ranking(*args, max_rank=1, protocol="official")
    assert official["num_valid_queries"] == 1
    np.testing.assert_allclose(official["ap"], [1.0, 0.0])
    assert official["mAP"] == pytest.approx(0.5)
    assert official["mINP"] == pytest.approx(0.5)
    np.testing.assert_allclose(official["cmc"], [0.5])


def test_standard_protocol_without_any_valid_query_raises():
    with pytest.raises(ValueError, match="no query has a positive"):
        _one_query([0.1, 0.2], [1, 2], [0, 1])


def test_cmc_has_max_rank_entries_and_repeats_its_last_value_past_the_gallery():
    result = _one_query([0.3, 0.1, 0.2], [1, 2, 3], [1, 1, 1], max_rank=6)
    np.testing.assert_allclose(result["cmc"], [0, 0, 1, 1, 1, 1])
    assert result["cmc"].dtype == np.float64


def test_per_query_values_and_mean():
    distmat = np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    result = evaluate_ranking(distmat, [1, 2], [1, 2, 1, 2], [0, 0], [1, 1, 1, 1], max_rank=2)
    np.testing.assert_allclose(result["ap"], [(1 + 2 / 3) / 2, (1 + 2 / 3) / 2])
    np.testing.assert_allclose(result["cmc"], [1, 1])
    assert 0 <= result["mAP"] <= 1 and 0 <= result["mINP"] <= 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(distmat=np.zeros(3)), "2-D"),
        (dict(q_pids=[1, 2, 3]), "q_pids has 3 entries"),
        (dict(g_camids=[0, 1]), "g_camids has 2 entries"),
        (dict(g_pids=[1.5, 2, 3]), "integer ids"),
        (dict(distmat=np.array([[np.nan, 0, 0], [0, 0, 0]])), "NaN"),
        (dict(max_rank=0), "max_rank"),
        (dict(max_rank=2.0), "max_rank"),
        (dict(protocol="matlab"), "protocol"),
        (dict(distmat=np.zeros((2, 0)), g_pids=[], g_camids=[]), "at least one"),
    ],
)
def test_bad_input_raises(kwargs, message):
    args = dict(distmat=np.zeros((2, 3)), q_pids=[1, 2], g_pids=[1, 2, 3], q_camids=[0, 0], g_camids=[1, 1, 1])
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        evaluate_ranking(**args)


def test_float_ids_with_integer_values_are_accepted():
    result = _one_query([0.1, 0.2], np.array([2.0, 1.0]), np.array([1.0, 1.0]), max_rank=2)
    assert result["mAP"] == pytest.approx(0.5)


def _reference(distmat, q_pids, g_pids, q_cams, g_cams, max_rank, protocol):
    """Slow per-query loops written straight from the protocol descriptions."""
    aps, inps, cmcs, valid = [], [], [], []
    for i in range(len(q_pids)):
        order = sorted(range(len(g_pids)), key=lambda j: (distmat[i, j], j))
        hits_seen, position, ap, precision_old, recall_old = 0, 0, 0.0, 1.0, 0.0
        first, last = None, None
        num_good = sum(
            1 for j in order
            if g_pids[j] == q_pids[i] and g_cams[j] != q_cams[i] and g_pids[j] != -1
        )
        for j in order:
            if g_pids[j] == -1 or (g_pids[j] == q_pids[i] and g_cams[j] == q_cams[i]):
                continue
            position += 1
            hit = g_pids[j] == q_pids[i]
            hits_seen += hit
            if protocol == "standard":
                ap += hits_seen / position if hit else 0.0
            elif num_good:
                recall, precision = hits_seen / num_good, hits_seen / position
                ap += (recall - recall_old) * (precision_old + precision) / 2
                recall_old, precision_old = recall, precision
            if hit:
                first = first or position
                last = position
        if protocol == "standard" and num_good:
            ap /= num_good
        valid.append(num_good > 0)
        aps.append(ap if num_good else 0.0)
        inps.append(num_good / last if num_good else 0.0)
        cmcs.append([1.0 if first is not None and first <= r else 0.0 for r in range(1, max_rank + 1)])
    valid = np.array(valid)
    counted = valid if protocol == "standard" else np.ones(len(valid), dtype=bool)
    return (
        np.array(cmcs)[counted].mean(axis=0),
        np.array(aps)[counted].mean(),
        np.array(inps)[counted].mean(),
        valid,
    )


@pytest.mark.parametrize("protocol", ["standard", "official"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_reference_on_random_tied_matrices(protocol, seed, monkeypatch):
    monkeypatch.setattr(ranking, "_CHUNK_ELEMENTS", 50)  # several query chunks
    rng = np.random.default_rng(seed)
    num_q, num_g, max_rank = 12, 40, 10
    distmat = rng.integers(0, 5, size=(num_q, num_g)).astype(np.float32)  # many duplicated distances
    q_pids = rng.integers(1, 6, num_q)
    g_pids = rng.integers(-1, 6, num_g)
    q_cams = rng.integers(0, 3, num_q)
    g_cams = rng.integers(0, 3, num_g)
    result = evaluate_ranking(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=max_rank, protocol=protocol)
    cmc, mean_ap, mean_inp, valid = _reference(distmat, q_pids, g_pids, q_cams, g_cams, max_rank, protocol)
    np.testing.assert_allclose(result["cmc"], cmc)
    assert result["mAP"] == pytest.approx(mean_ap)
    assert result["mINP"] == pytest.approx(mean_inp)
    np.testing.assert_array_equal(result["valid"], valid)
    assert result["num_valid_queries"] == valid.sum()
