"""k-means and nearest centres: what the stages' tests do not reach (found by mutating
src/realsyn/dataflow/kmeans.py): when k-means trains on a GPU, assigning no rows, and of the
two-level k-means the allocation's ties, the coarse count of a few centres, refining with
equal centres and the hierarchy index's metric, types and probes."""

from __future__ import annotations

import math
import signal
from contextlib import contextmanager

import faiss
import numpy as np
import pytest

from realsyn.config import RetrieveConfig
from realsyn.dataflow import kmeans


def test_a_gpu_is_used_only_when_faiss_sees_one(monkeypatch):
    for gpus, expected in ((0, False), (1, True), (2, True)):
        monkeypatch.setattr(faiss, "get_num_gpus", lambda gpus=gpus: gpus, raising=False)
        assert kmeans.gpu_available() is expected
    # a faiss build without GPU support has no get_num_gpus at all
    monkeypatch.delattr(faiss, "get_num_gpus")
    assert kmeans.gpu_available() is False


def test_assigning_no_rows_gives_an_empty_int64_array():
    index = kmeans.centroid_index(np.eye(2, 4, dtype=np.float32))
    for blocks in ([], [np.zeros((0, 4), np.float32)]):
        labels = kmeans.assign(index, blocks)
        assert labels.shape == (0,) and labels.dtype == np.int64


def test_nearest_centres_gives_the_one_nearest_by_default():
    index = kmeans.centroid_index(np.eye(3, 4, dtype=np.float32))
    vectors = np.array([[0, 0.9, 0.1, 0], [0.2, 0, 0.8, 0]], np.float32)
    assert kmeans.nearest_centres(index, vectors).tolist() == [[1], [2]]
    assert kmeans.nearest_centres(index, vectors, 2).tolist() == [[1, 2], [2, 0]]


def test_a_zero_centre_stays_zero():
    # the mean of opposite points (as an empty cluster's centre) attracts nothing: not NaN
    centres = kmeans.train_centroids(np.array([[1, 0], [-1, 0]], np.float32), 1, 10, 0)
    assert centres.tolist() == [[0, 0]] and centres.dtype == np.float32


def test_a_single_centre_is_the_float32_mean_of_a_float16_sample():
    # float16 means round to 3 decimal digits; the centre is that of the float32 sample
    sample = np.array([[0.1, 0.3], [0.2, 0.7], [0.31, 0.9]], np.float16)
    mean = sample.astype(np.float32).mean(axis=0)
    centre = kmeans.train_centroids(sample, 1, 10, 0)
    assert centre.dtype == np.float32
    assert np.allclose(centre[0], mean / np.linalg.norm(mean), rtol=0, atol=1e-6)


def test_two_clusters_are_trained_and_as_many_clusters_as_points_is_allowed():
    groups = np.array([[1, 0.1, 0], [1, -0.1, 0], [0, 0.1, 1], [0, -0.1, 1]], np.float32)
    groups /= np.linalg.norm(groups, axis=1, keepdims=True)
    centres = kmeans.train_centroids(groups, 2, iterations=10, seed=0)
    assert sorted(np.round(centres, 5).tolist()) == [[0, 0, 1], [1, 0, 0]]
    points = np.eye(3, dtype=np.float32)
    centres = kmeans.train_centroids(points, 3, iterations=10, seed=0)
    assert sorted(centres.tolist()) == sorted(points.tolist())


def test_faiss_runs_the_iterations_asked_and_the_gpu_only_when_one_is_seen(monkeypatch):
    made = []

    class Recording(faiss.Kmeans):
        def __init__(self, d, k, **settings):
            made.append(settings)
            super().__init__(d, k, **settings)

    monkeypatch.setattr(faiss, "Kmeans", Recording)
    sample = np.random.default_rng(0).standard_normal((601, 4)).astype(np.float32)
    kmeans.faiss_kmeans(sample, 3, 7, 5, 256)  # as semantic_dedup trains its partitions
    # spherical, silent, every point of the sample used, a cluster of one point allowed
    assert made[-1] == {"niter": 7, "seed": 5, "spherical": True, "max_points_per_centroid": 256,
                        "min_points_per_centroid": 1, "verbose": False, "gpu": False}
    # faiss reads gpu=True as "every GPU there is": none here, so it still trains on the CPU
    monkeypatch.setattr(kmeans, "gpu_available", lambda: True)
    kmeans.train_centroids(sample, 3, iterations=4, seed=0)
    assert made[-1]["niter"] == 4 and made[-1]["gpu"] is True
    assert made[-1]["max_points_per_centroid"] == 256  # the sample is already bounded
    kmeans.train_centroids(sample, 2, iterations=4, seed=0)
    assert made[-1]["max_points_per_centroid"] == 301  # ceil(601 / 2): faiss subsamples none
    assert type(made[-1]["max_points_per_centroid"]) is int


def test_training_prints_nothing(capfd):
    sample = np.random.default_rng(0).standard_normal((40, 4)).astype(np.float32)
    kmeans.faiss_kmeans(sample, 3, 5, 0, 256)
    kmeans.train_centroids(sample, 3, iterations=5, seed=0)
    assert capfd.readouterr() == ("", "")


# ---------------------------------------------------------------- two levels
def reference_allocate(points: list[int], total: int) -> list[int]:
    """The allocation rule spelled out: floors of the quotas (at least 1, at most the points),
    then one more for the largest remainders while short, one less for the most over their
    quota while over; ties go to the earlier cell."""
    quota = [total * p / sum(points) for p in points]
    share = [min(max(math.floor(q), 1), p) for q, p in zip(quota, points, strict=True)]
    cells = range(len(points))
    while (gap := total - sum(share)) != 0:
        if gap > 0:
            room = sorted((i for i in cells if share[i] < points[i]),
                          key=lambda i: (share[i] - quota[i], i))
            for i in room[:gap]:
                share[i] += 1
        else:
            over = sorted((i for i in cells if share[i] > 1),
                          key=lambda i: (quota[i] - share[i], i))
            for i in over[:-gap]:
                share[i] -= 1
    return share


@contextmanager
def ends_within(seconds: float):
    """Fails a call that loops (an allocation that never reaches its total) instead of hanging:
    the work here takes milliseconds, the limit is far above a loaded machine's."""
    def stop(signum, frame):
        raise TimeoutError(f"did not end within {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_allocation_ends_and_refuses_what_cannot_be_shared():
    with ends_within(20):
        for points, total in (([1, 1, 1], 2), ([1, 2], 4), ([3, 0, 2], 3)):
            with pytest.raises(ValueError, match=f"cannot share {total} centres"):
                kmeans.allocate(np.array(points), total)
        assert kmeans.allocate(np.array([5, 3, 2]), 10).tolist() == [5, 3, 2]  # exact
        assert kmeans.allocate(np.array([4, 3, 3]), 7).tolist() == [3, 2, 2]  # one short
        assert kmeans.allocate(np.array([98, 1, 1]), 3).tolist() == [1, 1, 1]  # one over
        assert kmeans.allocate(np.array([2, 2, 8]), 11).tolist() == [2, 2, 7]  # two short


def test_allocation_ties_go_to_the_earlier_cells():
    with ends_within(60):
        # quotas 5 x 3 / 12 = 1.25 each: floors 1, and the one left goes to the first cell
        assert kmeans.allocate(np.array([3, 3, 3, 3]), 5).tolist() == [2, 1, 1, 1]
        # quotas 7 x (25, 40, 1, 1) / 67 = 2.61, 4.18, 0.10, 0.10: floors 2, 4, raised 1, 1 = 8;
        # the one too many comes from the cell least under its quota (4 of 4.18)
        assert kmeans.allocate(np.array([25, 40, 1, 1]), 7).tolist() == [2, 3, 1, 1]
        # quotas 49 x 20 / 140 = 7 (five cells) and 0.35 (forty raised to 1): 75, 26 too many;
        # the five tied cells give back one each per pass until one is left to take, the first's
        assert kmeans.allocate(np.array([20] * 5 + [1] * 40), 49).tolist() == \
            [1] + [2] * 4 + [1] * 40
        # many tied cells among a few sizes (more than a sort keeps in order without being stable)
        rng = np.random.default_rng(3)
        for _ in range(300):
            sizes = rng.integers(3, 40, int(rng.integers(2, 4)))
            points = rng.permutation(np.concatenate([np.repeat(sizes, rng.integers(10, 40, len(
                sizes))), np.ones(int(rng.integers(5, 80)), np.int64)]))
            total = int(rng.integers(len(points), len(points) + 2 * (points > 1).sum()))
            assert kmeans.allocate(points, total).tolist() == reference_allocate(
                points.tolist(), total)


def test_allocation_of_counts_given_as_floats_is_whole_centres():
    share = kmeans.allocate([4.0, 3.0, 3.0], 7)
    assert share.dtype == np.int64 and share.tolist() == [3, 2, 2]
    assert np.repeat(np.arange(3), share).tolist() == [0, 0, 0, 1, 1, 2, 2]


def test_a_few_centres_have_one_coarse_cell():
    assert [kmeans.coarse_count(k) for k in (1, 2, 3, 6, 7, 12, 13)] == [1, 1, 2, 2, 3, 3, 4]
    sample = np.eye(4, dtype=np.float32)
    centres = kmeans.train_centres(sample, 2, iterations=5, seed=0, flat_limit=1)
    assert len(centres.coarse) == 1 and centres.cells.tolist() == [0, 0]


def test_refining_gives_the_points_of_equal_centres_to_the_first():
    # centres 0 and 1 are equal: their points go to 0 (as the flat assignment gives them)
    centres = kmeans.Centres.flat(np.array([[1, 0], [1, 0], [0, 1]], np.float32))
    sample = np.array([[0.8, 0.6], [0.9, 0.3], [0.1, 0.995]], np.float32)
    assert kmeans.assign(centres.index(1), [sample]).tolist() == [0, 0, 2]
    refined = kmeans.refine(centres, sample, probes=1)
    mean = sample[:2].sum(axis=0)
    assert np.allclose(refined.fine[0], mean / np.linalg.norm(mean), atol=1e-6)
    assert refined.fine[1].tolist() == [1, 0]  # no points: it stays


def hierarchy():
    """Two cells (around x and around y) of two fine centres each, of unequal norms."""
    coarse = np.array([[1, 0], [0, 1]], np.float32)
    fine = np.array([[3, 0.5], [1, -0.2], [0.3, 2], [-0.2, 1]], np.float32)
    return fine, coarse, np.array([0, 0, 1, 1])


def test_the_hierarchy_ranks_by_inner_product_whatever_the_types():
    fine, coarse, cells = hierarchy()
    query = np.array([[0.9, 0.1], [0.1, 0.9]], np.float32)
    # by inner product 3 x 0.9 + ... beats 1 x 0.9 (by distance the nearer [1, -0.2] would)
    expected = [[0, 1, 2, 3], [2, 3, 0, 1]]
    # float64 centres and int32 cells (as np.bincount, np.repeat give them) are converted
    for fine_in, cells_in in ((fine, cells.astype(np.int64)),
                              (fine.astype(np.float64), cells.astype(np.int32))):
        index = kmeans.hierarchy_index(fine_in, coarse, cells_in, probes=2)
        assert kmeans.nearest_centres(index, query, 4).tolist() == expected


def test_one_probe_searches_only_the_nearest_cell():
    fine, coarse, cells = hierarchy()
    # nearest cell y (0.45 x + 0.55 y), but the best centre overall is [3, 0.5] in cell x
    query = np.array([[0.45, 0.55]], np.float32)
    one = kmeans.hierarchy_index(fine, coarse, cells, probes=1)
    assert kmeans.nearest_centres(one, query, 2).tolist() == [[2, 3]]
    both = kmeans.hierarchy_index(fine, coarse, cells, probes=2)
    assert kmeans.nearest_centres(both, query, 1).tolist() == [[0]]


def test_flat_centres_have_the_two_level_types():
    # written to the workspace as they are (retrieve/lists.py, balance): the same npy types
    centres = kmeans.Centres.flat(np.eye(2, 3))  # float64 rows
    assert (centres.fine.dtype, centres.coarse.dtype, centres.cells.dtype) == (
        np.float32, np.float32, np.int64)
    assert (centres.coarse.shape, centres.cells.shape) == ((0, 3), (0,))
    assert not centres.two_level


def test_normalised_vectors_are_float32_whatever_they_come_as():
    # refine hands it float64 sums: the centres are normalised and kept as float32
    vectors = kmeans._normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert vectors.dtype == np.float32 and vectors.tolist() == [[0.6000000238418579,
                                                                 0.800000011920929], [0, 0]]


def spread(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    """`n` normalised random points (float32)."""
    points = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def test_a_cell_with_as_many_centres_as_points_keeps_them_in_sample_order():
    sample = spread(300)
    centres = kmeans.train_centres(sample, 300, iterations=5, seed=0, flat_limit=10)
    # each point is its own centre, cell by cell, each cell's in sample order
    home = kmeans.nearest_centres(kmeans.centroid_index(centres.coarse), sample)[:, 0]
    assert centres.cells.tolist() == np.sort(home).tolist()
    assert np.allclose(centres.fine, sample[np.argsort(home, kind="stable")], atol=1e-6)


def test_training_takes_the_sample_as_float32_and_refines_with_the_default_probes():
    sample = spread(3000, dim=64, seed=1).astype(np.float64) + 1e-9  # below float32's bits
    centres = kmeans.train_centres(sample, 300, iterations=2, seed=0, flat_limit=10)
    assert len(centres.coarse) == 17  # more cells than the 16 probes
    as_float32 = kmeans.train_centres(sample.astype(np.float32), 300, iterations=2, seed=0,
                                      flat_limit=10, probes=RetrieveConfig().centre_probes)
    assert centres.fine.tobytes() == as_float32.fine.tobytes()
