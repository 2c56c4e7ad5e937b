"""Spherical k-means (faiss) on a bounded sample, and each vector's nearest centre.

Embeddings are L2-normalised, so centres are normalised too (spherical k-means) and "nearest
centre" is the largest inner product. Training sees only a sample (sampling.py): the cost of a
step that trains is bounded whatever the data size.

Two levels above a size (`flat_centre_limit`): a flat search of K centres costs K
multiply-adds x d per vector, in every training iteration and every assignment, which at the
paper's scale (millions of lists) is most of the run. `train_centres` then trains about
sqrt(K) coarse centres on the sample, gives each coarse cell a share of the K fine centres
proportional to its sample points (`allocate`) and trains those within the cell: about
2 x S x sqrt(K) x d per iteration for a sample of S, instead of S x K x d. `Centres.index`
searches through the same hierarchy (a faiss IndexIVFFlat: the coarse centres are its
quantiser, each cell's fine centres its inverted list, `centre_probes` cells searched), about
(sqrt(K) + probes x sqrt(K)) x d per vector. Below the limit both are the flat ones, unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

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


# ---------------------------------------------------------------- two levels
# Lloyd iterations over every centre after the cells are trained (`refine`): on the real
# photo set of benchmarks/bench_retrieval.py (183 lists, 14 cells) recall@3 of the default routing
# was 0.820 with none, 0.835 with 2, 0.841 with 5 (flat k-means: 0.857).
REFINE_ITERATIONS = 5


@dataclass
class Centres:
    """K fine centres (float32, K x d) and, two-level, the coarse centres over them (C x d)
    with each fine centre's coarse cell (int64, K; the fine centres are ordered by cell).
    Flat: `coarse` has no rows."""

    fine: np.ndarray
    coarse: np.ndarray
    cells: np.ndarray

    @classmethod
    def flat(cls, fine: np.ndarray) -> Centres:
        fine = np.asarray(fine, dtype=np.float32)
        return cls(fine, np.zeros((0, fine.shape[1]), np.float32), np.zeros(0, np.int64))

    @property
    def two_level(self) -> bool:
        return len(self.coarse) > 0

    def index(self, probes: int) -> faiss.Index:
        """The nearest-centre index: flat, or searched through the hierarchy (`probes` cells)."""
        if not self.two_level:
            return centroid_index(self.fine)
        return hierarchy_index(self.fine, self.coarse, self.cells, probes)


def coarse_count(n_clusters: int) -> int:
    """Coarse cells of a two-level k-means of `n_clusters`: about sqrt(K), which balances the
    coarse and the fine search."""
    return max(1, round(math.sqrt(n_clusters)))


def allocate(points: np.ndarray, total: int) -> np.ndarray:
    """Fine centres per cell, proportional to its `points` (largest remainder): they sum to
    `total` exactly, each at least 1 and at most its points (needs cells <= total <= points)."""
    points = np.asarray(points, dtype=np.int64)
    if not len(points) <= total <= points.sum() or (points < 1).any():
        raise ValueError(f"cannot share {total} centres among cells of {points.tolist()} points")
    quota = total * points / points.sum()
    share = np.clip(np.floor(quota).astype(np.int64), 1, points)
    while (gap := total - int(share.sum())) != 0:
        if gap > 0:  # the largest remainders among the cells with points to spare
            room = np.flatnonzero(share < points)
            picked = room[np.argsort(share[room] - quota[room], kind="stable")][:gap]
            share[picked] += 1
        else:  # raised to 1 or by rounding: take back from the most over their quota
            room = np.flatnonzero(share > 1)
            picked = room[np.argsort(quota[room] - share[room], kind="stable")][:-gap]
            share[picked] -= 1
    return share


def train_centres(sample: np.ndarray, n_clusters: int, iterations: int, seed: int,
                  flat_limit: int, probes: int = 16) -> Centres:
    """`n_clusters` normalised centres of `sample`: flat k-means (`train_centroids`) up to
    `flat_limit` centres, two-level above it (the module doc), then REFINE_ITERATIONS Lloyd
    iterations over all of them, each point assigned through the hierarchy (`probes` cells)."""
    if n_clusters <= flat_limit:
        return Centres.flat(train_centroids(sample, n_clusters, iterations, seed))
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    if n_clusters > len(sample):
        raise ValueError(f"cannot make {n_clusters} clusters from {len(sample)} training points")
    coarse = train_centroids(sample, coarse_count(n_clusters), iterations, seed)
    home = nearest_centres(centroid_index(coarse), sample, 1)[:, 0]
    points = np.bincount(home, minlength=len(coarse))
    kept = np.flatnonzero(points)  # a coarse centre no sample point is nearest to goes
    shares = allocate(points[kept], n_clusters)
    order = np.argsort(home, kind="stable")  # the sample cell by cell, each in sample order
    bounds = np.concatenate([[0], np.cumsum(points)])
    fine = []
    for cell, share in zip(kept, shares, strict=True):
        members = sample[order[bounds[cell]:bounds[cell + 1]]]
        fine.append(members if share == len(members) else
                    train_centroids(members, int(share), iterations, seed))
    centres = Centres(_normalise(np.concatenate(fine)), coarse[kept],
                      np.repeat(np.arange(len(kept), dtype=np.int64), shares))
    for _ in range(REFINE_ITERATIONS):
        centres = refine(centres, sample, probes)
    return centres


def refine(centres: Centres, sample: np.ndarray, probes: int) -> Centres:
    """One Lloyd iteration over every centre: each sample point to its nearest centre through
    the hierarchy (a point near a cell's border goes to the neighbouring cell's centre), each
    centre moved to its points' normalised mean (a centre without points stays); the cells stay."""
    labels = nearest_centres(centres.index(probes), sample, 1)[:, 0]
    order = np.argsort(labels, kind="stable")
    used, starts = np.unique(labels[order], return_index=True)
    fine = centres.fine.copy()
    fine[used] = _normalise(np.add.reduceat(sample[order].astype(np.float64), starts, axis=0))
    return Centres(fine, centres.coarse, centres.cells)


def hierarchy_index(fine: np.ndarray, coarse: np.ndarray, cells: np.ndarray,
                    probes: int) -> faiss.IndexIVFFlat:
    """Inner-product IVF index whose quantiser holds the coarse centres and whose list c holds
    the fine centres of cell c (ids: their rows in `fine`); a search scans the `probes`
    cells nearest the query."""
    quantizer = centroid_index(coarse)
    index = faiss.IndexIVFFlat(quantizer, coarse.shape[1], len(coarse),
                               faiss.METRIC_INNER_PRODUCT)
    fine = np.ascontiguousarray(fine, dtype=np.float32)
    cells = np.ascontiguousarray(cells, dtype=np.int64)
    index.add_core(len(fine), faiss.swig_ptr(fine), None, faiss.swig_ptr(cells))
    index.nprobe = max(1, min(probes, len(coarse)))
    return index
