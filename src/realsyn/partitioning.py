"""How many partitions a step's data is split into, and which partition a record goes to.

A task of a partitioned step holds one partition in memory, so the partition count follows
from the data size and the per-task budget (`executor.task_memory_mb`), never the other way
round: a bigger corpus gets more partitions, not bigger tasks.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

import numpy as np

MB = 1 << 20


def partitions_for(rows: int, bytes_per_row: float, memory_budget_bytes: int) -> int:
    """The fewest partitions whose tasks each hold at most `memory_budget_bytes` of rows
    (assuming rows spread evenly over partitions; at least 1)."""
    if memory_budget_bytes <= 0:
        raise ValueError("the memory budget must be positive")
    return max(1, math.ceil(max(0, rows) * max(0.0, bytes_per_row) / memory_budget_bytes))


def stable_hash(key: str, seed: int = 0) -> int:
    """A 64-bit hash of `key` that is the same in every process and run (Python's `hash` of
    a string is salted per process)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8, salt=seed.to_bytes(8, "little"))
    return int.from_bytes(digest.digest(), "little")


def stable_hashes(keys: Iterable[str], seed: int = 0) -> np.ndarray:
    return np.fromiter((stable_hash(key, seed) for key in keys), dtype=np.uint64)


def hash_partitions(keys: Iterable[str], partitions: int, seed: int = 0) -> np.ndarray:
    """The partition (0..partitions-1) of every key, by a stable hash."""
    return (stable_hashes(keys, seed) % np.uint64(partitions)).astype(np.int64)
