"""Rank within groups, and the rules built on it: each group's best few, and a cap per group.
Ties are broken by an explicit key, so the result does not depend on how rows were
partitioned."""

from __future__ import annotations

import numpy as np


def rank_within(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2... within each run of equal values of a sorted array."""
    if len(groups) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[True, groups[1:] != groups[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(len(groups)), 0))
    return np.arange(len(groups)) - first


def best_per_row(rows: np.ndarray, scores: np.ndarray, keys: np.ndarray, depth: int,
                 min_score: float | None = None) -> np.ndarray:
    """Indices of each row's `depth` best candidates (score descending, then key), rows
    ascending; candidates below `min_score` or not finite are left out."""
    usable = np.isfinite(scores)
    if min_score is not None:
        usable &= scores >= min_score
    candidates = np.flatnonzero(usable)
    order = candidates[np.lexsort((keys[candidates], -scores[candidates], rows[candidates]))]
    return order[rank_within(rows[order]) < depth]


def capped(groups: np.ndarray, caps: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The indices `order` (rows sorted by group, then preference) keeps when group g keeps
    its caps[g] first rows."""
    return order[rank_within(groups[order]) < caps[groups[order]]]
