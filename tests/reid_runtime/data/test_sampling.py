import numpy as np
import pytest

from reid_runtime.data.sampling import TEST_MODES, TRAIN_MODES, sample_test_clips, sample_train_indices

LENGTHS = [1, 2, 3, 4, 5, 7, 8, 13, 64]


@pytest.mark.parametrize("mode", TRAIN_MODES)
@pytest.mark.parametrize("n_frames", LENGTHS)
def test_train_indices_are_valid_ordered_clips(mode, n_frames):
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = sample_train_indices(n_frames, 4, mode, rng)
        assert idx.shape == (4,) and idx.dtype == np.int64
        assert idx.min() >= 0 and idx.max() < n_frames
        assert np.all(np.diff(idx) >= 0)
        if n_frames >= 4:
            assert len(np.unique(idx)) == 4


def test_random_mode_reaches_every_frame():
    rng = np.random.default_rng(1)
    seen = np.concatenate([sample_train_indices(20, 4, "random", rng) for _ in range(200)])
    assert set(seen.tolist()) == set(range(20))


def test_restricted_mode_draws_one_frame_per_chunk():
    rng = np.random.default_rng(2)
    n, seq_len = 10, 4
    edges = np.arange(seq_len + 1) * n // seq_len  # chunks [0,2) [2,5) [5,7) [7,10)
    draws = np.stack([sample_train_indices(n, seq_len, "restricted", rng) for _ in range(300)])
    for i in range(seq_len):
        assert set(draws[:, i].tolist()) == set(range(edges[i], edges[i + 1]))


def test_consecutive_mode_draws_a_run_of_frames_from_any_start():
    rng = np.random.default_rng(3)
    draws = np.stack([sample_train_indices(10, 4, "consecutive", rng) for _ in range(300)])
    assert (np.diff(draws, axis=1) == 1).all()  # adjacent frames, no gaps
    assert set(draws[:, 0].tolist()) == set(range(7))  # every start 0..n-T, the last window included
    np.testing.assert_array_equal(sample_train_indices(3, 4, "consecutive", rng), [0, 0, 1, 2])  # short: padded


@pytest.mark.parametrize("mode", TRAIN_MODES)
def test_train_sampling_follows_the_generator(mode):
    a = [sample_train_indices(50, 8, mode, np.random.default_rng(7)) for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])
    rng = np.random.default_rng(7)
    draws = {tuple(sample_train_indices(50, 8, mode, rng)) for _ in range(10)}
    assert len(draws) > 1


@pytest.mark.parametrize("mode", [*TRAIN_MODES, "evenly", "dense"])
def test_short_tracklets_repeat_frames_in_order(mode):
    expected = [0, 0, 0, 1, 1, 2, 2]
    if mode in TRAIN_MODES:
        got = sample_train_indices(3, 7, mode, np.random.default_rng(0))
    else:
        got = sample_test_clips(3, 7, mode)
        assert got.shape == (1, 7)
        got = got[0]
    assert got.tolist() == expected


def test_evenly_takes_chunk_middles():
    assert sample_test_clips(8, 4, "evenly").tolist() == [[1, 3, 5, 7]]
    assert sample_test_clips(10, 4, "evenly").tolist() == [[1, 3, 6, 8]]
    assert sample_test_clips(4, 4, "evenly").tolist() == [[0, 1, 2, 3]]


@pytest.mark.parametrize("n_frames", LENGTHS)
def test_dense_covers_every_frame_in_consecutive_chunks(n_frames):
    clips = sample_test_clips(n_frames, 4, "dense")
    assert clips.dtype == np.int64
    assert clips.shape == (-(-n_frames // 4), 4)
    assert np.all(np.diff(clips.ravel()) >= 0)
    assert np.unique(clips).tolist() == list(range(n_frames))


def test_dense_pads_the_last_chunk_by_repeating_its_frames_in_order():
    assert sample_test_clips(10, 4, "dense").tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 8, 9, 9]]
    assert sample_test_clips(9, 4, "dense")[-1].tolist() == [8, 8, 8, 8]


def test_dense_max_clips_keeps_evenly_spread_chunks():
    full = sample_test_clips(40, 4, "dense")  # 10 chunks
    capped = sample_test_clips(40, 4, "dense", max_clips=3)
    assert capped.shape == (3, 4)
    np.testing.assert_array_equal(capped, full[[1, 5, 8]])
    assert capped.tolist() == sample_test_clips(40, 4, "dense", max_clips=3).tolist()
    np.testing.assert_array_equal(sample_test_clips(40, 4, "dense", max_clips=10), full)
    np.testing.assert_array_equal(sample_test_clips(40, 4, "dense", max_clips=50), full)


def test_all_mode_is_one_clip_of_every_frame():
    assert sample_test_clips(6, 4, "all").tolist() == [[0, 1, 2, 3, 4, 5]]
    assert sample_test_clips(2, 4, "all").tolist() == [[0, 1]]


def test_bad_lengths_raise_naming_the_value():
    with pytest.raises(ValueError, match="n_frames.*0"):
        sample_train_indices(0, 4, "random", np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_frames.*-3"):
        sample_test_clips(-3, 4, "dense")
    with pytest.raises(ValueError, match="seq_len.*0"):
        sample_test_clips(5, 0, "evenly")
    with pytest.raises(ValueError, match="max_clips"):
        sample_test_clips(5, 2, "dense", max_clips=0)


def test_unknown_modes_list_the_valid_ones():
    with pytest.raises(ValueError, match="random, restricted, consecutive"):
        sample_train_indices(5, 4, "dense", np.random.default_rng(0))
    with pytest.raises(ValueError, match="evenly, dense, all"):
        sample_test_clips(5, 4, "random")
    assert set(TEST_MODES) == {"evenly", "dense", "all"}
