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


def cap_uses_top_first(keys: np.ndarray, scores: np.ndarray, images: np.ndarray,
                       ranks: np.ndarray, cap: int, top_k: int) -> np.ndarray:
    """Indices of the pairs that survive a cap of `cap` images per sentence, in two rounds.
    First the pairs within their image's top_k (`ranks`: the pair's rank among its image's
    candidates): each sentence keeps the images that score it highest. Then each sentence's
    capacity left goes to the images that score it highest among the further candidates, where
    an image that lost a text finds its next one. A sentence thus goes first to the images that
    would show it, not to images whose 20th candidate it is (one round over all candidates
    cost the demo 6.3% of its mean text1 score at a cap of 3, two rounds 4.1%)."""
    first = np.flatnonzero(ranks < top_k)
    kept = first[cap_uses(keys[first], scores[first], images[first], cap)]
    used_keys, used = np.unique(keys[kept], return_counts=True)
    rest = np.flatnonzero(ranks >= top_k)
    order = rest[np.lexsort((images[rest], -scores[rest], keys[rest]))]
    at = np.searchsorted(used_keys, keys[order])
    known = (at < len(used_keys)) & (used_keys[np.minimum(at, len(used_keys) - 1)]
                                     == keys[order])
    left = cap - np.where(known, used[np.minimum(at, len(used_keys) - 1)], 0)
    more = order[rank_within(keys[order]) < left]
    return np.sort(np.concatenate([kept, more]))


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
