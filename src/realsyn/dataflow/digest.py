"""Stable 64-bit blake2b hashes: the same in every process and run (Python's `hash` of a string
is salted per process), so any task can compute a record id, partition, rank key or document
key alone."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def stable_hash(key: str, seed: int = 0) -> int:
    """An unsigned 64-bit blake2b hash of `key`, salted by `seed` (seed 0 is no salt)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8, salt=seed.to_bytes(8, "little"))
    return int.from_bytes(digest.digest(), "little")


def stable_hashes(keys: Iterable[str], seed: int = 0) -> np.ndarray:
    return np.fromiter((stable_hash(key, seed) for key in keys), dtype=np.uint64)


def signed_hashes(keys: Sequence[str | None]) -> np.ndarray:
    """`stable_hash` of str(key) as signed int64 (document keys in int64 columns; None hashes
    as "None")."""
    return stable_hashes(str(key) for key in keys).astype(np.int64)


def stable_id(*parts: Any) -> str:
    """A 16-hex-digit id from the given parts (strings, ints, bytes or None)."""
    digest = hashlib.blake2b(digest_size=8)
    for part in parts:
        if isinstance(part, bytes):
            data = part
        elif part is None:
            data = b"\x00none"
        else:
            data = str(part).encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()
