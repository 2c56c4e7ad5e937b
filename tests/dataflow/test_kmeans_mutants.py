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
