"""Spherical k-means over sentence embeddings (faiss), and assignment to the nearest centre.

The paper splits 0.84B sentences into 2M clusters (~420 sentences each); the default number of
clusters keeps that ratio. Embeddings are L2-normalised, so centres are normalised too
(spherical k-means) and "nearest centre" is the largest inner product.
"""

from __future__ import annotations

from collections.abc import Iterable

import faiss
import numpy as np

# Rows converted to float32 at a time when streaming memory-mapped float16 embeddings.
CHUNK_ROWS = 65_536


def default_n_clusters(n_sentences: int, sentences_per_cluster: int) -> int:
    """The paper's ratio of sentences per cluster, at least 1 and at most one per sentence."""
    if n_sentences <= 0:
        return 1
    return int(min(n_sentences, max(1, round(n_sentences / sentences_per_cluster))))


def list_count(n_sentences: int, n_clusters: int | None, sentences_per_cluster: int,
               lists_per_cluster: int = 1) -> int:
    """Inverted lists of an index: `lists_per_cluster` per cluster (`n_clusters`, or the
    paper's ratio), at most one per sentence."""
    clusters = n_clusters or default_n_clusters(n_sentences, sentences_per_cluster)
    return int(max(1, min(clusters * lists_per_cluster, n_sentences)))


def training_sample_size(n_sentences: int, n_clusters: int, points_per_cluster: int,
                         max_points: int) -> int:
    """How many sentences k-means trains on: enough per cluster, never more than exist."""
    wanted = min(n_clusters * points_per_cluster, max_points)
    return int(min(n_sentences, max(wanted, n_clusters)))


def sample_rows(n_rows: int, size: int, seed: int) -> np.ndarray:
    """Sorted random row numbers (sorted so memory-mapped reads go forward)."""
    if size >= n_rows:
        return np.arange(n_rows, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=size, replace=False)).astype(np.int64)


def gather_rows(blocks: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
    """float32 copies of the given global rows of a list of row-aligned blocks (memmaps)."""
    bounds = np.cumsum([0] + [len(block) for block in blocks])
    out = np.empty((len(rows), blocks[0].shape[1]), dtype=np.float32)
    for i, block in enumerate(blocks):
        lo, hi = np.searchsorted(rows, [bounds[i], bounds[i + 1]])
        if hi > lo:
            out[lo:hi] = block[rows[lo:hi] - bounds[i]]
    return out


def train_centroids(sample: np.ndarray, n_clusters: int, iterations: int, seed: int
                    ) -> np.ndarray:
    """Normalised k-means centres of `sample` (float32, n x d)."""
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    n, dim = sample.shape
    if n_clusters > n:
        raise ValueError(f"cannot make {n_clusters} clusters from {n} training points")
    if n_clusters == 1:
        centre = sample.mean(axis=0, keepdims=True)
        return _normalise(centre)
    kmeans = faiss.Kmeans(dim, n_clusters, niter=iterations, seed=seed, spherical=True,
                          # we already sampled: let faiss use every point it is given
                          max_points_per_centroid=max(256, -(-n // n_clusters)),
                          min_points_per_centroid=1, verbose=False, gpu=gpu_available())
    kmeans.train(sample)
    return _normalise(kmeans.centroids)


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
        for start in range(0, len(block), CHUNK_ROWS):
            chunk = np.asarray(block[start:start + CHUNK_ROWS], dtype=np.float32)
            parts.append(nearest_centres(index, chunk, 1)[:, 0])
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
