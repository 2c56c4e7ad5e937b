"""Bucket keys of partitioned dedup tested alone (scripts/mutation.py mutates
realsyn/extract/lsh_keys.py); tests/extract/test_partitioned_dedup.py checks the edges against
brute force and runs the dedup stage on them."""

from __future__ import annotations

from itertools import pairwise
from math import comb

import numpy as np
import pyarrow as pa
import pytest

from realsyn.extract import lsh_keys
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
