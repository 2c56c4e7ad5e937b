"""Exact checks of extract/dedup.py's edges (written to kill the mutants mutmut found surviving
test_dedup.py): shingles, empty inputs, the MinHash pair rule and the semantic range search,
each against an expectation worked out by hand or a brute force written here."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from datasketch import MinHash

from realsyn.extract.dedup import shingles

from .oracle_dedup_pairs import exact_pairs, minhash_pairs, semantic_pairs


def test_shingles_cover_every_window_once():
    assert shingles("ab cdefg", 5) == {b"ab cd", b"b cde", b" cdef", b"cdefg"}
    assert shingles("A, b!", 3) == {b"a b"}  # the key is as long as a shingle: itself
    assert shingles("ab", 5) == {b"ab"}


@pytest.mark.parametrize("pairs_of", [exact_pairs, minhash_pairs])
def test_no_pairs_is_an_empty_int64_array(pairs_of):
    for texts in ([], ["a red kite over the hills", "completely different words here"]):
        pairs = pairs_of(texts)
        assert pairs.dtype == np.int64 and pairs.shape == (0, 2)


EDITS = ["Select the layer you want to move with the Move tool.",
         "Select the layer you want to move with the move tool",
         "An unrelated sentence about the gradient tool and its options."]


def test_minhash_pairs_default_threshold_joins_an_edit_once():
    assert minhash_pairs(EDITS).tolist() == [[0, 1]]  # not (1, 0), not (i, i)


def test_minhash_pairs_keep_an_estimate_equal_to_the_threshold():
    """The rule is Jaccard estimate >= threshold: a pair estimated at exactly 0.75 (96 of 128
    equal MinHash values, checked here with datasketch itself) is kept at 0.75."""
    texts = ["the quick brown fox jumps over the lazy dog near the river bank today",
             "the quick brown fox jumps over the lazy cat near the river bank today"]
    estimates = []
    for text in texts:
        minhash = MinHash(num_perm=128, seed=1)
        minhash.update_batch(list(shingles(text, 5)))
        estimates.append(minhash)
    assert estimates[0].jaccard(estimates[1]) == 0.75
    assert minhash_pairs(texts, threshold=0.75).tolist() == [[0, 1]]


def test_minhash_pairs_with_another_permutation_count():
    assert minhash_pairs(EDITS, num_perm=64).tolist() == [[0, 1]]


def brute_directed_pairs(vectors, threshold):
    vectors = np.asarray(vectors, dtype=np.float64)
    return sorted((i, j) for i, j in itertools.permutations(range(len(vectors)), 2)
                  if vectors[i] @ vectors[j] >= threshold - 1e-6)


def on_circle(degrees):
    radians = np.radians(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1)


def test_semantic_pairs_accept_float64_and_keep_a_score_equal_to_the_threshold():
    vectors = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])  # float64; cosines 0.6, 0.8, 0
    pairs = semantic_pairs(vectors, 0.6)
    assert pairs.dtype == np.int64
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]


def test_one_partition_searches_every_pair_even_with_one_probe():
    """A chain of points 40 degrees apart: with every row in one partition (partition_size at
    least the row count) nothing is split, whatever `probes` says."""
    vectors = on_circle([0, 40, 80, 120, 160])
    pairs = semantic_pairs(vectors, 0.7, partition_size=5, probes=1)
    assert sorted(map(tuple, pairs.tolist())) == brute_directed_pairs(vectors, 0.7)


def test_probing_every_partition_finds_each_directed_pair_exactly_once():
    """Four tight groups and a lone point near one of them: with probes = partitions the
    search is exhaustive, so the pairs are exactly the brute force's ordered pairs, each once
    (also when a partition holds a single row)."""
    rng = np.random.default_rng(0)
    centres = np.eye(6)[:4]
    groups = np.repeat(centres, 4, axis=0) + rng.normal(scale=0.02, size=(16, 6))
    lone = np.eye(6)[4] * 0.8 + np.eye(6)[0] * 0.6
    vectors = np.vstack([groups, lone])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for threshold in (0.55, 0.9):
        pairs = semantic_pairs(vectors, threshold, partition_size=4, probes=5)
        found = sorted(map(tuple, pairs.tolist()))
        assert found == brute_directed_pairs(vectors, threshold)
        assert len(found) == len(set(found))


def test_a_vector_without_rows_has_no_pairs():
    pairs = semantic_pairs(np.zeros(4, np.float32), 0.9)
    assert pairs.dtype == np.int64 and pairs.shape == (0, 2)
    assert semantic_pairs(np.zeros((1, 4)), 0.9).dtype == np.int64


def test_one_probe_misses_a_chain_link_across_the_partition_border():
    """Not an all-pairs scan: five points 40 degrees apart in two partitions (partition_size
    3) searched with one probe each lose at least one neighbour link at the border, and
    never invent a pair."""
    vectors = on_circle([0, 40, 80, 120, 160])
    expected = brute_directed_pairs(vectors, 0.7)
    found = sorted(map(tuple, semantic_pairs(vectors, 0.7, partition_size=3,
                                             probes=1).tolist()))
    assert set(found) < set(expected)


def groups_and_strays(seed):
    rng = np.random.default_rng(seed)
    return unit_rows(rng.normal(size=(60, 3)))


def unit_rows(rows):
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_seed_and_iterations_are_honoured():
    """The k-means seed and iteration count decide the partitions, hence which border pairs
    one probe misses: on this input each setting gives other pairs (and each is repeatable)."""
    vectors = groups_and_strays(0)

    def pairs(**settings):
        found = semantic_pairs(vectors, 0.9, partition_size=10, probes=1, **settings)
        return sorted(map(tuple, found.tolist()))

    assert pairs(seed=0) == pairs(seed=0)
    assert pairs(seed=0) != pairs(seed=1)
    assert pairs(iterations=1) != pairs(iterations=20)


def test_exhaustive_probing_with_one_member_and_empty_partitions():
    """Probing every partition is exhaustive also when k-means leaves a partition with one
    member (12 scattered points in 4 partitions) or with none (repeated points: more
    partitions than distinct vectors)."""
    scattered = unit_rows(np.random.default_rng(1).normal(size=(12, 3)))
    for threshold in (0.3, 0.8):
        found = semantic_pairs(scattered, threshold, partition_size=3, probes=4)
        assert sorted(map(tuple, found.tolist())) == brute_directed_pairs(scattered, threshold)
    repeated = np.repeat(unit_rows(np.random.default_rng(2).normal(size=(2, 3))), 3, axis=0)
    found = semantic_pairs(repeated, 0.99, partition_size=2, probes=3)
    assert sorted(map(tuple, found.tolist())) == brute_directed_pairs(repeated, 0.99)
    assert len(found) == 12  # 3 x 2 ordered pairs in each of the two triples


def test_minhash_seed_is_honoured():
    """The seed picks MinHash's permutations: for this one-word edit near the 0.8 threshold
    the estimate falls below it with seed 1 and above with seed 2."""
    texts = ["the quick brown fox jumps over the lazy dog near the river bank today",
             "the quick red fox jumps over the lazy dog near the river bank today"]
    assert minhash_pairs(texts, 0.8, seed=1).tolist() == []
    assert minhash_pairs(texts, 0.8, seed=2).tolist() == [[0, 1]]
