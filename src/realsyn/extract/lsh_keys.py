"""Bucket keys and confirmed pairs for partitioned exact, MinHash and pHash dedup.

Map side (per shard): `exact_keys`, `minhash_signatures` + `band_keys`, `phash_keys` give
each record its bucket keys. Reduce side (per partition of keys): `exact_edges`,
`minhash_edges`, `phash_edges` pair the records of each bucket and keep the pairs that pass
the same exact test as the single-process functions in dedup.py / phash.py, so the closure of
the edges is the same grouping:

- exact: equal normalised text (the key is the text itself, so no hash collision can join).
- MinHash: the LSH banding of datasketch's `MinHashLSH(threshold, num_perm)` (b bands of r
  rows; equal band => candidate), confirmed by the MinHash Jaccard estimate >= threshold.
- pHash: multi-index hashing with the chunk count of phash.linking_pairs (m = min(r + 1, 4)
  chunks covering all 64 bits): two hashes within r bits differ in at most f = r // m bits of
  some chunk; two chunk values within f bits have a common neighbour within ceil(f / 2) bit
  flips of each, so every record is put in the buckets of its chunk values' neighbours
  within ceil(f / 2) flips and pairs sharing a bucket are checked exactly (Hamming <= r).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pyarrow as pa
from datasketch import MinHash, MinHashLSH

from realsyn.extract.buckets import (
    collapse_copies,
    combine_columns,
    pair_blocks,
    unique_edges,
    unique_rows,
)
from realsyn.extract.dedup import normalize_text, shingles
from realsyn.extract.phash import HASH_BITS, MAX_TABLES


# ---------------------------------------------------------------- exact
def exact_keys(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(normalised keys, uint64 bucket key of each) for exact-duplicate buckets."""
    keys = [normalize_text(text) for text in texts]
    hashed = [int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
              for key in keys]
    return keys, np.array(hashed, dtype=np.uint64)


def exact_edges(keys: Sequence[str] | pa.Array | pa.ChunkedArray, ids: np.ndarray
                ) -> np.ndarray:
    """Edges (first id, other id) joining every id to the first id of its normalised key."""
    if len(keys) == 0:
        return np.empty((0, 2), dtype=np.int64)
    # Equal texts numbered by Arrow's dictionary encoding: a fixed-width numpy string array
    # would take 4 bytes per character of the longest text for every row.
    keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else pa.array(keys)
    value = keys.dictionary_encode().indices.to_numpy(zero_copy_only=False)
    _, _, edges = collapse_copies(value, ids)
    return edges


# ---------------------------------------------------------------- MinHash
def band_layout(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band): datasketch's optimal banding for this threshold."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


def minhash_signatures(texts: Sequence[str], num_perm: int, ngram: int,
                       seed: int = 1) -> np.ndarray:
    """[n, num_perm] uint32 MinHash values of the texts' character shingles (the values
    dedup.minhash_pairs computes)."""
    signatures = np.empty((len(texts), num_perm), dtype=np.uint32)
    # The seed's permutations, drawn once (a MinHash draws them on every construction).
    first = MinHash(num_perm=num_perm, seed=seed)
    for row, text in enumerate(texts):
        minhash = MinHash(num_perm=num_perm, seed=seed, permutations=first.permutations,
                          scheme=first.scheme)
        minhash.update_batch(list(shingles(text, ngram)))
        signatures[row] = minhash.hashvalues
    return signatures


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """[n, bands] uint64 bucket keys: band b's key hashes (b, its r signature values)."""
    keys = np.empty((len(signatures), bands), dtype=np.uint64)
    for band in range(bands):
        part = signatures[:, band * rows:(band + 1) * rows].astype(np.uint64)
        keys[:, band] = combine_columns(np.column_stack(
            [np.full(len(signatures), band, dtype=np.uint64), part]))
    return keys


def confirmed_pairs(entries: np.ndarray, confirm) -> np.ndarray:
    """Pairs [m, 2] of distinct values (column 1 of the (key, value) `entries`) sharing a key
    that pass `confirm(left, right) -> bool mask`, checked block by block (`pair_blocks`), so
    that only confirmed pairs are ever held together."""
    found = [np.empty((0, 2), dtype=np.int64)]
    for left, right in pair_blocks(entries[:, 0]):
        pairs = np.stack([entries[left, 1], entries[right, 1]], axis=1)
        found.append(pairs[confirm(pairs[:, 0], pairs[:, 1])])
    return unique_rows(np.sort(np.concatenate(found), axis=1))


def minhash_edges(keys: np.ndarray, ids: np.ndarray, signatures: np.ndarray,
                  threshold: float) -> np.ndarray:
    """Edges between the ids of the band entries (key, id, signature) of one partition:
    equal signatures are joined to their first id; distinct signatures sharing a band key
    are joined when their Jaccard estimate (equal values / num_perm) is >= threshold."""
    if len(ids) == 0:
        return np.empty((0, 2), dtype=np.int64)
    value, first_id, copies = collapse_copies(signatures, ids)
    # One entry per (bucket, distinct signature): copies never multiply the pairs.
    entries = unique_rows(np.stack([np.asarray(keys, dtype=np.uint64).view(np.int64),
                                    value.astype(np.int64)], axis=1))
    representative = np.empty((len(first_id), signatures.shape[1]), dtype=signatures.dtype)
    representative[value] = signatures

    def similar(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        equal = (representative[left] == representative[right]).sum(axis=1)
        return equal / np.float64(signatures.shape[1]) >= threshold

    return unique_edges(copies, first_id[confirmed_pairs(entries, similar)])


# ---------------------------------------------------------------- pHash
def _chunk_bounds(max_distance: int) -> list[tuple[int, int]]:
    tables = min(max_distance + 1, MAX_TABLES)
    return [(j * HASH_BITS // tables, (j + 1) * HASH_BITS // tables) for j in range(tables)]


def _flip_masks(width: int, flips: int) -> np.ndarray:
    masks = [0]
    for count in range(1, flips + 1):
        masks += [sum(1 << bit for bit in bits) for bits in combinations(range(width), count)]
    return np.array(masks, dtype=np.uint64)


def phash_keys(hashes: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, key): the bucket keys of every hash (several per hash; see the module doc)."""
    if max_distance >= HASH_BITS:
        raise ValueError(f"max_distance must be below {HASH_BITS}")
    values = np.asarray(hashes, dtype=np.int64).view(np.uint64)
    bounds = _chunk_bounds(max_distance)
    flips = -(-(max_distance // len(bounds)) // 2)  # ceil(f / 2)
    rows, keys = [], []
    for table, (low, high) in enumerate(bounds):
        width = high - low
        chunk = (values >> np.uint64(low)) & np.uint64((1 << width) - 1)
        masks = _flip_masks(width, flips)
        neighbours = (chunk[:, None] ^ masks[None, :]).ravel()
        rows.append(np.repeat(np.arange(len(values)), len(masks)))
        keys.append(combine_columns(np.column_stack(
            [np.full(len(neighbours), table, dtype=np.uint64), neighbours])))
    if not rows:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint64)
    return np.concatenate(rows), np.concatenate(keys)


def phash_edges(keys: np.ndarray, ids: np.ndarray, hashes: np.ndarray,
                max_distance: int) -> np.ndarray:
    """Edges between the ids of the pHash bucket entries (key, id, hash) of one partition:
    equal hashes joined to their first id, distinct hashes sharing a key joined when within
    `max_distance` bits."""
    if len(ids) == 0:
        return np.empty((0, 2), dtype=np.int64)
    hashes = np.asarray(hashes, dtype=np.int64)
    value, first_id, copies = collapse_copies(hashes, ids)
    distinct = np.empty(len(first_id), dtype=np.int64)
    distinct[value] = hashes
    entries = unique_rows(np.stack([np.asarray(keys, dtype=np.uint64).view(np.int64),
                                    value.astype(np.int64)], axis=1))

    def within(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        return np.bitwise_count((distinct[left] ^ distinct[right]).view(np.uint64)) <= (
            max_distance)

    return unique_edges(copies, first_id[confirmed_pairs(entries, within)])


def phash_entries_per_hash(max_distance: int) -> int:
    """How many bucket entries `phash_keys` gives each hash."""
    bounds = _chunk_bounds(max_distance)
    flips = -(-(max_distance // len(bounds)) // 2)
    return sum(len(_flip_masks(high - low, flips)) for low, high in bounds)
