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


def _routes(rows, parts):
    return sorted(zip(rows.tolist(), parts.tolist(), strict=True))


def test_route_forces_the_nearest_non_empty_partitions_only_when_asked():
    # caps of 1 and a threshold of 0.999: the bound admits only points almost on a centroid
    centroids = np.eye(3, dtype=np.float32)
    caps = np.array([1.0, 1.0, np.inf])  # partition 2 is empty
    vectors = np.array([[0.6, 0.0, 0.8], [0.0, 0.6, 0.8]], np.float32)
    for max_probes in (None, 2, 3):
        rows, parts, _ = sp.route(vectors, centroids, caps, 0.999, max_probes=max_probes)
        assert _routes(rows, parts) == [], max_probes
        rows, parts, _ = sp.route(vectors, centroids, caps, 0.999, 2, max_probes)
        # nearest two: the empty partition 2 and the other one
        assert _routes(rows, parts) == [(0, 0), (1, 1)], max_probes
    rows, parts, capped = sp.route(vectors, centroids, caps, 0.999, 3, 3)
    assert _routes(rows, parts) == [(0, 0), (0, 1), (1, 0), (1, 1)] and capped == 0


def test_route_over_several_blocks(monkeypatch):
    monkeypatch.setattr(sp, "_block_rows", lambda partitions: 2)
    centroids = np.eye(3, dtype=np.float32)
    vectors = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1]]
    rows, parts, capped = sp.route(vectors, centroids, np.array([1.0, 1.0, 1.0]), 0.999)
    assert _routes(rows, parts) == [(0, 0), (1, 1), (2, 2), (3, 0), (4, 1)] and capped == 0


def test_the_bound_admits_within_its_slack_and_everything_past_pi():
    centroid = np.array([[1, 0]], np.float32)
    # cap 1 and threshold 0.5: bound cos(acos(0.5)) - 1e-4; a point at cosine 0.49995 is in
    inside = np.array([[0.49995, np.sqrt(1 - 0.49995 ** 2)]], np.float32)
    rows, _, _ = sp.route(inside, centroid, np.array([1.0]), 0.5)
    assert rows.tolist() == [0]
    # threshold 0 and cap 0: pi/2 + pi/2 reaches every direction, the opposite one too
    rows, _, _ = sp.route(np.array([[-1, 0]], np.float32), centroid, np.array([0.0]), 0.0)
    assert rows.tolist() == [0]


def test_cosines_rounded_past_plus_or_minus_one_still_bound_the_partition():
    centroid = np.array([[1, 0]], np.float32)
    point = np.array([[1, 0]], np.float32)
    # a member on its centroid can round to 1.0000001; one opposite it to -1.0000001
    for cap in (1.0000001, -1.0000001):
        rows, parts, _ = sp.route(point, centroid, np.array([cap]), 0.9)
        assert _routes(rows, parts) == [(0, 0)], cap


def test_edges_of_a_single_member_or_query_over_several_blocks():
    members = np.array([[1, 0]], np.float32)
    queries = np.array([[0.6, 0.8], [1, 0], [0.8, 0.6]], np.float32)
    edges = sp.partition_edges(np.array([7], np.int32), members, np.array([3, 5, 9], np.int32),
                               queries, 0.7, block=1)
    assert edges.tolist() == [[5, 7], [7, 9]] and edges.dtype == np.int64
    one = sp.partition_edges(np.array([7]), members, np.array([9]), queries[2:], 0.7)
    assert one.tolist() == [[7, 9]]
    none = sp.partition_edges(np.array([7]), members, np.array([], np.int64),
                              np.zeros((0, 2), np.float32), 0.7)
    assert none.shape == (0, 2) and none.dtype == np.int64


def test_one_partition_keeps_its_shape_and_a_short_mean_is_normalised():
    centres = sp.train_centroids(np.array([[0.3, 0.4], [0.3, 0.4]], np.float32), 1, 5, 0)
    assert centres.shape == (1, 2) and np.allclose(centres, [[0.6, 0.8]])
    # a float16 sample: the float32 mean
    sample = np.array([[0.1, 0.3], [0.2, 0.7], [0.31, 0.9]], np.float16)
    mean = sample.astype(np.float32).mean(axis=0)
    centre = sp.train_centroids(sample, 1, 5, 0)
    assert np.allclose(centre[0], mean / np.linalg.norm(mean), rtol=0, atol=1e-6)


def test_k_means_partitions_use_every_sampled_point(monkeypatch):
    calls = []
    real = sp.kmeans.faiss_kmeans
    monkeypatch.setattr(sp.kmeans, "faiss_kmeans",
                        lambda *args: calls.append(args[1:]) or real(*args))
    sample = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    centres = sp.train_centroids(sample, 3, 5, 7)
    assert calls == [(3, 5, 7, 256)] and centres.shape == (3, 4)
    assert centres.dtype == np.float32


def test_assigning_no_vectors_gives_float32_cosines():
    _, similarity = sp.assign(np.zeros((0, 4), np.float32), np.eye(3, 4, dtype=np.float32))
    assert similarity.dtype == np.float32


def test_route_forces_the_home_only_under_a_probe_cap():
    # the nearest partition (0) is not empty but the bound does not admit the point: exact
    # routing (nearest 1) leaves it out, as a member always lies within its own cap; a probe
    # cap searches the nearest partitions only, its home always among them
    centroids = np.eye(3, dtype=np.float32)
    point = np.array([[0.8, 0.0, 0.6]], np.float32)
    rows, _, _ = sp.route(point, centroids, np.array([1.0, 1.0, 1.0]), 0.999, 1, None)
    assert rows.tolist() == []
    rows, parts, _ = sp.route(point, centroids, np.array([1.0, 1.0, 1.0]), 0.999, 1, 2)
    assert _routes(rows, parts) == [(0, 0)]


def test_a_probe_cap_of_every_partition_is_exact():
    # the bound admits everything (threshold 0, caps 0): no point is cut by a cap of 2 lists
    centroids = np.eye(2, dtype=np.float32)
    points = np.array([[1, 0], [0, 1]], np.float32)
    rows, _, capped = sp.route(points, centroids, np.array([0.0, 0.0]), 0.0, 1, 2)
    assert len(rows) == 4 and capped == 0
    rows, _, capped = sp.route(points, centroids, np.array([0.0, 0.0]), 0.0, 1, 1)
    assert len(rows) == 2 and capped == 2


def test_edges_of_a_later_block_name_their_own_queries():
    members = np.array([[1, 0]], np.float32)
    queries = np.array([[0, 1], [1, 0], [0, 1], [0, 1]], np.float32)  # only query 5 is near
    edges = sp.partition_edges(np.array([7]), members, np.array([3, 5, 9, 11]), queries, 0.7,
                               block=1)
    assert edges.tolist() == [[5, 7]]


def test_an_empty_partition_admits_nothing_even_on_its_centroid():
    centroids = np.eye(3, dtype=np.float32)
    rows, _, _ = sp.route(np.array([[0, 0, 1]], np.float32), centroids,
                          np.array([1.0, 1.0, np.inf]), 0.999)
    assert rows.tolist() == []
