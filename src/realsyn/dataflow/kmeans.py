"""Spherical k-means (faiss) on a bounded sample, and each vector's nearest centre.

Embeddings are L2-normalised, so centres are normalised too (spherical k-means) and "nearest
centre" is the largest inner product. Training sees only a sample (sampling.py): the cost of a
step that trains is bounded whatever the data size.
"""

from __future__ import annotations

from collections.abc import Iterable

import faiss
import numpy as np

from realsyn.dataflow import rows


def default_n_clusters(n_rows: int, rows_per_cluster: int) -> int:
    """A ratio of rows per cluster (the paper's: 420 sentences, 168 images), at least 1 and at
    most one per row."""
    if n_rows <= 0:
        return 1
    return int(min(n_rows, max(1, round(n_rows / rows_per_cluster))))


def faiss_kmeans(sample: np.ndarray, n_clusters: int, iterations: int, seed: int,
                 max_points_per_centroid: int, gpu: bool = False) -> np.ndarray:
    """faiss's spherical k-means centres of `sample` (float32, n x d), as faiss returns them."""
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    kmeans = faiss.Kmeans(sample.shape[1], n_clusters, niter=iterations, seed=seed,
                          spherical=True, max_points_per_centroid=max_points_per_centroid,
                          min_points_per_centroid=1, verbose=False, gpu=gpu)
    kmeans.train(sample)
    return kmeans.centroids


def train_centroids(sample: np.ndarray, n_clusters: int, iterations: int, seed: int
                    ) -> np.ndarray:
    """Normalised k-means centres of `sample` (float32, n x d)."""
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    n = len(sample)
    if n_clusters > n:
        raise ValueError(f"cannot make {n_clusters} clusters from {n} training points")
    if n_clusters == 1:
        centre = sample.mean(axis=0, keepdims=True)
        return _normalise(centre)
    # we already sampled: let faiss use every point it is given
    return _normalise(faiss_kmeans(sample, n_clusters, iterations, seed,
                                   max(256, -(-n // n_clusters)), gpu=gpu_available()))


def gpu_available() -> bool:
    """True with a faiss-gpu build and a visible GPU (k-means then trains there)."""
    return hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.array(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    # an empty cluster's centre can be zero: leave it (it then attracts nothing)
    np.divide(vectors, norms, out=vectors, where=norms > 0)
    return vectors


def centroid_index(centroids: np.ndarray) -> faiss.IndexFlatIP:
    index = faiss.IndexFlatIP(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    return index


def nearest_centres(index: faiss.Index, vectors: np.ndarray, nprobe: int = 1) -> np.ndarray:
    """The `nprobe` nearest centres of each vector, nearest first (int64, n x nprobe)."""
    nprobe = min(nprobe, index.ntotal)
    _, ids = index.search(np.ascontiguousarray(vectors, dtype=np.float32), nprobe)
    return ids


def assign(index: faiss.Index, blocks: Iterable[np.ndarray]) -> np.ndarray:
    """The nearest centre of every row of every block, streamed in float32 chunks."""
    parts = []
    for block in blocks:
        for start in range(0, len(block), rows.CHUNK_ROWS):
            chunk = np.asarray(block[start:start + rows.CHUNK_ROWS], dtype=np.float32)
            parts.append(nearest_centres(index, chunk, 1)[:, 0])
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
