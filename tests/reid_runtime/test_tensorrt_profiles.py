"""TensorRT profile planning: parsing, validation, choosing a profile by T, sub-batching."""

from __future__ import annotations

import pytest

from reid_runtime.tensorrt_profiles import (
    DEFAULT_PROFILES,
    Profile,
    ProfileError,
    parse_profile,
    parse_profiles,
    plan_batches,
    profile_for,
    profiles_from_json,
    profiles_to_json,
)


def test_parse_ranges_single_sizes_and_optimum():
    assert parse_profile("1-8x1-4") == Profile(1, 8, 1, 4, 8, 4)
    assert parse_profile("8x4") == Profile(8, 8, 4, 4)
    assert parse_profile(" 1-32 x 5-8 @ 16x6 ") == Profile(1, 32, 5, 8, 16, 6)
    assert str(parse_profile("1-32x5-8@16x6")) == "1-32x5-8@16x6" and str(parse_profile("1-8x1-4")) == "1-8x1-4"


@pytest.mark.parametrize("text, message", [
    ("1-8", "not Bmin-BmaxxTmin-Tmax"),
    ("8-1x1-4", "batch range 8-1 is reversed"),
    ("1-8x4-1", "seq range 4-1 is reversed"),
    ("0-8x1-4", "min_batch must be an int >= 1"),
    ("1-8x1-4@9x4", "optimum batch 9 is outside 1-8"),
    ("1-8x1-4,1-8x4-8", "overlap in seq"),
    ("", "no profile"),
])
def test_invalid_profiles_are_rejected(text, message):
    with pytest.raises(ProfileError, match=message):
        parse_profiles(text)


def test_profiles_are_sorted_by_seq_and_shapes_use_the_input_size():
    profiles = parse_profiles("1-16x9-32,1-32x1-4")
    assert [p.min_seq for p in profiles] == [1, 9]
    assert profiles[0].shapes((256, 128)) == ((1, 1, 3, 256, 128), (32, 4, 3, 256, 128), (32, 4, 3, 256, 128))
    with pytest.raises(ProfileError, match="input size"):
        profiles[0].shapes((256,))


def test_profile_for_picks_the_t_bucket_and_names_uncovered_t():
    profiles = parse_profiles(DEFAULT_PROFILES)
    assert [profile_for(profiles, 1, t) for t in (1, 4, 5, 8, 9, 32)] == [0, 0, 1, 1, 2, 2]
    assert profile_for(profiles, 100, 2) == 0  # larger batches are split, not refused
    with pytest.raises(ProfileError, match="seq 33 is outside every profile.*1-4, 5-8, 9-32"):
        profile_for(profiles, 1, 33)
    with pytest.raises(ProfileError, match="below profile"):
        profile_for(parse_profiles("4-8x1-4"), 2, 3)


def test_plan_batches_splits_over_the_profile_max():
    profiles = parse_profiles("1-8x1-4,1-4x5-16")
    assert plan_batches(profiles, 20, 3) == [(0, 0, 8), (0, 8, 16), (0, 16, 20)]
    assert plan_batches(profiles, 4, 10) == [(1, 0, 4)]
    assert plan_batches(profiles, 9, 10) == [(1, 0, 4), (1, 4, 8), (1, 8, 9)]


def test_plan_batches_keeps_every_chunk_above_min_batch():
    profiles = parse_profiles("2-8x1-4")
    assert plan_batches(profiles, 9, 2) == [(0, 0, 7), (0, 7, 9)]
    with pytest.raises(ProfileError, match="cannot be split"):
        plan_batches(parse_profiles("3-4x1-4"), 5, 2)


def test_json_round_trip():
    profiles = parse_profiles("1-32x1-4,1-16x5-8@8x8")
    assert profiles_from_json(profiles_to_json(profiles)) == profiles
    with pytest.raises(ProfileError, match="expected"):
        profiles_from_json([{"batch": [1, 2]}])
