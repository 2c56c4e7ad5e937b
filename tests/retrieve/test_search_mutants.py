"""Hierarchical search against a brute force written here, on a hand-made index with many
lists (more than one worker task's worth), empty lists and one-member lists (written to kill the
mutants mutmut found surviving the other search tests)."""

from __future__ import annotations

import numpy as np
import pytest
from oracle_quality import exact_search

from realsyn.retrieve.index import ClusterIndex
from realsyn.retrieve.search import LISTS_PER_TASK, HierarchicalSearcher

DIM = 16
N_LISTS = 2 * LISTS_PER_TASK + 22  # more lists than two worker tasks take


def unit(rows):
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def hand_index():
    """Lists of 0 to 6 members (some empty, some of one) around random centres; every
    document key is one of five."""
    rng = np.random.default_rng(7)
    centroids = unit(rng.standard_normal((N_LISTS, DIM))).astype(np.float32)
    sizes = rng.integers(0, 7, N_LISTS)
    sizes[:4] = [0, 1, 0, 1]
    members = np.repeat(np.arange(N_LISTS), sizes)
    vectors = unit(centroids[members] + 0.6 * rng.standard_normal((len(members), DIM)))
    offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    index = ClusterIndex(centroids=centroids, offsets=offsets,
                         vectors=vectors.astype(np.float16),
                         rows=rng.permutation(len(members)).astype(np.int64),
                         doc_keys=rng.integers(0, 5, len(members)).astype(np.int64))
    queries = unit(rng.standard_normal((60, DIM))).astype(np.float32)
    return index, queries, rng.integers(0, 5, len(queries)).astype(np.int64)


def brute(index, queries, top_k, lists, query_keys=None, min_score=None):
    """Per query: every member of its lists scored alone, own document left out, sorted by
    (-score, position); below min_score or missing -> -1."""
    vectors = np.asarray(index.vectors, np.float32)
    positions = np.full((len(queries), top_k), -1)
    scores = np.full((len(queries), top_k), np.nan)
    for q, query in enumerate(queries):
        found = []
        for cluster in lists[q]:
            lo, hi = int(index.offsets[cluster]), int(index.offsets[cluster + 1])
            for position in range(lo, hi):
                if query_keys is not None and index.doc_keys[position] == query_keys[q]:
                    continue
                score = float(np.dot(vectors[position].astype(np.float64), query))
                if min_score is None or score >= min_score:
                    found.append((-score, position))
        for slot, (score, position) in enumerate(sorted(found)[:top_k]):
            positions[q, slot], scores[q, slot] = position, -score
    return positions, scores


def assert_same(result, expected):
    positions, scores = expected
    assert np.array_equal(result.positions, positions)
    assert np.allclose(result.scores, scores, atol=1e-5, equal_nan=True)
    assert result.positions.dtype == np.int64 and result.scores.dtype == np.float32


def test_exact_over_many_lists_with_threads_filters_and_a_floor(hand_index):
    index, queries, keys = hand_index
    every = [range(N_LISTS)] * len(queries)
    for threads in (1, 2):
        searcher = HierarchicalSearcher(index, threads=threads)
        assert_same(searcher.exact(queries, 4), brute(index, queries, 4, every))
        assert_same(searcher.exact(queries, 4, query_doc_keys=keys, min_score=0.2),
                    brute(index, queries, 4, every, keys, 0.2))
        floored = brute(index, queries, 4, every, min_score=0.55)
        assert 0 < (floored[0] == -1).sum() < floored[0].size  # the floor cuts some slots
        assert_same(searcher.exact(queries, 4, min_score=0.55), floored)


def test_probed_lists_include_empty_and_one_member_lists(hand_index):
    index, queries, _ = hand_index
    # queries on the centres of lists 0-3 (sizes 0, 1, 0, 1) probe them first
    on_small = np.vstack([index.centroids[:4], queries])
    result = HierarchicalSearcher(index, threads=2).search(on_small, 3, nprobe=3)
    nearest = np.argsort(-(on_small @ index.centroids.T), axis=1)[:, :3]
    assert np.array_equal(result.probes, nearest)
    assert_same(result, brute(index, on_small, 3, nearest))
    assert index.offsets[1] in result.positions[1]  # the one member of list 1


def test_defaults_are_the_papers_top_three_of_the_nearest_list(hand_index):
    index, queries, _ = hand_index
    searcher = HierarchicalSearcher(index)
    result = searcher.search(queries)
    nearest = np.argmax(queries @ index.centroids.T, axis=1)[:, None]
    assert result.probes.shape == (len(queries), 1)
    assert np.array_equal(result.probes, nearest)
    assert_same(result, brute(index, queries, 3, nearest))
    assert searcher.exact(queries).positions.shape == (len(queries), 3)


def test_own_document_rows_never_fill_a_slot(hand_index):
    """When the own-document filter leaves fewer than k rows, the rest are missing (-1, NaN),
    not the filtered rows."""
    index, queries, _ = hand_index
    keys = np.zeros(index.ntotal, dtype=np.int64)
    keys[[5, 40]] = 1
    only_two = ClusterIndex(index.centroids, index.offsets, index.vectors, index.rows, keys)
    result = HierarchicalSearcher(only_two).exact(queries[:6], 4,
                                                  query_doc_keys=np.zeros(6, np.int64))
    assert sorted(result.positions[0, :2].tolist()) == [5, 40]
    assert np.all(result.positions[:, 2:] == -1) and np.all(np.isnan(result.scores[:, 2:]))
    # a probed list whose every member is the query's own document yields nothing at all
    sizes = np.diff(index.offsets)
    full = [c for c in range(N_LISTS) if sizes[c] >= 2 and not
            index.offsets[c] <= 5 < index.offsets[c + 1] and not
            index.offsets[c] <= 40 < index.offsets[c + 1]][:5]
    alone = HierarchicalSearcher(only_two).search(index.centroids[full], 2, nprobe=1,
                                                  query_doc_keys=np.zeros(5, np.int64))
    assert alone.probes[:, 0].tolist() == full
    assert np.all(alone.positions == -1) and np.all(np.isnan(alone.scores))


def test_a_score_equal_to_min_score_is_kept(hand_index):
    index, queries, _ = hand_index
    searcher = HierarchicalSearcher(index)
    plain = searcher.exact(queries, 3)
    floor = float(plain.scores[0, 1])
    cut = searcher.exact(queries, 3, min_score=floor)
    assert cut.positions[0].tolist()[:2] == plain.positions[0].tolist()[:2]
    assert cut.scores[0, 1] == plain.scores[0, 1]


def test_cluster_maxima_with_the_own_document_filter(hand_index):
    index, queries, keys = hand_index
    maxima = HierarchicalSearcher(index, threads=2).cluster_maxima(queries, keys)
    assert maxima.shape == (len(queries), N_LISTS) and maxima.dtype == np.float32
    for q in range(0, len(queries), 5):
        for cluster in range(N_LISTS):
            best = brute(index, queries[q:q + 1], 1, [[cluster]], keys[q:q + 1])[1][0, 0]
            if np.isnan(best):  # an empty list, or only the query's own document
                assert maxima[q, cluster] == -np.inf
            else:
                assert maxima[q, cluster] == pytest.approx(best, abs=1e-5)


def test_float64_queries_give_the_float32_results(hand_index):
    index, queries, keys = hand_index
    searcher = HierarchicalSearcher(index)
    wide = queries.astype(np.float64)
    for name in ("positions", "scores", "probes"):
        assert np.array_equal(getattr(searcher.search(wide, 3, 2), name),
                              getattr(searcher.search(queries, 3, 2), name), equal_nan=True)
    assert np.array_equal(searcher.cluster_maxima(wide, keys),
                          searcher.cluster_maxima(queries, keys))


def test_exact_search_takes_float64_inputs():
    rng = np.random.default_rng(3)
    vectors = unit(rng.standard_normal((50, 8)))  # float64
    queries = unit(rng.standard_normal((4, 8)))
    scores, ids = exact_search(vectors, queries, 3)
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :3]
    assert np.array_equal(ids, expected)
    assert np.allclose(scores, np.take_along_axis(queries @ vectors.T, expected, axis=1),
                       atol=1e-5)


def test_merge_drops_non_finite_scores_and_missing_rows_with_a_floor():
    # A floor alone marks neither NaN (no comparison holds) nor +inf (above any floor), nor
    # a missing row (-1) that came with a finite score.
    from realsyn.retrieve.search import _merge

    scores = np.array([[np.nan, np.inf, 0.9, 0.5, 0.1]], np.float32)
    positions = np.array([[4, 5, -1, 7, 8]], np.int64)
    result = _merge(scores, positions, 5, 0.3, np.zeros((1, 1), np.int64))
    # best first (+inf, 0.9, 0.5, 0.1, NaN), the slots that are not results emptied in place
    assert result.positions.tolist() == [[-1, -1, 7, -1, -1]]
    assert result.scores[0, 2] == np.float32(0.5)
    assert np.isnan(result.scores[0, [0, 1, 3, 4]]).all()


def test_a_float64_index_is_scored_in_float32():
    """Members are read as float32 whatever the stored dtype (the stage stores float16), so a
    float64 index ranks as its float32 copy does. Member 0 = (1 + 2**-30, -1) is (1, -1) in
    float32 and scores 0 against (1, 1); in float64 it scores 2**-30, above member 1's 2**-31."""
    vectors = np.array([[1 + 2.0 ** -30, -1.0], [2.0 ** -31, 0.0]])
    index = ClusterIndex(centroids=np.array([[1.0, 0.0]], np.float32),
                         offsets=np.array([0, 2], np.int64), vectors=vectors,
                         rows=np.arange(2, dtype=np.int64), doc_keys=np.arange(2, dtype=np.int64))
    result = HierarchicalSearcher(index, threads=1).search(np.ones((1, 2), np.float32), top_k=1)
    assert result.positions.tolist() == [[1]]
    assert result.scores.tolist() == [[np.float32(2.0 ** -31)]]
