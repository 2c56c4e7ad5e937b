"""semantic_dedup's partitions: what its partitioned tests do not reach (found by mutating
src/realsyn/extract/semantic_partition.py): a sample of one partition or none, empty inputs,
the routing bound's edges."""

from __future__ import annotations

import numpy as np

from realsyn.extract import semantic_partition as sp


def test_partitions_of_about_the_size_asked():
    assert [sp.partition_count(n, 40) for n in (0, 1, 40, 41, 80, 81)] == [1, 1, 1, 2, 2, 3]


def test_one_partition_is_the_normalised_mean_or_a_unit_vector():
    sample = np.array([[3, 0, 4], [3, 0, 4]], np.float32)
    centres = sp.train_centroids(sample, 1, 5, 0)
    assert centres.dtype == np.float32 and np.allclose(centres, [[0.6, 0, 0.8]])
    # more partitions than points: one per point at most (a single point gives one)
    assert np.allclose(sp.train_centroids(sample[:1], 4, 5, 0), [[0.6, 0, 0.8]])
    # a mean of zero and an empty sample still give a unit centroid
    opposite = np.array([[1, 0], [-1, 0]], np.float32)
    assert sp.train_centroids(opposite, 1, 5, 0).tolist() == [[1, 0]]
    empty = sp.train_centroids(np.zeros((0, 4), np.float32), 3, 5, 0)
    assert empty.dtype == np.float32 and np.allclose(empty, [[0.5, 0.5, 0.5, 0.5]])


def test_no_vectors_are_assigned_and_routed_to_nothing():
    centroids = np.eye(3, 4, dtype=np.float32)
    home, similarity = sp.assign(np.zeros((0, 4), np.float32), centroids)
    assert home.shape == (0,) and home.dtype == np.int64 and similarity.shape == (0,)
    caps = np.array([0.5, 0.5, 0.5])
    for max_probes in (None, 2):
        rows, parts, capped = sp.route(np.zeros((0, 4), np.float32), centroids, caps, 0.9,
                                       1, max_probes)
        assert rows.dtype == np.int64 and parts.dtype == np.int64
        assert len(rows) == len(parts) == capped == 0


def test_caps_are_each_partitions_lowest_cosine_and_inf_when_empty():
    caps = sp.partition_caps(np.array([0, 2, 0]), np.array([0.9, 0.7, 0.8], np.float32), 4)
    assert caps.dtype == np.float64
    assert caps.tolist() == [np.float32(0.8).item(), np.inf, np.float32(0.7).item(), np.inf]


def test_edges_keep_pairs_at_the_threshold_and_none_with_itself():
    members = np.array([[1, 0], [0.8, 0.6], [0.6, 0.8]], np.float32)  # a.b 0.8, a.c 0.6
    edges = sp.partition_edges(np.array([10, 11, 12]), members, np.array([10, 12]),
                               members[[0, 2]], 0.8, block=1)
    assert edges.tolist() == [[10, 11], [11, 12]]
    assert sp.partition_edges(np.array([], np.int64), np.zeros((0, 2), np.float32),
                              np.array([1]), members[:1], 0.5).shape == (0, 2)


def test_route_blocks_hold_about_16m_scores():
    # rows per block of the [block, partitions] score matrix: 2**24 scores, at least one row
    assert [sp._block_rows(p) for p in (0, 1, 2, 4, 3)] == [1 << 24, 1 << 24, 1 << 23, 1 << 22,
                                                             (1 << 24) // 3]
    assert sp._block_rows(1 << 25) == 1
