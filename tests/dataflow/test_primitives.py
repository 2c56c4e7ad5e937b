"""The partitioned primitives (realsyn.dataflow) against plain single-array computations."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pytest

from realsyn.dataflow import join, kmeans, rank, rows, sampling
from realsyn.dataflow.digest import signed_hashes, stable_hash, stable_hashes


def test_hashes_are_blake2b_of_the_key_salted_by_the_seed():
    digest = hashlib.blake2b(b"doc", digest_size=8).digest()
    assert stable_hash("doc") == int.from_bytes(digest, "little")
    assert stable_hash("doc", 3) != stable_hash("doc")
    assert stable_hashes(["doc", "x"], 3).tolist() == [stable_hash("doc", 3),
                                                       stable_hash("x", 3)]
    assert signed_hashes(["doc"]).tolist() == [int.from_bytes(digest, "little", signed=True)]
    assert signed_hashes([None]).tolist() == signed_hashes(["None"]).tolist()


def test_usable_rows_are_finite_and_not_zero():
    block = np.array([[1, 0], [0, 0], [np.nan, 1], [1e-4, 0], [0.6, 0.8]], np.float16)
    assert rows.usable_rows(block).tolist() == [True, False, False, False, True]


def test_row_codes_sort_in_dataset_order_and_name_their_shard():
    codes = np.concatenate([rows.row_codes(0, 3), rows.row_codes(2, 2)])
    assert np.all(np.diff(codes) > 0)
    assert rows.code_shards(codes).tolist() == [0, 0, 0, 2, 2]
    assert rows.code_rows(codes).tolist() == [0, 1, 2, 0, 1]
    assert rows.row_codes(np.array([1, 1]), np.array([5, 7])).tolist() == [(1 << 32) | 5,
                                                                             (1 << 32) | 7]
    bounds = rows.offsets([3, 0, 2])
    assert bounds.tolist() == [0, 3, 3, 5]
    shard, local = rows.locate(bounds, np.array([0, 2, 3, 4]))
    assert shard.tolist() == [0, 0, 2, 2] and local.tolist() == [0, 2, 0, 1]


def test_check_rows_names_the_shard():
    assert rows.check_rows("images", "00000", 4, 4) == 4
    with pytest.raises(ValueError, match="images/00001: 4 records but 3 embedding rows"):
        rows.check_rows("images", "00001", 4, 3)


@pytest.mark.parametrize("size", [0, 5, 17, 100])
def test_a_sample_across_shards_is_the_sample_of_the_whole(size):
    data = np.random.default_rng(0).standard_normal((40, 3)).astype(np.float32)
    counts = [10, 0, 25, 5]
    bounds = rows.offsets(counts)
    read_shards = []

    def read(i, local):
        read_shards.append(i)
        return data[bounds[i]:bounds[i + 1]][local]

    if size == 0:
        with pytest.raises(ValueError):  # nothing to concatenate: callers sample a non-empty set
            sampling.sample_across(counts, size, 7, read)
        return
    sample = sampling.sample_across(counts, size, 7, read)
    assert np.array_equal(sample, data[sampling.sample_rows(40, size, 7)])
    assert 1 not in read_shards  # an empty shard is never read


def test_capped_keeps_each_groups_first_rows_in_order():
    groups = np.array([1, 0, 1, 1, 0, 2])
    keys = np.array([5, 1, 2, 9, 0, 3])
    order = np.lexsort((np.arange(6), keys, groups))
    kept = rank.capped(groups, np.array([1, 2, 0]), order)
    # group 0 keeps its smallest key (row 4), group 1 its two smallest (rows 2, 0), group 2 none
    assert sorted(kept.tolist()) == [0, 2, 4]


def test_join_first_matches_the_first_right_row_of_each_key():
    left = pa.table({"id": ["a", "b", "c"], "row": [0, 1, 2]})
    right = pa.table({"id": ["b", "a", "b"], "shard": [1, 0, 0], "at": [7, 8, 9]})
    joined = join.join_first(left, right, "id", ["shard", "at"]).sort_by("row")
    assert joined.to_pydict() == {"row": [0, 1], "shard": [0, 0], "at": [8, 9]}


def test_kmeans_assignment_is_the_nearest_centre():
    data = np.random.default_rng(1).standard_normal((300, 8)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    centres = kmeans.train_centroids(data, 5, iterations=10, seed=0)
    assert np.allclose(np.linalg.norm(centres, axis=1), 1, atol=1e-5)
    labels = kmeans.assign(kmeans.centroid_index(centres), [data[:100], data[100:]])
    assert np.array_equal(labels, np.argmax(data @ centres.T, axis=1))


def test_best_per_row_floor_keeps_a_score_equal_to_it_and_drops_infinities():
    rows_ = np.zeros(3, np.int64)
    scores = np.array([np.inf, 0.5, 0.25])
    keys = np.arange(3, dtype=np.int64)
    # +inf passes any floor but is not a score; 0.5 equals the floor and is kept
    assert rank.best_per_row(rows_, scores, keys, 2, min_score=0.5).tolist() == [1]


def test_sample_rows_draws_distinct_int64_rows():
    for seed in range(5):  # 9 of 10 rows: a draw with replacement repeats one
        picked = sampling.sample_rows(10, 9, seed)
        assert len(np.unique(picked)) == 9 and picked.dtype == np.int64
    # the whole set, also for a row count given as a float
    assert sampling.sample_rows(3.0, 5, 0).dtype == np.int64


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_sample_across_returns_float32_whatever_the_shards_give(dtype):
    def read(shard, local):
        return np.full((len(local), 2), shard + 1e-9, dtype=dtype)

    sample = sampling.sample_across([3, 2], 5, 0, read)
    assert sample.dtype == np.float32 and sample.shape == (5, 2)


def test_stable_hash_salt_is_the_seed_in_8_little_endian_bytes():
    expected = hashlib.blake2b(b"key", digest_size=8, salt=(258).to_bytes(8, "little"))
    assert stable_hash("key", 258) == int.from_bytes(expected.digest(), "little")
    with pytest.raises(OverflowError):  # a seed is 64 bits
        stable_hash("key", 2**64)


def test_stable_id_frames_each_part_by_its_length():
    from realsyn.dataflow.digest import stable_id

    digest = hashlib.blake2b(digest_size=8)
    for data in (b"ab", b"\x00none", b"7", "é".encode()):
        digest.update(len(data).to_bytes(8, "little") + data)
    assert stable_id(b"ab", None, 7, "é") == digest.hexdigest()
    assert stable_id("a", "b") != stable_id("ab") != stable_id("ab", None)
