"""Candidates of partitioned retrieval: what the stage's tests do not reach (found by mutating
src/realsyn/retrieve/candidates.py)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from realsyn.config import RetrieveConfig
from realsyn.retrieve.candidates import (
    candidate_schema,
    cap_uses_top_first,
    dense,
    key_matrix,
    pick,
    search_depth,
)


def test_dense_lays_values_out_by_row_and_rank_in_their_dtype():
    rows = np.array([2, 5, 9])
    picked = np.array([5, 5, 9])
    out = dense(rows, picked, np.array([10, 11, 12], np.int32), 3, -1)
    assert out.tolist() == [[-1, -1, -1], [10, 11, -1], [12, -1, -1]]
    assert out.dtype == np.int32
    scores = dense(rows, picked, np.array([0.5, 0.25, 1], np.float32), 2, np.float32(np.nan))
    assert scores.dtype == np.float32
    assert np.array_equal(scores, [[np.nan, np.nan], [0.5, 0.25], [1, np.nan]], equal_nan=True)


def test_the_second_round_gives_each_sentence_the_capacity_it_has_left():
    # first round (rank < top_k 1): sentence 5 once. Further candidates: sentence 5 twice
    # (one use left), sentence 9 (above every used key) and sentence 1 (below) twice each.
    keys = np.array([5, 5, 5, 9, 9, 1, 1])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    images = np.array([0, 1, 2, 3, 4, 5, 6])
    ranks = np.array([0, 1, 1, 1, 1, 1, 1])
    assert cap_uses_top_first(keys, scores, images, ranks, 2, 1).tolist() == [0, 1, 3, 4, 5, 6]
    # every sentence used up in the first round: nothing more
    assert cap_uses_top_first(keys, scores, images, np.zeros(7, int), 1, 1).tolist() == [0, 3, 5]


def test_a_sentence_partition_with_no_pair_in_any_top_k_keeps_its_best():
    # The cap step runs per sentence partition: one may hold only sentences that no image
    # ranks in its top_k. Each then gets its whole cap among its further candidates (this
    # raised IndexError before: the first round's uses were read from an empty array).
    keys = np.array([5, 5, 9, 1])
    scores = np.array([0.9, 0.8, 0.6, 0.4])
    ranks = np.array([3, 4, 3, 5])
    assert cap_uses_top_first(keys, scores, np.arange(4), ranks, 1, 3).tolist() == [0, 2, 3]
    assert cap_uses_top_first(keys, scores, np.arange(4), ranks, 2, 3).tolist() == [0, 1, 2, 3]


def test_a_cap_searches_deeper_than_top_k():
    assert search_depth(RetrieveConfig(top_k=3, max_uses_share=None)) == 3
    assert search_depth(RetrieveConfig(top_k=3, max_uses_per_sentence=2)) == 30
    assert search_depth(RetrieveConfig(top_k=2, max_uses_share=0.1)) == 20


def test_candidate_schema():
    assert candidate_schema() == pa.schema([
        ("image_shard", pa.int64()), ("row", pa.int64()), ("score", pa.float32()),
        ("key", pa.int64()), ("sentence_id", pa.string()), ("text", pa.string()),
        ("doc_id", pa.string())])


def _candidates(rows, scores, keys):
    n = len(rows)
    return pa.table({"image_shard": pa.array([0] * n, pa.int64()),
                     "row": pa.array(rows, pa.int64()), "score": pa.array(scores, pa.float32()),
                     "key": pa.array(keys, pa.int64()),
                     "sentence_id": [f"s{k}" for k in keys], "text": [f"t{k}" for k in keys],
                     "doc_id": ["d"] * n}, schema=candidate_schema())


def test_pick_keeps_each_images_best_above_the_floor_rows_ascending():
    candidates = _candidates([7, 3, 7, 3, 7], [0.2, 0.9, 0.8, 0.5, 0.6], [1, 2, 3, 4, 5])
    picked = pick(candidates, 2, None)
    assert picked.column("row").to_pylist() == [3, 3, 7, 7]
    assert picked.column("key").to_pylist() == [2, 4, 3, 5]
    assert picked.column("text").to_pylist() == ["t2", "t4", "t3", "t5"]
    assert pick(candidates, 1, 0.7).column("key").to_pylist() == [2, 3]


def test_key_matrix_of_some_rows_only():
    picked = _candidates([3, 3, 7, 8], [0.9, 0.5, 0.8, 0.4], [2, 4, 3, 6])
    keys, scores = key_matrix(picked, np.array([3, 5, 8]), 2)
    assert keys.tolist() == [[2, 4], [-1, -1], [6, -1]] and keys.dtype == np.int64
    assert scores.dtype == np.float32
    assert np.array_equal(scores, np.array([[0.9, 0.5], [np.nan, np.nan], [0.4, np.nan]],
                                           np.float32), equal_nan=True)
