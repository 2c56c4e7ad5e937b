"""Rows of embedding arrays: which are usable, whether a dataset's records and its array rows
line up, and global row codes over a dataset's shards: packed (shard index, row) codes that
any task computes alone, or offsets (rows numbered 0..n-1 over the shards in order) where
the row counts are known."""

from __future__ import annotations

from typing import Any

import numpy as np

from realsyn.workspace import Workspace

# Rows converted to float32 at a time when streaming memory-mapped float16 embeddings.
CHUNK_ROWS = 65_536
# Bits of a packed row code that hold the row in its shard (row_codes).
SHARD_SHIFT = 32


def usable_rows(block: np.ndarray) -> np.ndarray:
    """Mask of rows usable as embeddings: finite and not (near) zero (embed writes a zero row
    for an image it could not decode or a null text)."""
    mask = np.empty(len(block), dtype=bool)
    for start in range(0, len(block), CHUNK_ROWS):
        chunk = np.asarray(block[start:start + CHUNK_ROWS], dtype=np.float32)
        finite = np.isfinite(chunk).all(axis=1)
        norms = np.linalg.norm(np.where(finite[:, None], chunk, 0), axis=1)
        mask[start:start + len(chunk)] = finite & (norms > 1e-3)
    return mask


def aligned_shards(workspace: Workspace, name: str) -> list[str]:
    """Shard keys of a dataset whose array shards must be row-aligned with its records."""
    shards = workspace.shards(name)
    if shards != workspace.array_shards(name):
        raise ValueError(f"dataset {name!r} and its embeddings have different shards: "
                         f"{shards} vs {workspace.array_shards(name)}")
    return shards


def check_rows(name: str, shard: str, records: int, embedded: int) -> int:
    """`records`, once it is known to equal the shard's embedding rows."""
    if records != embedded:
        raise ValueError(f"{name}/{shard}: {records} records but {embedded} embedding rows")
    return records


def aligned_rows(workspace: Workspace, name: str, shard: str) -> int:
    """Rows of a shard whose records and embedding rows must agree."""
    return check_rows(name, shard, workspace.shard_rows(name, shard),
                      len(workspace.read_array(name, shard)))


def row_codes(shard_index: int | np.ndarray, rows: int | np.ndarray) -> np.ndarray:
    """Packed global row codes (shard index << 32 | row): they sort in dataset order (shard
    order, then row order) and name their shard, without knowing the other shards' sizes.
    `rows`: a count (the shard's rows 0..rows-1) or an array of rows."""
    rows = np.arange(rows, dtype=np.int64) if np.ndim(rows) == 0 else np.asarray(rows, np.int64)
    return (np.asarray(shard_index, np.int64) << SHARD_SHIFT) | rows


def code_shards(codes: np.ndarray) -> np.ndarray:
    return np.asarray(codes, np.int64) >> SHARD_SHIFT


def code_rows(codes: np.ndarray) -> np.ndarray:
    return np.asarray(codes, np.int64) & ((1 << SHARD_SHIFT) - 1)


def offsets(counts: list[int]) -> np.ndarray:
    """Global row code of each shard's first row (and the total last): shard i owns global
    rows offsets[i]:offsets[i + 1]."""
    return np.cumsum([0, *counts]).astype(np.int64)


def shard_offsets(shards: list[str], counts: list[int]) -> dict[str, Any]:
    """{shard: its first global row}, for a JSON plan (keeps the shard order)."""
    return dict(zip(shards, offsets(counts).tolist(), strict=False))


def locate(bounds: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(shard index, row in the shard) of global rows, from `offsets`."""
    shard = np.searchsorted(bounds, rows, side="right") - 1
    return shard, rows - bounds[shard]
