"""How many partitions a step's data is split into, and which partition a record goes to.

A task of a partitioned step holds one partition in memory, so the partition count follows
from the data size and the per-task budget (`executor.task_memory_mb`), never the other way
round: a bigger corpus gets more partitions, not bigger tasks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from realsyn.dataflow.digest import stable_hashes

MB = 1 << 20


def partitions_for(rows: int, bytes_per_row: float, memory_budget_bytes: int) -> int:
    """The fewest partitions whose tasks each hold at most `memory_budget_bytes` of rows
    (assuming rows spread evenly over partitions; at least 1)."""
    if memory_budget_bytes <= 0:
        raise ValueError("the memory budget must be positive")
    return max(1, math.ceil(max(0, rows) * max(0.0, bytes_per_row) / memory_budget_bytes))


def hash_partitions(keys: Iterable[str], partitions: int, seed: int = 0) -> np.ndarray:
    """The partition (0..partitions-1) of every key, by a stable hash."""
    return (stable_hashes(keys, seed) % np.uint64(partitions)).astype(np.int64)
