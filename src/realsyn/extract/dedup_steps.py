"""What the partitioned dedup stages share: global row ids, edge tables, the groups step and
the per-shard filter step.

A record's global id is its packed row code (realsyn.dataflow.rows.row_codes: the index of its
shard in the sorted shard list << 32 | row), so ids sort in dataset order and name their
shard. Pair steps write edge tables; the groups step closes them into components (scipy, over
the edges only) and picks one representative per component by the stage's priority (ties: the
lowest id, i.e. the first in dataset order), writing the dropped ids partitioned by shard; the
filter step then keeps, per shard, the rows not dropped.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa

from realsyn.dataflow.components import edge_components, keep_one_per_group
from realsyn.dataflow.rows import code_rows, code_shards
from realsyn.partitioning import partitions_for
from realsyn.stage import Context

EDGE_SCHEMA = pa.schema([("left", pa.int64()), ("right", pa.int64()),
                         ("left_priority", pa.float64()), ("right_priority", pa.float64()),
                         ("exact", pa.bool_())])
DROPPED_SCHEMA = pa.schema([("row", pa.int64()), ("reason", pa.string())])


def shard_index(ctx: Context, dataset: str, shard: str) -> int:
    return ctx.workspace.shards(dataset).index(shard)


def task_key(kind: str, shard: str) -> str:
    return f"{kind}-{shard}"


def split_task(task: str) -> tuple[str, str]:
    kind, _, shard = task.partition("-")
    return kind, shard


def bucket_partitions(ctx: Context, entries: int, bytes_per_entry: float) -> int:
    """Partitions of a shuffle of `entries` rows: what one task may hold in its budget."""
    budget = ctx.config.executor.task_memory_mb * (1 << 20)
    return partitions_for(entries, bytes_per_entry, budget)


def edge_table(edges: np.ndarray, ids: np.ndarray | None = None,
               priority: np.ndarray | None = None, exact: bool = False) -> pa.Table:
    """An EDGE_SCHEMA table of [m, 2] id pairs, with the priority of each end looked up in
    (`ids`, `priority`) (default 0)."""
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    ends = np.zeros(edges.shape, dtype=np.float64)
    if priority is not None and len(edges):
        order = np.argsort(ids, kind="stable")
        found = order[np.searchsorted(np.asarray(ids)[order], edges)]
        ends = np.asarray(priority, dtype=np.float64)[found]
    return pa.table({"left": edges[:, 0], "right": edges[:, 1],
                     "left_priority": ends[:, 0], "right_priority": ends[:, 1],
                     "exact": np.full(len(edges), exact)}, schema=EDGE_SCHEMA)


def write_edges(ctx: Context, folder: str, task: str, table: pa.Table) -> None:
    """Edges of one pair task, as one partition-0 file (the groups step reads them all)."""
    ctx.workspace.write_partitioned(folder, task, table, np.zeros(table.num_rows, np.int64), 1)


def write_dropped(ctx: Context, edges_folder: str, dropped_folder: str, shards: int,
                  exact_reason: str | None, reason: str) -> None:
    """The groups step: components of every edge, one kept per component, the others written
    as (row, reason) partitioned by their shard index."""
    edges = (ctx.workspace.read_partition(edges_folder, 0)
             if ctx.workspace.partitions(edges_folder) else EDGE_SCHEMA.empty_table())
    left = edges.column("left").to_numpy()
    right = edges.column("right").to_numpy()
    nodes, labels = edge_components(left, right)
    priority = np.zeros(len(nodes))
    for ids, values in ((left, edges.column("left_priority")),
                        (right, edges.column("right_priority"))):
        priority[np.searchsorted(nodes, ids)] = values.to_numpy()
    keep = keep_one_per_group(labels, priority, order_key=nodes)
    dropped = nodes[~keep]
    reasons = np.full(len(dropped), reason, dtype=object)
    if exact_reason is not None:  # the non-first copy of an exact edge is an exact duplicate
        exact = edges.column("exact").to_numpy(zero_copy_only=False)
        reasons[np.isin(dropped, right[exact])] = exact_reason
    table = pa.table({"row": code_rows(dropped), "reason": reasons.tolist()},
                     schema=DROPPED_SCHEMA)
    ctx.workspace.write_partitioned(dropped_folder, "groups", table,
                                    code_shards(dropped), max(1, shards))


def kept_mask(ctx: Context, dropped_folder: str, index: int, rows: int,
              stats: dict[str, Any], prefix: str = "dropped_") -> np.ndarray:
    """The rows of shard `index` that the groups step did not drop; counts drop reasons."""
    keep = np.ones(rows, dtype=bool)
    if index not in ctx.workspace.partitions(dropped_folder):
        return keep
    dropped = ctx.workspace.read_partition(dropped_folder, index)
    keep[dropped.column("row").to_numpy()] = False
    for reason in dropped.column("reason").to_pylist():
        stats[f"{prefix}{reason}"] = stats.get(f"{prefix}{reason}", 0) + 1
    return keep


def write_array_file(ctx: Context, path: str, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    ctx.workspace.write_bytes(path, buffer.getvalue())


def read_array_file(ctx: Context, path: str) -> np.ndarray:
    return np.load(io.BytesIO(ctx.workspace.read_bytes(path)), allow_pickle=False)
