"""Semantic balance sampling in one process, as it was before the stage was partitioned: the
oracle that tests/balance checks the partitioned stage (realsyn.balance.stage) against. It
plans the caps by brute force (not the stage's planner, realsyn.balance.sampling.plan_caps),
and shares only the k-means primitives (realsyn.dataflow) and the size report."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from realsyn.balance.sampling import size_distribution
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
    cap, extra, caps = brute_force_caps(sizes, cap, target, fill_target, rng)
    kept = select_capped(labels, caps, rng, rank_keys)
    after = np.bincount(labels[kept], minlength=n_clusters)
    return CapResult(kept=kept, cap=cap, extra=extra, before=size_distribution(sizes),
                     after=size_distribution(after))


def brute_force_caps(sizes: np.ndarray, cap: int, target: int | None, fill_target: bool,
                     rng: np.random.Generator) -> tuple[int, int, np.ndarray]:
    """(t, clusters given t + 1, every cluster's cap): t is `cap`, or with a target the largest
    t whose capped total fits it, tried one by one; with `fill_target` the remainder goes one
    each to clusters larger than t, drawn by `rng`."""
    sizes = np.asarray(sizes, dtype=np.int64)
    extra = 0
    if target is not None:
        if target < 0:
            raise ValueError("target must be >= 0")
        cap = max(t for t in range(int(sizes.max(initial=0)) + 1)
                  if int(np.minimum(sizes, t).sum()) <= target)
        if fill_target:
            extra = min(target, int(sizes.sum())) - int(np.minimum(sizes, cap).sum())
    caps = np.full(len(sizes), cap, dtype=np.int64)
    if extra > 0:
        larger = np.flatnonzero(sizes > cap)
        caps[np.sort(rng.choice(larger, size=extra, replace=False))] += 1
    return cap, extra, caps
