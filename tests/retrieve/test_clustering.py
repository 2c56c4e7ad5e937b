"""The k-means and sampling primitives (realsyn.dataflow) on retrieval-like data, and the
retrieve stage's list count."""

import numpy as np
import pytest
from oracle_index import gather_rows
from synthetic_retrieval import topic_data, unit

from realsyn.dataflow import kmeans, sampling
from realsyn.retrieve import lists


@pytest.mark.parametrize(("n", "expected"), [
    (0, 1), (1, 1), (100, 1), (629, 1), (631, 2), (840_000, 2000), (840_000_000, 2_000_000)])
def test_default_clusters_keep_the_paper_ratio(n, expected):
    assert kmeans.default_n_clusters(n, 420) == expected


def test_default_clusters_never_exceed_sentences():
    assert kmeans.default_n_clusters(5, 1) == 5
    assert kmeans.default_n_clusters(5, 2) == 2


def test_training_sample_size_bounds():
    assert sampling.training_sample_size(1_000_000, 2381, 64, 1_000_000) == 2381 * 64
    assert sampling.training_sample_size(1_000_000, 2381, 64, 100_000) == 100_000
    assert sampling.training_sample_size(500, 10, 64, 1_000_000) == 500  # all of a tiny corpus
    assert sampling.training_sample_size(10_000, 500, 64, 100) == 500  # >= one per cluster


def test_sample_rows_sorted_unique_and_seeded():
    rows = sampling.sample_rows(1000, 100, seed=3)
    assert len(np.unique(rows)) == 100 and np.all(np.diff(rows) > 0)
    assert np.array_equal(rows, sampling.sample_rows(1000, 100, seed=3))
    assert np.array_equal(sampling.sample_rows(10, 100, seed=3), np.arange(10))


def test_gather_rows_across_blocks():
    data = np.arange(40, dtype=np.float16).reshape(20, 2)
    blocks = [data[:7], data[7:8], data[8:]]
    rows = np.array([0, 6, 7, 8, 19])
    assert np.array_equal(gather_rows(blocks, rows), data[rows].astype(np.float32))


def test_centroids_split_topics_and_assignment_is_nearest():
    sentences, topics, _, _ = topic_data(n_topics=8, per_topic=200, n_images=0, noise=0.1)
    centroids = kmeans.train_centroids(sentences, 16, iterations=20, seed=0)
    assert centroids.shape == (16, sentences.shape[1])
    assert np.allclose(np.linalg.norm(centroids, axis=1), 1, atol=1e-5)
    index = kmeans.centroid_index(centroids)
    labels = kmeans.assign(index, [sentences[:700], sentences[700:]])
    assert np.array_equal(labels, np.argmax(sentences @ centroids.T, axis=1))
    # well separated topics, twice as many clusters: no cluster mixes two topics
    for cluster in np.unique(labels):
        assert len(np.unique(topics[labels == cluster])) == 1


def test_single_cluster_is_the_normalised_mean():
    vectors = unit(np.random.default_rng(0).standard_normal((10, 4))).astype(np.float32)
    centre = kmeans.train_centroids(vectors, 1, iterations=5, seed=0)
    assert np.allclose(centre[0], unit(vectors.mean(axis=0, keepdims=True))[0], atol=1e-6)


def test_too_many_clusters_for_the_sample_is_an_error():
    with pytest.raises(ValueError, match="cannot make"):
        kmeans.train_centroids(np.ones((3, 4), np.float32), 5, iterations=5, seed=0)


def test_nearest_centres_are_ordered():
    centroids = np.eye(4, dtype=np.float32)
    query = np.array([[0.1, 0.7, 0.5, 0.2]], dtype=np.float32)
    index = kmeans.centroid_index(centroids)
    assert kmeans.nearest_centres(index, query, 3).tolist() == [[1, 2, 3]]
    assert kmeans.nearest_centres(index, query, 10).shape == (1, 4)


def test_lists_are_clusters_times_the_split_and_never_more_than_sentences():
    list_count = lists.list_count
    assert list_count(8400, None, 420) == 20  # the paper's ratio
    assert list_count(8400, None, 420, 3) == 60
    assert list_count(8400, 4, 420, 3) == 12  # n_clusters is the paper-sized cluster count
    assert list_count(5, None, 420, 3) == 3
    assert list_count(2, None, 420, 3) == 2
