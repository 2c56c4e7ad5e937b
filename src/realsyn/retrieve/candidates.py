"""Candidates of partitioned retrieval: (image row, score, sentence order key) triples from the
partitions, merged into each image's best ones, and the per-sentence cap.

Ties are broken as the single-process search breaks them: by order key (its index position).
"""

from __future__ import annotations

import numpy as np


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


def rank_within(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2... within each run of equal values of a sorted array."""
    if len(groups) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[True, groups[1:] != groups[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(len(groups)), 0))
    return np.arange(len(groups)) - first


def dense(rows: np.ndarray, picked_rows: np.ndarray, values: np.ndarray, width: int,
          fill) -> np.ndarray:
    """A (len(rows) x width) matrix of `values` laid out by row (in `rows`, sorted) and rank
    (values of one row in order), `fill` where a row has fewer."""
    out = np.full((len(rows), width), fill, dtype=np.asarray(values).dtype)
    where = np.searchsorted(rows, picked_rows)
    out[where, rank_within(picked_rows)] = values
    return out


def cap_uses(keys: np.ndarray, scores: np.ndarray, images: np.ndarray, cap: int) -> np.ndarray:
    """Indices of the pairs that survive a cap of `cap` images per sentence: each sentence
    keeps the images that score it highest (ties: lower global image row first)."""
    order = np.lexsort((images, -scores, keys))
    return np.sort(order[rank_within(keys[order]) < cap])


def percentile_of_counts(values: np.ndarray, counts: np.ndarray, q: float) -> float:
    """np.percentile(q, linear) of the multiset holding values[i] counts[i] times."""
    order = np.argsort(values)
    values, counts = np.asarray(values)[order], np.asarray(counts)[order]
    ends = np.cumsum(counts)
    position = q / 100 * (ends[-1] - 1)
    low, high = int(np.floor(position)), int(np.ceil(position))
    v_low = float(values[np.searchsorted(ends, low, side="right")])
    v_high = float(values[np.searchsorted(ends, high, side="right")])
    return float(np.percentile([v_low, v_high], (position - low) * 100))
