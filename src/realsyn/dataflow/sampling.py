"""Seeded row samples: which global rows a bounded sample holds, and the sample itself read
shard by shard (one shard's rows at a time), so no task holds a whole dataset."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from realsyn.dataflow.rows import offsets


def training_sample_size(n_rows: int, n_clusters: int, points_per_cluster: int,
                         max_points: int) -> int:
    """How many rows k-means trains on: enough per cluster, never more than exist."""
    wanted = min(n_clusters * points_per_cluster, max_points)
    return int(min(n_rows, max(wanted, n_clusters)))


def sample_rows(n_rows: int, size: int, seed: int) -> np.ndarray:
    """Sorted random row numbers (sorted so memory-mapped reads go forward)."""
    if size >= n_rows:
        return np.arange(n_rows, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=size, replace=False)).astype(np.int64)


def per_shard(picked: np.ndarray, counts: list[int]) -> list[np.ndarray]:
    """The sorted global rows `picked`, split by shard into rows local to each shard."""
    bounds = offsets(counts)
    cuts = np.searchsorted(picked, bounds)
    return [picked[cuts[i]:cuts[i + 1]] - bounds[i] for i in range(len(counts))]


def sample_across(counts: list[int], size: int, seed: int,
                  read: Callable[[int, np.ndarray], np.ndarray]) -> np.ndarray:
    """A seeded sample of `size` rows over shards of `counts` rows, as float32: `read(i, rows)`
    gives the vectors of local rows of shard i (only called for shards the sample touches)."""
    picked = sample_rows(int(sum(counts)), size, seed)
    parts = [np.asarray(read(i, rows), np.float32)
             for i, rows in enumerate(per_shard(picked, counts)) if len(rows)]
    return np.concatenate(parts)
