"""Semantic balance sampling (spec section 4): similarity band, image k-means, per-cluster cap.

1. Keep image-text pairs whose cosine similarity lies in [low, high] (paper: [0.51, 0.61]; too high
   tends to mean text rendered in the image, too low a mismatch).
2. Spherical k-means on the image embeddings of the rest (paper: 1M clusters for 168.3M images).
3. Keep at most t random members of each cluster (smaller clusters whole), with a fixed seed.
   Given a target size instead of t, t is the largest cap whose capped total fits the target.

Everything here is plain numpy/faiss over arrays, so it is testable without a workspace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from realsyn.retrieve import clustering


# ---------------------------------------------------------------- 1. similarity band
def rowwise_cosine(images: np.ndarray, texts: np.ndarray) -> np.ndarray:
    """Cosine of row i of `images` with row i of `texts` (both L2-normalised)."""
    return np.einsum("ij,ij->i", np.asarray(images, np.float32), np.asarray(texts, np.float32))


def band_mask(scores: np.ndarray, low: float, high: float) -> np.ndarray:
    """True where low <= score <= high; NaN (no score) is outside the band."""
    scores = np.asarray(scores, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (scores >= low) & (scores <= high)


def score_histogram(scores: np.ndarray, width: float = 0.02) -> list[tuple[float, int]]:
    """(bin start, count) of the finite scores, for choosing the band of a new encoder."""
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[np.isfinite(scores)]
    if not len(scores):
        return []
    bins = np.floor(scores / width).astype(np.int64)
    values, counts = np.unique(bins, return_counts=True)
    return [(round(float(v) * width, 6), int(c)) for v, c in zip(values, counts, strict=True)]


# ---------------------------------------------------------------- 2. clusters
def default_n_clusters(n_images: int, images_per_cluster: int,
                       floor_exponent: float = 0.0) -> int:
    """The paper's ratio (168.3M images / 1M clusters), but at least n ** floor_exponent
    (sqrt(n) at 0.5: a few hundred images make one or two paper-sized clusters, where the cap
    could only cut everything or nothing); at least 1, at most one per image."""
    paper = clustering.default_n_clusters(n_images, images_per_cluster)
    floor = math.ceil(n_images ** floor_exponent) if n_images > 0 and floor_exponent else 1
    return int(min(max(paper, floor), max(n_images, 1)))


def auto_cap(sizes: np.ndarray, paper_cap: int) -> int:
    """The paper's t, lowered to the mean cluster size (rounded down, at least 1) where the
    clusters are smaller: the largest cluster is above the mean unless all are equal, so the
    cap trims the largest clusters at any scale."""
    sizes = np.asarray(sizes, dtype=np.int64)
    sizes = sizes[sizes > 0]
    if not len(sizes):
        return paper_cap
    return int(max(1, min(paper_cap, int(sizes.sum()) // len(sizes))))


def cluster_images(embeddings: np.ndarray, n_clusters: int, iterations: int, seed: int,
                   points_per_cluster: int = 64, max_points: int = 1_000_000) -> np.ndarray:
    """Cluster label (int64) of each row: faiss spherical k-means trained on a seeded sample."""
    n = len(embeddings)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    n_clusters = max(1, min(n_clusters, n))
    size = clustering.training_sample_size(n, n_clusters, points_per_cluster, max_points)
    rows = clustering.sample_rows(n, size, seed)
    centroids = clustering.train_centroids(
        np.asarray(embeddings[rows], dtype=np.float32), n_clusters, iterations, seed)
    index = clustering.centroid_index(centroids)
    return clustering.assign(index, [embeddings]).astype(np.int64)


# ---------------------------------------------------------------- 3. cap
def capped_total(sizes: np.ndarray, cap: int) -> int:
    """How many members survive when every cluster is capped at `cap`."""
    return int(np.minimum(np.asarray(sizes, dtype=np.int64), cap).sum())


def cap_for_target(sizes: np.ndarray, target: int) -> int:
    """The largest cap t with capped_total(sizes, t) <= target (0 when even t=1 overshoots).

    capped_total is non-decreasing in t, so a binary search over [0, max size] finds it; a
    target at or above the population keeps everything (t = the largest cluster).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if target < 0:
        raise ValueError("target must be >= 0")
    largest = int(sizes.max()) if len(sizes) else 0
    low, high = 0, largest  # invariant: capped_total(low) <= target
    while low < high:
        mid = (low + high + 1) // 2
        if capped_total(sizes, mid) <= target:
            low = mid
        else:
            high = mid - 1
    return low


def cluster_caps(sizes: np.ndarray, cap: int, extra: int, rng: np.random.Generator
                 ) -> np.ndarray:
    """Per-cluster cap: `cap` for all, plus one for `extra` random clusters larger than `cap`."""
    caps = np.full(len(sizes), cap, dtype=np.int64)
    if extra > 0:
        larger = np.flatnonzero(np.asarray(sizes) > cap)
        if extra > len(larger):
            raise ValueError(f"cannot add {extra} members: only {len(larger)} clusters exceed "
                             f"the cap {cap}")
        caps[np.sort(rng.choice(larger, size=extra, replace=False))] += 1
    return caps


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


# ---------------------------------------------------------------- distribution report
def size_distribution(sizes: np.ndarray) -> dict:
    """Summary of cluster sizes: counts, quantiles, log2 histogram and the entropy of the
    distribution of members over clusters (bits; normalised = entropy / log2(non-empty))."""
    sizes = np.asarray(sizes, dtype=np.int64)
    sizes = sizes[sizes > 0]
    total = int(sizes.sum())
    if total == 0:
        return {"clusters": 0, "members": 0, "entropy_bits": 0.0, "normalized_entropy": 0.0,
                "histogram_log2": {}}
    p = sizes / total
    entropy = float(-(p * np.log2(p)).sum())
    k = len(sizes)
    buckets = np.floor(np.log2(sizes)).astype(np.int64)
    values, counts = np.unique(buckets, return_counts=True)
    return {
        "clusters": k,
        "members": total,
        "min": int(sizes.min()),
        "max": int(sizes.max()),
        "mean": round(float(sizes.mean()), 4),
        "median": float(np.median(sizes)),
        "p90": float(np.quantile(sizes, 0.9)),
        "p99": float(np.quantile(sizes, 0.99)),
        "entropy_bits": round(entropy, 6),
        "normalized_entropy": round(entropy / math.log2(k), 6) if k > 1 else 1.0,
        # "2^b": number of clusters with 2^b <= size < 2^(b+1)
        "histogram_log2": {f"{2 ** int(v)}": int(c) for v, c in zip(values, counts, strict=True)},
        "rank_sizes": rank_sizes(sizes),
    }


def rank_sizes(sizes: np.ndarray, points: int = 512) -> list[list[int]]:
    """[rank, size] of the sizes sorted largest first, at most `points` log-spaced ranks (1 is
    the largest): the report's rank plot, bounded however many clusters there are."""
    ordered = np.sort(np.asarray(sizes, dtype=np.int64))[::-1]
    ranks = np.unique(np.geomspace(1, len(ordered), num=min(points, len(ordered))).round())
    return [[int(rank), int(ordered[int(rank) - 1])] for rank in ranks]


def plan_caps(sizes: np.ndarray, cap: int, target: int | None, fill_target: bool,
              rng: np.random.Generator) -> tuple[int, int, np.ndarray]:
    """t, the clusters given t + 1 (fill_target) and every cluster's cap, from the sizes."""
    extra = 0
    if target is not None:
        cap = cap_for_target(sizes, target)
        if fill_target:
            extra = min(target, int(np.sum(sizes))) - capped_total(sizes, cap)
    return cap, extra, cluster_caps(sizes, cap, extra, rng)


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
