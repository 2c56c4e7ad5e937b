"""Bucket keys of partitioned dedup tested alone (scripts/mutation.py mutates
realsyn/extract/lsh_keys.py); tests/extract/test_partitioned_dedup.py checks the edges against
brute force and runs the dedup stage on them."""

from __future__ import annotations

from itertools import pairwise
from math import comb

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash, MinHashLSH

from realsyn.extract import lsh_keys
from realsyn.extract.dedup import shingles
from realsyn.extract.phash import HASH_BITS


def test_exact_keys_are_the_normalised_texts():
    keys, hashed = lsh_keys.exact_keys(["A  b", "a b", "c"])
    assert keys[0] == keys[1] != keys[2]
    assert hashed.dtype == np.uint64 and hashed[0] == hashed[1] != hashed[2]


@pytest.mark.parametrize("wrap", [list, pa.array, lambda keys: pa.chunked_array([keys[:2],
                                                                               keys[2:]])])
def test_exact_edges_join_every_copy_to_the_first(wrap):
    edges = lsh_keys.exact_edges(wrap(["a", "b", "a", "a"]), np.array([10, 11, 12, 13]))
    assert edges.tolist() == [[10, 12], [10, 13]]
    empty = lsh_keys.exact_edges(wrap([]) if wrap is list else [], np.array([], dtype=np.int64))
    assert empty.shape == (0, 2) and empty.dtype == np.int64


@pytest.mark.parametrize(("radius", "tables", "per_hash"), [
    (0, 1, 1), (1, 2, 2), (2, 3, 3), (3, 4, 4),
    # four chunks of 16 bits from radius 4 on: f = r // 4 bits, flips ceil(f / 2)
    (4, 4, 4 * (1 + 16)), (10, 4, 4 * (1 + 16)), (13, 4, 4 * (1 + 16 + comb(16, 2)))])
def test_phash_chunks_and_entries_per_hash(radius, tables, per_hash):
    bounds = lsh_keys._chunk_bounds(radius)
    assert len(bounds) == tables
    assert bounds[0][0] == 0 and bounds[-1][1] == HASH_BITS
    assert all(high == low for (_, high), (low, _) in pairwise(bounds))
    assert lsh_keys.phash_entries_per_hash(radius) == per_hash
    rows, keys = lsh_keys.phash_keys(np.array([0, -1, 12345], dtype=np.int64), radius)
    assert len(rows) == len(keys) == 3 * per_hash
    per_table = per_hash // tables
    assert rows.tolist() == np.tile(np.repeat(np.arange(3), per_table), tables).tolist()
    assert len(set(zip(rows.tolist(), keys.tolist(), strict=True))) == 3 * per_hash  # distinct


def test_flip_masks_list_each_mask_once():
    assert lsh_keys._flip_masks(3, 0).tolist() == [0]
    assert lsh_keys._flip_masks(3, 1).tolist() == [0, 1, 2, 4]
    assert lsh_keys._flip_masks(3, 2).tolist() == [0, 1, 2, 4, 3, 5, 6]


def test_phash_radius_must_leave_a_bit():
    with pytest.raises(ValueError, match="below 64"):
        lsh_keys.phash_keys(np.array([0]), HASH_BITS)


def test_band_layout_is_datasketchs_for_the_permutation_count():
    for threshold, num_perm in ((0.5, 64), (0.8, 128), (0.9, 256)):
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        assert lsh_keys.band_layout(threshold, num_perm) == (lsh.b, lsh.r)
    bands, rows = lsh_keys.band_layout(0.5, 64)
    assert bands * rows <= 64


@pytest.mark.parametrize(("num_perm", "seed"), [(64, 1), (32, 7)])
def test_minhash_signatures_are_datasketchs_values(num_perm, seed):
    texts = ["the cat sat on the mat", "a dog", ""]
    signatures = lsh_keys.minhash_signatures(texts, num_perm, 3, seed=seed)
    assert signatures.dtype == np.uint32 and signatures.shape == (3, num_perm)
    for text, signature in zip(texts, signatures, strict=True):
        minhash = MinHash(num_perm=num_perm, seed=seed)
        minhash.update_batch(list(shingles(text, 3)))
        assert signature.tolist() == minhash.hashvalues.tolist()


def test_band_keys_tell_apart_every_band_of_uint64_values():
    # values above 2**53 that a float would merge
    signatures = np.array([[2**60, 5], [2**60 + 1, 5], [2**60, 5]], dtype=np.uint64)
    keys = lsh_keys.band_keys(signatures, 2, 1)
    assert keys.dtype == np.uint64 and keys.shape == (3, 2)
    assert keys[0, 0] != keys[1, 0] and keys[0, 0] == keys[2, 0]
    assert keys[0, 1] == keys[1, 1] == keys[2, 1]
    assert keys[0, 0] != keys[0, 1]  # the band number is part of the key
    same = np.array([[7, 7]], dtype=np.uint32)
    assert lsh_keys.band_keys(same, 2, 1)[0, 0] != lsh_keys.band_keys(same, 2, 1)[0, 1]


def test_no_entries_or_one_entry_give_no_edges():
    none = np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    for edges in (lsh_keys.minhash_edges(*none, np.empty((0, 8), dtype=np.uint32), 0.5),
                  lsh_keys.phash_edges(*none, np.empty(0, dtype=np.int64), 3),
                  lsh_keys.minhash_edges(np.array([5], dtype=np.uint64), np.array([3]),
                                         np.ones((1, 8), dtype=np.uint32), 0.5),
                  lsh_keys.phash_edges(np.array([5], dtype=np.uint64), np.array([3]),
                                       np.array([9]), 3)):
        assert edges.shape == (0, 2) and edges.dtype == np.int64


def test_exact_bucket_keys_are_stable():
    # the 8-byte blake2b of the normalised text, little-endian: the same in every process
    # and release, so a resumed shuffle routes a record where the first run did
    assert lsh_keys.exact_keys(["A"])[1].tolist() == [3405396810240292928]


SIMILAR = np.array([[1] * 7 + [2], [1] * 8], dtype=np.uint32)  # Jaccard estimate 7/8


def test_candidates_are_the_entries_of_one_bucket_only():
    ids = np.array([10, 11])
    assert lsh_keys.minhash_edges(np.array([7, 7], dtype=np.uint64), ids, SIMILAR,
                                  0.5).tolist() == [[10, 11]]
    # the threshold itself joins (>=, as MinHashLSH's candidates confirmed in dedup.py)
    assert lsh_keys.minhash_edges(np.array([7, 7], dtype=np.uint64), ids, SIMILAR,
                                  7 / 8).tolist() == [[10, 11]]
    # distinct keys a float would merge: similar, but never candidates
    apart = np.array([2**62, 2**62 + 1], dtype=np.uint64)
    assert lsh_keys.minhash_edges(apart, ids, SIMILAR, 0.5).tolist() == []
    # keys of any unsigned width
    assert lsh_keys.minhash_edges(np.array([7, 7], dtype=np.uint32), ids, SIMILAR,
                                  0.5).tolist() == [[10, 11]]
    assert lsh_keys.phash_edges(np.array([7, 7], dtype=np.uint32), ids, np.array([0, 1]),
                                1).tolist() == [[10, 11]]
    assert lsh_keys.phash_edges(apart, ids, np.array([0, 1]), 1).tolist() == []


def test_phash_edges_take_hashes_as_64_bit_patterns():
    # the same bits as uint64 (a hash with the top bit set) or int64
    near = np.array([2**63 + 1, 2**63 + 3], dtype=np.uint64)
    ids, keys = np.array([10, 11]), np.array([7, 7], dtype=np.uint64)
    assert lsh_keys.phash_edges(keys, ids, near, 1).tolist() == [[10, 11]]
    assert lsh_keys.phash_edges(keys, ids, near.view(np.int64), 1).tolist() == [[10, 11]]


def test_minhash_similarity_compares_signature_values_exactly():
    # 64-bit signature values that differ only beyond a float's precision
    signatures = np.array([[2**60] * 8, [2**60 + 1] * 8], dtype=np.uint64)
    assert lsh_keys.minhash_edges(np.array([7, 7], dtype=np.uint64), np.array([10, 11]),
                                  signatures, 0.5).tolist() == []


def shared_keys(first: int, second: int, radius: int) -> set[int]:
    rows, keys = lsh_keys.phash_keys(np.array([first, second], dtype=np.uint64).view(np.int64),
                                     radius)
    return set(keys[rows == 0].tolist()) & set(keys[rows == 1].tolist())


@pytest.mark.parametrize("radius", [0, 1, 3, 10])
def test_phash_buckets_join_only_hashes_close_in_some_chunk(radius):
    # every chunk differs in all of its bits: no bucket in common
    assert shared_keys(0, 2**64 - 1, radius) == set()
    if radius == 0:  # the whole hash is the key: any other bit separates
        assert shared_keys(0, 1, 0) == set()
        assert shared_keys(2**62, 2**62 + 1, 0) == set()  # beyond a float's precision
    # within the radius: a common bucket (one flipped bit per chunk at most)
    assert shared_keys(0, 1, radius) or radius == 0
    assert shared_keys(2**63, 2**63, radius)


def test_phash_keys_of_hashes_of_any_integer_width():
    rows, keys = lsh_keys.phash_keys(np.array([0, 1], dtype=np.uint32), 0)
    assert rows.tolist() == [0, 1] and keys[0] != keys[1]
