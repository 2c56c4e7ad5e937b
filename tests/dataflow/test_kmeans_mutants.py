"""k-means and nearest centres: what the stages' tests do not reach (found by mutating
src/realsyn/dataflow/kmeans.py): when k-means trains on a GPU, and assigning no rows."""

from __future__ import annotations

import faiss
import numpy as np

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
