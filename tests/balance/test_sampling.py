"""Balance sampling on a synthetic Zipf population of cluster sizes."""

import numpy as np
import oracle_balance
import pytest

from realsyn.balance import sampling


def zipf_labels(n_clusters: int = 2000, largest: int = 5000, seed: int = 1) -> np.ndarray:
    """Cluster labels whose sizes follow Zipf's law (size of rank r ~ largest / r), shuffled."""
    sizes = np.maximum(1, (largest / np.arange(1, n_clusters + 1)).astype(np.int64))
    labels = np.repeat(np.arange(n_clusters), sizes)
    return np.random.default_rng(seed).permutation(labels)


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    return zipf_labels()


def sizes_of(labels: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    chosen = labels if rows is None else labels[rows]
    return np.bincount(chosen, minlength=int(labels.max()) + 1)


def test_cap_respected_and_small_clusters_whole(labels):
    result = oracle_balance.balance_clusters(labels, cap=20, seed=0)
    before, after = sizes_of(labels), sizes_of(labels, result.kept)
    assert after.max() == 20
    assert np.all(after == np.minimum(before, 20))  # small clusters whole, big ones exactly t
    assert len(np.unique(result.kept)) == len(result.kept)
    assert result.after["members"] == len(result.kept) == sampling.capped_total(before, 20)


def test_target_gives_largest_fitting_cap(labels):
    before = sizes_of(labels)
    target = 15_000
    result = oracle_balance.balance_clusters(labels, cap=999, target=target, seed=0)
    t = result.cap
    assert sampling.capped_total(before, t) <= target < sampling.capped_total(before, t + 1)
    assert len(result.kept) == sampling.capped_total(before, t)
    assert sizes_of(labels, result.kept).max() <= t


def test_fill_target_matches_exactly(labels):
    before = sizes_of(labels)
    for target in (1, 999, 15_000, 31_337):
        result = oracle_balance.balance_clusters(labels, cap=1, target=target, fill_target=True,
                                                 seed=3)
        after = sizes_of(labels, result.kept)
        assert len(result.kept) == target
        assert after.max() <= result.cap + 1
        # clusters up to t stay whole; only clusters above t got the extra member
        small = before <= result.cap
        assert np.all(after[small] == before[small])
        assert int((after > result.cap).sum()) == result.extra


def test_target_above_population_keeps_everything(labels):
    result = oracle_balance.balance_clusters(labels, cap=1, target=len(labels) + 10,
                                             fill_target=True)
    assert len(result.kept) == len(labels)


def test_same_seed_same_output_other_seed_differs(labels):
    a = oracle_balance.balance_clusters(labels, cap=7, seed=11).kept
    b = oracle_balance.balance_clusters(labels, cap=7, seed=11).kept
    c = oracle_balance.balance_clusters(labels, cap=7, seed=12).kept
    assert np.array_equal(a, b)
    assert len(a) == len(c) and not np.array_equal(a, c)


def test_cap_for_target_edges():
    sizes = np.array([10, 5, 1])
    assert sampling.cap_for_target(sizes, 0) == 0
    assert sampling.cap_for_target(sizes, 2) == 0  # t=1 keeps 3 > 2
    assert sampling.cap_for_target(sizes, 3) == 1
    assert sampling.cap_for_target(sizes, 11) == 5  # 5+5+1
    assert sampling.cap_for_target(sizes, 15) == 9  # 9+5+1
    assert sampling.cap_for_target(sizes, 16) == 10
    assert sampling.cap_for_target(sizes, 10**9) == 10


def test_entropy_rises_after_balancing(labels):
    result = oracle_balance.balance_clusters(labels, cap=5, seed=0)
    assert result.before["clusters"] == result.after["clusters"] == 2000
    assert result.after["normalized_entropy"] > result.before["normalized_entropy"]
    uniform = sampling.size_distribution(np.full(8, 3))
    assert uniform["entropy_bits"] == pytest.approx(3.0)
    assert uniform["normalized_entropy"] == pytest.approx(1.0)
    assert uniform["histogram_log2"] == {"2": 8}


def test_band_mask_and_histogram():
    scores = np.array([0.50, 0.51, 0.55, 0.61, 0.62, np.nan])
    assert sampling.band_mask(scores, 0.51, 0.61).tolist() == [
        False, True, True, True, False, False]
    hist = dict(sampling.score_histogram(scores, width=0.1))
    assert hist == {0.5: 3, 0.6: 2}


def test_kmeans_finds_separated_groups():
    rng = np.random.default_rng(0)
    centres = np.eye(8, dtype=np.float32)[:4]
    points = np.repeat(centres, 50, axis=0) + rng.normal(0, 0.05, (200, 8)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    labels = oracle_balance.cluster_images(points, 4, iterations=20, seed=0)
    # every true group falls in exactly one cluster, and the four clusters differ
    groups = [set(labels[i * 50:(i + 1) * 50].tolist()) for i in range(4)]
    assert all(len(g) == 1 for g in groups)
    assert len(set().union(*groups)) == 4
    again = oracle_balance.cluster_images(points, 4, iterations=20, seed=0)
    assert np.array_equal(labels, again)
