"""Exact checks of balance/sampling.py's edges and report fields (written to kill the mutants
mutmut found surviving test_sampling.py; every expectation is worked out by hand or by a brute
force written here)."""

from __future__ import annotations

import math

import numpy as np
import oracle_balance
import pytest

from realsyn.balance import sampling


def test_rowwise_cosine_scores_float16_rows_in_float32():
    rng = np.random.default_rng(5)
    images = rng.normal(size=(6, 16)).astype(np.float16)
    texts = rng.normal(size=(6, 16)).astype(np.float16)
    expected = [sum(float(a) * float(b) for a, b in zip(images[i], texts[i], strict=True))
                for i in range(6)]
    scores = sampling.rowwise_cosine(images, texts)
    assert scores.dtype == np.float32 and scores.shape == (6,)
    assert np.allclose(scores, expected, rtol=0, atol=1e-5)


def test_band_mask_compares_a_float32_score_by_its_exact_value():
    # float32(0.61) is 0.61000001 and float32(0.51) is 0.50999999: both just outside the band
    scores = np.array([0.61, 0.51, 0.55], dtype=np.float32)
    assert sampling.band_mask(scores, 0.51, 0.61).tolist() == [False, False, True]


def test_score_histogram_default_width_and_exact_bins():
    # default width 0.02; float32(0.52) = 0.51999998 lies in the bin starting at 0.50
    scores = np.array([0.51, 0.515, 0.53, 0.52], dtype=np.float32)
    assert sampling.score_histogram(scores) == [(0.5, 3), (0.52, 1)]
    assert sampling.score_histogram(np.array([np.nan, np.inf])) == []


def test_default_n_clusters_follows_the_ratio():
    assert sampling.default_n_clusters(1000, 100) == 10
    assert sampling.default_n_clusters(1049, 100) == 10
    assert sampling.default_n_clusters(1051, 100) == 11
    assert sampling.default_n_clusters(5, 100) == 1
    assert sampling.default_n_clusters(3, 1) == 3


def test_cluster_images_on_no_rows_one_row_and_one_cluster():
    empty = oracle_balance.cluster_images(np.empty((0, 4), np.float32), 3, iterations=5, seed=0)
    assert empty.dtype == np.int64 and empty.shape == (0,)
    one = oracle_balance.cluster_images(np.eye(1, 4, dtype=np.float32), 3, iterations=5, seed=0)
    assert one.tolist() == [0] and one.dtype == np.int64
    rng = np.random.default_rng(1)
    points = rng.normal(size=(30, 4)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    single = oracle_balance.cluster_images(points, 1, iterations=5, seed=0)
    assert single.tolist() == [0] * 30


def test_cluster_images_trained_on_a_sample_is_reproducible():
    """Two points per cluster train k-means (a seeded sample of the rows): the same seed gives
    the same labels every time."""
    rng = np.random.default_rng(2)
    points = rng.normal(size=(400, 8)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    runs = [oracle_balance.cluster_images(points, 20, iterations=10, seed=3, points_per_cluster=2)
            for _ in range(4)]
    assert all(np.array_equal(runs[0], run) for run in runs[1:])
    assert len(np.unique(runs[0])) > 1


def test_cap_for_target_without_clusters_and_a_negative_target():
    assert sampling.cap_for_target(np.array([], dtype=np.int64), 5) == 0
    with pytest.raises(ValueError) as error:
        sampling.cap_for_target(np.array([3]), -1)
    assert str(error.value) == "target must be >= 0"


def test_cluster_caps_can_give_every_larger_cluster_one_more():
    sizes = np.array([5, 1, 7, 2])
    caps = sampling.cluster_caps(sizes, 2, extra=2, rng=np.random.default_rng(0))
    assert caps.tolist() == [3, 2, 3, 2]  # the two clusters above 2, and only they
    with pytest.raises(ValueError) as error:
        sampling.cluster_caps(sizes, 2, extra=3, rng=np.random.default_rng(0))
    assert str(error.value) == "cannot add 3 members: only 2 clusters exceed the cap 2"


def brute_capped(labels, caps, keys):
    """Per cluster, the caps[c] rows with the smallest (key, row), found by sorting each
    cluster's rows alone."""
    kept = []
    for cluster in np.unique(labels):
        rows = [r for r in range(len(labels)) if labels[r] == cluster]
        rows.sort(key=lambda r: (keys[r], r))
        kept += rows[:caps[cluster]]
    return sorted(kept)


def test_select_capped_keeps_the_smallest_rank_keys():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 6, size=80)
    keys = rng.integers(0, 20, size=80)  # ties on purpose: the lower row wins
    caps = np.array([0, 1, 2, 3, 50, 4])
    kept = oracle_balance.select_capped(labels, caps, np.random.default_rng(9), rank_keys=keys)
    assert kept.tolist() == brute_capped(labels, caps, keys)
    # balance_clusters hands the keys through: the same choice whatever the seed
    result = oracle_balance.balance_clusters(labels, cap=2, seed=1, rank_keys=keys)
    assert result.kept.tolist() == brute_capped(labels, np.full(6, 2), keys)


def test_select_capped_on_no_rows_and_one_row():
    none = oracle_balance.select_capped(np.array([], dtype=np.int64), np.array([], dtype=np.int64),
                                  np.random.default_rng(0))
    assert none.dtype == np.int64 and none.shape == (0,)
    assert oracle_balance.select_capped(np.array([0]), np.array([1]),
                                  np.random.default_rng(0)).tolist() == [0]


def test_balance_clusters_without_rows():
    result = oracle_balance.balance_clusters(np.array([], dtype=np.int64), cap=3, seed=0)
    assert result.kept.shape == (0,) and result.cap == 3 and result.extra == 0
    assert result.before == result.after == {
        "clusters": 0, "members": 0, "entropy_bits": 0.0, "normalized_entropy": 0.0,
        "histogram_log2": {}}


def entropy_bits(sizes):
    total = sum(sizes)
    return -sum(s / total * math.log2(s / total) for s in sizes)


def test_size_distribution_reports_every_field_exactly():
    sizes = np.array([0, 1, 2, 3, 8, 0, 5])  # empty clusters are left out
    kept = [1, 2, 3, 8, 5]
    summary = sampling.size_distribution(sizes)
    assert summary == {
        "clusters": 5, "members": 19, "min": 1, "max": 8,
        "mean": 3.8, "median": 3.0,
        "p90": pytest.approx(6.8),  # numpy's linear quantile: 5 + 0.6 * (8 - 5)
        "p99": pytest.approx(7.88),
        "entropy_bits": round(entropy_bits(kept), 6),
        "normalized_entropy": round(entropy_bits(kept) / math.log2(5), 6),
        "histogram_log2": {"1": 1, "2": 2, "4": 1, "8": 1},
        # ranks 5 ** (i / 4), i = 0..4, rounded: 1, 1, 2, 3, 5
        "rank_sizes": [[1, 8], [2, 5], [3, 3], [5, 1]],
    }
    assert summary["entropy_bits"] != round(entropy_bits(kept), 7)
    # a mean with more than four decimals is rounded to four
    assert sampling.size_distribution(np.array([1, 1, 2]))["mean"] == 1.3333


def test_size_distribution_of_one_and_two_clusters():
    one = sampling.size_distribution(np.array([1]))
    assert (one["clusters"], one["members"], one["entropy_bits"],
            one["normalized_entropy"]) == (1, 1, 0.0, 1.0)
    two = sampling.size_distribution(np.array([1, 3]))
    assert two["normalized_entropy"] == round(entropy_bits([1, 3]), 6)  # log2(2) = 1
    assert two["normalized_entropy"] != round(entropy_bits([1, 3]), 7)
    assert sampling.size_distribution(np.array([0, 0])) == {
        "clusters": 0, "members": 0, "entropy_bits": 0.0, "normalized_entropy": 0.0,
        "histogram_log2": {}}


def test_rank_sizes_are_log_spaced_largest_first():
    sizes = np.arange(1, 1001)[::-1].copy()
    np.random.default_rng(0).shuffle(sizes)
    # 1000 ** (i / 7) for i = 0..7, rounded: the rank of size s is 1001 - s
    assert sampling.rank_sizes(sizes, points=8) == [
        [1, 1000], [3, 998], [7, 994], [19, 982], [52, 949], [139, 862], [373, 628],
        [1000, 1]]
    # by default up to 512 points: far more than 50 distinct ranks survive the rounding
    ranks = [rank for rank, _ in sampling.rank_sizes(sizes)]
    assert 256 < len(ranks) <= 512 and ranks[0] == 1 and ranks[-1] == 1000
    assert all(size == 1001 - rank for rank, size in sampling.rank_sizes(sizes))


def test_balance_clusters_on_one_cluster_and_on_an_empty_list():
    # All labels 0: the cluster count is 1 (a count below it would be a negative minlength).
    result = oracle_balance.balance_clusters(np.zeros(5, np.int64), cap=2, seed=0)
    assert len(result.kept) == 2 and result.cap == 2
    assert result.before["members"] == 5 and result.after["members"] == 2
    # A plain Python list, empty: numpy would read it as floats, which bincount refuses.
    empty = oracle_balance.balance_clusters([], cap=3, seed=0)
    assert empty.kept.tolist() == [] and empty.after["members"] == 0
    # Python ints are cluster numbers too
    assert oracle_balance.balance_clusters([1, 1, 0], cap=1, seed=0).after["members"] == 2


@pytest.mark.parametrize("which", ["images", "texts"])
def test_rowwise_cosine_of_float64_rows_is_float32(which):
    """Either side given as float64 is still read as float32: the scores are float32 (a
    float64 side would make einsum compute and return float64)."""
    rng = np.random.default_rng(6)
    sides = {"images": rng.normal(size=(4, 8)).astype(np.float32),
             "texts": rng.normal(size=(4, 8)).astype(np.float32)}
    sides[which] = sides[which].astype(np.float64) + 1e-12  # not representable in float32
    scores = sampling.rowwise_cosine(sides["images"], sides["texts"])
    assert scores.dtype == np.float32
    assert scores.tolist() == sampling.rowwise_cosine(
        sides["images"].astype(np.float32), sides["texts"].astype(np.float32)).tolist()


def test_score_histogram_bin_starts_have_six_decimals():
    # bin 3 of width 1e-7 starts at 3e-7, which six decimals print as 0.0
    assert sampling.score_histogram(np.array([3.5e-7]), width=1e-7) == [(0.0, 1)]


def test_default_n_clusters_of_no_images_or_no_floor_is_one():
    # a count below 1 has no floor to take a root of; an exponent below 0 asks for no floor
    assert sampling.default_n_clusters(-3, 168, 0.5) == 1
    assert sampling.default_n_clusters(0, 168, -0.5) == 1
    assert sampling.default_n_clusters(4, 168, -0.5) == 1


def test_cluster_caps_add_one_member_and_stay_integers_for_a_float_cap():
    # one extra member goes to the one cluster above the cap; a float cap still gives int64
    caps = sampling.cluster_caps(np.array([3, 1]), 1, 1, np.random.default_rng(0))
    assert caps.tolist() == [2, 1]
    caps = sampling.cluster_caps(np.array([3, 1]), 2.0, 0, np.random.default_rng(0))
    assert caps.dtype == np.int64 and caps.tolist() == [2, 2]


def test_rank_sizes_plot_512_points_by_default():
    sizes = np.arange(1, 100_001)
    assert sampling.rank_sizes(sizes) == sampling.rank_sizes(sizes, 512)
    assert sampling.rank_sizes(sizes) != sampling.rank_sizes(sizes, 513)


def test_auto_cap_of_a_count_beyond_float_precision():
    # the mean of one cluster of 2**53 + 1 members, which a float division rounds to 2**53
    assert sampling.auto_cap(np.array([2**53 + 1]), 2**60) == 2**53 + 1
