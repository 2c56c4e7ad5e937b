"""Candidate pairs from bucket keys: the shuffle-side half of partitioned dedup.

A map step gives every record one or more bucket keys (MinHash bands, pHash chunks); records
are then partitioned by key hash, and a task per partition pairs the records that share a key
(`pair_blocks`) and confirms each candidate exactly. Copies of one value (equal
signatures, equal hashes) are collapsed to their first id before pairing and linked to it by
one edge each, so many copies never flood a bucket with k^2 pairs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

# splitmix64 constants: a cheap, well-mixed 64-bit hash of integer keys, stable everywhere.
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser of uint64 values (wrapping arithmetic)."""
    x = np.asarray(values, dtype=np.uint64) + _MIX[0]
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _MIX[1]
        x = (x ^ (x >> np.uint64(27))) * _MIX[2]
    return x ^ (x >> np.uint64(31))


def combine_columns(columns: np.ndarray) -> np.ndarray:
    """One uint64 key per row of an [n, k] unsigned array (a hash of the whole row: equal
    rows give equal keys; distinct rows collide with probability ~2^-64, which only adds a
    candidate that the exact check then rejects)."""
    columns = np.asarray(columns, dtype=np.uint64)
    key = np.zeros(len(columns), dtype=np.uint64)
    for column in range(columns.shape[1]):
        key = mix64(key ^ columns[:, column])
    return key


def partition_of(keys: np.ndarray, partitions: int) -> np.ndarray:
    """The partition (0..partitions-1) of each uint64 bucket key."""
    return (mix64(keys) % np.uint64(partitions)).astype(np.int64)


# Candidate pairs checked at once by a reduce task: with a fixed number of buckets (pHash
# chunk values) candidates grow with the square of the rows, so a task confirms them in blocks
# and its memory stays bounded whatever the partition holds.
PAIR_BLOCK = 1 << 20


def pair_blocks(keys: np.ndarray, block: int = PAIR_BLOCK
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Index pairs (i, j), i != j, of the entries that share a key: every unordered pair of
    each bucket once (vectorised: no Python loop over buckets), in blocks of about `block`
    pairs (an entry's partners are never split, so a block may exceed it by one bucket)."""
    keys = np.asarray(keys)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    end_of = np.repeat(ends, ends - starts)  # for each sorted position, its bucket's end
    later = end_of - np.arange(len(keys)) - 1  # partners after it in its bucket
    before = np.cumsum(later) - later  # pairs of the positions before it
    total = int(later.sum())
    if total == 0:
        return
    cuts = np.searchsorted(before, np.arange(0, total, max(1, block)), side="right") - 1
    for low, high in zip(cuts, np.r_[cuts[1:], len(keys)], strict=True):
        if high == low:  # one entry's partners filled several blocks
            continue
        counts = later[low:high]
        first = np.repeat(np.arange(low, high), counts)
        offset = np.arange(len(first)) - np.repeat(before[low:high] - before[low], counts) + 1
        yield order[first], order[first + offset]


def collapse_copies(values: np.ndarray, ids: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value_index, first_id, copy_edges): `value_index` numbers the distinct values (rows of
    a 2-D array, or items), `first_id[v]` is the lowest id holding value v, and `copy_edges`
    [m, 2] links every other id of a value to its first."""
    values = np.asarray(values)
    if values.ndim == 2:
        values = np.ascontiguousarray(values).view(
            np.dtype((np.void, values.dtype.itemsize * values.shape[1]))).ravel()
    _, value_index = np.unique(values, return_inverse=True)
    value_index = value_index.ravel()
    ids = np.asarray(ids, dtype=np.int64)
    first_id = np.full(value_index.max(initial=-1) + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_id, value_index, ids)
    edges = unique_rows(np.stack([first_id[value_index], ids], axis=1))
    return value_index, first_id, edges[edges[:, 0] != edges[:, 1]]


def unique_edges(*edge_sets: np.ndarray) -> np.ndarray:
    """Edges [m, 2] as (low id, high id), duplicates and self-loops removed, sorted."""
    edges = [np.asarray(e, dtype=np.int64).reshape(-1, 2) for e in edge_sets]
    both = np.concatenate(edges) if edges else np.empty((0, 2), dtype=np.int64)
    both = np.sort(both, axis=1)
    return unique_rows(both[both[:, 0] != both[:, 1]])


def unique_rows(pairs: np.ndarray) -> np.ndarray:
    """The distinct rows of an [m, 2] int64 array, sorted (a lexsort: far faster than
    np.unique(axis=0), which sorts opaque byte strings)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    pairs = pairs[order]
    distinct = np.ones(len(pairs), dtype=bool)
    distinct[1:] = (pairs[1:] != pairs[:-1]).any(axis=1)
    return pairs[distinct]
