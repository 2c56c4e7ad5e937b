"""Semantic balance sampling (spec section 4): similarity band, image k-means, per-cluster cap.

1. Keep image-text pairs whose cosine similarity lies in [low, high] (paper: [0.51, 0.61]; too high
   tends to mean text rendered in the image, too low a mismatch).
2. Spherical k-means on the image embeddings of the rest (paper: 1M clusters for 168.3M images).
3. Keep at most t random members of each cluster (smaller clusters whole), with a fixed seed.
   Given a target size instead of t, t is the largest cap whose capped total fits the target.

Everything here is plain numpy over arrays, so it is testable without a workspace; the stage
(stage.py) runs the rule as steps, and tests/balance/oracle_balance.py is the rule in one process.
"""

from __future__ import annotations

import math

import numpy as np

from realsyn.dataflow import kmeans


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
    paper = kmeans.default_n_clusters(n_images, images_per_cluster)
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
