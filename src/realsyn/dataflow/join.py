"""A hash join by key over shards, one partition at a time: each side's shards send their rows
to the partition of a stable hash of the key (`send`), so a partition task holds only its keys
and joins them alone (`join_first`)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from realsyn.partitioning import hash_partitions
from realsyn.workspace import Workspace


def send(workspace: Workspace, folder: str, shard: str, table: pa.Table, key: str,
         partitions: int) -> None:
    """One shard's rows of a join side, written to the partitions of their keys."""
    workspace.write_partitioned(folder, shard, table, hash_partitions(
        table.column(key).to_pylist(), partitions), partitions)


def join_first(left: pa.Table, right: pa.Table, key: str, order: list[str]) -> pa.Table:
    """Each `left` row with the first `right` row of its key in `order` (columns sorted
    lexicographically, first column first): an inner join where a key repeated on the right
    matches once. The key column is dropped."""
    right = right.take(pa.array(np.lexsort([np.asarray(right.column(name))
                                            for name in reversed(order)])))
    _, first = np.unique(right.column(key).to_numpy(zero_copy_only=False), return_index=True)
    right = right.take(pa.array(np.sort(first)))
    return left.join(right, key, join_type="inner").drop_columns([key])
