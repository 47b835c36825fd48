from collections import Counter

import numpy as np
import pytest

from reid_train.data.pk_sampler import PKSampler

# 8 identities with 1..12 tracklets each; ids 10 and 14 have fewer than K=4.
LABELS = [10] * 1 + [11] * 12 + [12] * 5 + [13] * 8 + [14] * 3 + [15] * 4 + [16] * 9 + [17] * 6


def _batches(sampler):
    indices = list(sampler)
    assert len(indices) == len(sampler)
    return np.array(indices).reshape(-1, sampler.batch_size)


@pytest.mark.parametrize(("p", "k"), [(2, 4), (3, 2), (4, 4), (8, 1)])
def test_every_batch_has_p_distinct_ids_with_k_items(p, k):
    labels = np.array(LABELS)
    sampler = PKSampler(LABELS, p, k, seed=3)
    assert sampler.batch_size == p * k
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = _batches(sampler)
        assert len(batches) > 0
        for batch in batches:
            ids = labels[batch].reshape(p, k)
            assert (ids == ids[:, :1]).all()  # each id's K items are contiguous
            assert len(set(ids[:, 0].tolist())) == p


def test_ids_with_fewer_than_k_tracklets_are_filled_with_their_own():
    labels = np.array(LABELS)
    seen = Counter()
    sampler = PKSampler(LABELS, 4, 4, seed=0)
    for epoch in range(10):
        sampler.set_epoch(epoch)
        for batch in _batches(sampler):
            for group in batch.reshape(4, 4):
                seen[labels[group[0]]] += 1
                if labels[group[0]] == 10:
                    assert group.tolist() == [0, 0, 0, 0]
                if labels[group[0]] == 14:
                    assert set(group.tolist()) == {26, 27, 28}
    assert seen[10] > 0 and seen[14] > 0


def test_epoch_uses_each_tracklet_at_most_once_for_ids_with_k_or_more():
    labels = np.array(LABELS)
    sampler = PKSampler(LABELS, 2, 4, seed=1)
    indices = np.array(list(sampler))
    big = np.isin(labels[indices], [11, 12, 13, 15, 16, 17])
    assert len(np.unique(indices[big])) == big.sum()
    # groups: 1,3,1,2,1,1,2,1 = 12 -> 6 batches of 2 ids, all feasible
    assert len(sampler) == 6 * 8


def test_length_is_the_most_distinct_id_batches():
    # one id with 10 groups, three with one: only 3 batches of P=2 distinct ids are possible
    labels = [0] * 40 + [1] * 4 + [2] * 4 + [3] * 4
    sampler = PKSampler(labels, 2, 4)
    for epoch in range(5):
        sampler.set_epoch(epoch)
        batches = _batches(sampler)
        assert len(batches) == 3
        assert all(0 in np.array(labels)[b] for b in batches)


def test_random_label_sets_always_fill_len():
    rng = np.random.default_rng(0)
    for trial in range(30):
        labels = rng.integers(0, 12, size=rng.integers(12, 80)).tolist()
        p = int(rng.integers(1, len(set(labels)) + 1))
        sampler = PKSampler(labels, p, 3, seed=trial)
        _batches(sampler)


def test_order_is_a_function_of_seed_and_epoch():
    a, b = PKSampler(LABELS, 2, 4, seed=5), PKSampler(LABELS, 2, 4, seed=5)
    a.set_epoch(3)
    b.set_epoch(3)
    assert list(a) == list(b)
    assert list(a) == list(a)
    b.set_epoch(4)
    assert list(a) != list(b)
    c = PKSampler(LABELS, 2, 4, seed=6)
    c.set_epoch(3)
    assert list(a) != list(c)


@pytest.mark.parametrize("world_size", [2, 3])
def test_ddp_shares_are_disjoint_equal_and_cover_the_single_process_order(world_size):
    single = PKSampler(LABELS, 2, 4, seed=2)
    single.set_epoch(1)
    order = _batches(single)
    shards = []
    for rank in range(world_size):
        sampler = PKSampler(LABELS, 2, 4, seed=2, rank=rank, world_size=world_size)
        sampler.set_epoch(1)
        shards.append(_batches(sampler))
    assert len({len(s) for s in shards}) == 1
    n = len(shards[0])
    assert n == len(order) // world_size
    interleaved = np.stack(shards, axis=1).reshape(-1, single.batch_size)
    np.testing.assert_array_equal(interleaved, order[: n * world_size])


def test_ddp_without_dropping_pads_the_last_round():
    single = PKSampler(LABELS, 2, 4, seed=2)  # 6 batches
    shards = [_batches(PKSampler(LABELS, 2, 4, seed=2, rank=r, world_size=4, drop_last_incomplete=False))
              for r in range(4)]
    assert [len(s) for s in shards] == [2, 2, 2, 2]
    order = _batches(single)
    np.testing.assert_array_equal(shards[2][1], order[0])
    np.testing.assert_array_equal(shards[0][1], order[4])


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="at least p=9 identities.*8"):
        PKSampler(LABELS, 9, 4)
    with pytest.raises(ValueError, match="rank"):
        PKSampler(LABELS, 2, 4, rank=2, world_size=2)
    with pytest.raises(ValueError, match="world_size"):
        PKSampler([0] * 4 + [1] * 4, 2, 4, world_size=2)
    with pytest.raises(ValueError, match="k"):
        PKSampler(LABELS, 2, 0)


def test_identity_epochs_take_one_group_of_k_per_identity():
    labels = np.repeat(np.arange(10), [2, 9, 9, 9, 9, 12, 3, 8, 5, 20])  # 86 tracklets of 10 identities
    tracklet_epochs = PKSampler(labels, p=3, k=4)
    identity_epochs = PKSampler(labels, p=3, k=4, epoch_size="identities", seed=5)
    assert len(identity_epochs) // identity_epochs.batch_size == 10 // 3
    assert len(tracklet_epochs) > len(identity_epochs)
    for epoch in range(3):
        identity_epochs.set_epoch(epoch)
        batches = identity_epochs.epoch_batches()
        seen = np.concatenate([np.unique(labels[b]) for b in batches])
        assert len(seen) == len(set(seen.tolist())) == 9  # every identity at most once: one group of k
        for batch in batches:
            assert all(np.sum(labels[batch] == pid) == 4 for pid in np.unique(labels[batch]))
    with pytest.raises(ValueError, match="epoch_size"):
        PKSampler(labels, p=3, k=4, epoch_size="frames")
