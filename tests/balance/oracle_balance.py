"""Semantic balance sampling in one process, as it was before the stage was partitioned: the
oracle that tests/balance checks the partitioned stage (realsyn.balance.stage) against. It
shares the planner (realsyn.balance.sampling: t from the cap or target) and the k-means
primitives (realsyn.dataflow), not the stage's steps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from realsyn.balance.sampling import plan_caps, size_distribution
from realsyn.dataflow import kmeans, sampling


def cluster_images(embeddings: np.ndarray, n_clusters: int, iterations: int, seed: int,
                   points_per_cluster: int = 64, max_points: int = 1_000_000) -> np.ndarray:
    """Cluster label (int64) of each row: faiss spherical k-means trained on a seeded sample."""
    n = len(embeddings)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    n_clusters = max(1, min(n_clusters, n))
    size = sampling.training_sample_size(n, n_clusters, points_per_cluster, max_points)
    rows = sampling.sample_rows(n, size, seed)
    centroids = kmeans.train_centroids(
        np.asarray(embeddings[rows], dtype=np.float32), n_clusters, iterations, seed)
    index = kmeans.centroid_index(centroids)
    return kmeans.assign(index, [embeddings]).astype(np.int64)


def select_capped(labels: np.ndarray, caps: np.ndarray, rng: np.random.Generator,
                  rank_keys: np.ndarray | None = None) -> np.ndarray:
    """Sorted row numbers kept: the caps[c] members of cluster c with the smallest keys.

    The keys are `rank_keys` (e.g. a seeded hash of each image id, which any task computes
    alone: the partitioned stage) or one random key per row (drawn in row order, so the same
    rows and seed give the same choice); ties go to the lower row. Vectorised, fine for
    hundreds of millions.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    keys = rng.random(n) if rank_keys is None else np.asarray(rank_keys)
    order = np.lexsort((np.arange(n), keys, labels))  # by cluster, then by key, then row
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    run_lengths = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, run_lengths)
    keep = rank < caps[sorted_labels]
    return np.sort(order[keep])


@dataclass
class CapResult:
    kept: np.ndarray  # sorted row numbers
    cap: int  # t
    extra: int  # clusters that kept t + 1 (fill_target)
    before: dict
    after: dict


def balance_clusters(labels: np.ndarray, cap: int, target: int | None = None,
                     fill_target: bool = False, seed: int = 0,
                     rank_keys: np.ndarray | None = None) -> CapResult:
    """Cap every cluster at t (from `cap`, or the largest t fitting `target`) with a fixed seed.

    With `fill_target`, the target's remainder goes one each to random clusters larger than t,
    so the total equals the target exactly (when the population is at least that large).
    """
    labels = np.asarray(labels, dtype=np.int64)
    n_clusters = int(labels.max()) + 1 if len(labels) else 0
    sizes = np.bincount(labels, minlength=n_clusters)
    rng = np.random.default_rng(seed)
    cap, extra, caps = plan_caps(sizes, cap, target, fill_target, rng)
    kept = select_capped(labels, caps, rng, rank_keys)
    after = np.bincount(labels[kept], minlength=n_clusters)
    return CapResult(kept=kept, cap=cap, extra=extra, before=size_distribution(sizes),
                     after=size_distribution(after))
