"""Rows of embedding arrays: what the stages' tests do not reach (found by mutating
src/realsyn/dataflow/rows.py): chunked streaming, a misaligned shard's message, codes of any
integer dtype."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from realsyn.dataflow import rows
from realsyn.workspace import Workspace


class CountingBlock(np.ndarray):
    """An array that records the row slices read from it (as a memory map is read)."""

    reads: list[tuple[int, int]]

    def __getitem__(self, key):
        if isinstance(key, slice):
            self.reads.append((key.start, key.stop))
        return np.asarray(super().__getitem__(key))


def test_usable_rows_read_each_row_once_in_chunks(monkeypatch):
    monkeypatch.setattr(rows, "CHUNK_ROWS", 3)
    data = np.zeros((11, 4), np.float16)
    data[::2, 0] = 1  # usable: the even rows; the odd ones are zero
    block = data.view(CountingBlock)
    block.reads = []
    mask = rows.usable_rows(block)
    assert mask.tolist() == [i % 2 == 0 for i in range(11)]
    # a float32 copy of one chunk at a time, each row once
    assert block.reads == [(0, 3), (3, 6), (6, 9), (9, 12)]


def test_usable_rows_cross_chunk_borders(monkeypatch):
    monkeypatch.setattr(rows, "CHUNK_ROWS", 3)
    rng = np.random.default_rng(0)
    data = rng.standard_normal((200, 4)).astype(np.float16)
    zero = rng.random(200) < 0.5
    data[zero] = 0
    assert rows.usable_rows(data).tolist() == (~zero).tolist()


def test_a_misaligned_shard_names_its_dataset_and_shard(tmp_path):
    workspace = Workspace(str(tmp_path))
    workspace.write_table("images", "00003", pa.table({"id": ["a", "b"]}))
    workspace.write_array("images", "00003", np.ones((3, 4), np.float16))
    with pytest.raises(ValueError, match=r"^images/00003: 2 records but 3 embedding rows$"):
        rows.aligned_rows(workspace, "images", "00003")
    workspace.write_array("images", "00003", np.ones((2, 4), np.float16))
    assert rows.aligned_rows(workspace, "images", "00003") == 2


def test_codes_of_any_integer_dtype_give_int64_shards_and_rows():
    codes = rows.row_codes(np.array([0, 3]), np.array([7, 1]))
    for given in (codes.astype(np.uint64), codes.tolist()):
        shards, local = rows.code_shards(given), rows.code_rows(given)
        assert shards.dtype == np.int64 and local.dtype == np.int64
        assert shards.tolist() == [0, 3] and local.tolist() == [7, 1]


def test_the_norm_floor_is_exclusive():
    # a norm of exactly 1e-3 (in float32) is no embedding
    block = np.array([[1e-3, 0], [2e-3, 0]], np.float32)
    assert rows.usable_rows(block).tolist() == [False, True]


def test_different_shards_name_the_dataset_and_both_lists(tmp_path):
    workspace = Workspace(str(tmp_path))
    for shard in ("00000", "00001"):
        workspace.write_table("images", shard, pa.table({"id": ["a"]}))
    workspace.write_array("images", "00000", np.ones((1, 4), np.float16))
    with pytest.raises(ValueError) as raised:
        rows.aligned_shards(workspace, "images")
    assert str(raised.value) == ("dataset 'images' and its embeddings have different shards: "
                                 "['00000', '00001'] vs ['00000']")
    workspace.write_array("images", "00001", np.ones((1, 4), np.float16))
    assert rows.aligned_shards(workspace, "images") == ["00000", "00001"]


def test_row_codes_of_unsigned_counts_and_rows_are_int64():
    # e.g. a count or rows read back as uint64: numpy has no integer type for int64 | uint64
    for given in (np.uint64(2), np.array([0, 1], np.uint64)):
        codes = rows.row_codes(3, given)
        assert codes.dtype == np.int64 and codes.tolist() == [3 << 32, (3 << 32) | 1]


def test_row_codes_of_any_integer_shard_index_are_int64():
    # an int32 shard index shifted by 32 bits in its own type would lose the shard
    for index in (np.uint64(3), np.array([3, 3], np.uint64), np.array([3, 3], np.int32)):
        codes = rows.row_codes(index, np.array([0, 1]))
        assert codes.dtype == np.int64 and codes.tolist() == [3 << 32, (3 << 32) | 1]
