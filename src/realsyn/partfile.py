"""The file one map task of a shuffle writes: its rows grouped by partition, with an index.

    MAGIC | partitions P | schema offset | schema length        header, HEADER bytes
    P + 1 offsets (uint64, little-endian)                        block p = [offset p, offset p+1)
    block of partition 0 | block of partition 1 | ...            (an empty partition: no bytes)
    schema of the rows (Arrow IPC)                               (for partitions nobody wrote)

A block is the rows of one partition as a whole parquet file. One file per map task and step:
an object store holds and lists map-task files, not map tasks x partitions. The offset table
is dense, so a reduce task finds its block from two offsets at a known place and reads only
those 16 bytes and its block, however many partitions there are; a first read of HEAD_READ
bytes from the start holds the header, the table of up to ~8,000 partitions and, for a small
file, its blocks too, so a small shuffle costs one request per (map file, reduce task).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

MAGIC = b"RSPARTS2"
_HEADER = struct.Struct("<8sQQQ")
HEADER = _HEADER.size
HEAD_READ = 64 << 10  # bytes a reader asks for first


class NotAPartFile(ValueError):
    """A file where a shuffle file was expected does not start with one's header."""


@dataclass(frozen=True)
class Head:
    """What the first read of a file holds: its header and a prefix of the file."""
    partitions: int
    schema_offset: int
    schema_length: int
    prefix: bytes  # the file's first bytes, as read

    def table_slice(self, first: int, stop: int) -> tuple[int, int]:
        """File offsets of the offset table's entries [first, stop)."""
        return HEADER + 8 * first, HEADER + 8 * stop

    def cached(self, start: int, stop: int) -> bytes | None:
        """Bytes [start, stop) of the file when the first read holds them."""
        return self.prefix[start:stop] if stop <= len(self.prefix) else None


def pack(blocks: list[tuple[int, bytes]], schema: pa.Schema, partitions: int) -> bytes:
    """The file of `blocks` ((partition, parquet bytes), in partition order) of `partitions`."""
    sizes = np.zeros(partitions + 1, dtype=np.int64)
    for partition, block in blocks:
        sizes[partition + 1] = len(block)
    offsets = HEADER + 8 * (partitions + 1) + np.cumsum(sizes)
    schema_bytes = schema.serialize().to_pybytes()
    header = _HEADER.pack(MAGIC, partitions, int(offsets[-1]), len(schema_bytes))
    return b"".join([header, offsets.astype("<u8").tobytes(), *(b for _, b in blocks),
                     schema_bytes])


def read_head(prefix: bytes, name: str) -> Head:
    """The header from a file's first bytes (at least HEADER of them). `name` is for errors."""
    if len(prefix) < HEADER or prefix[:len(MAGIC)] != MAGIC:
        raise NotAPartFile(f"{name} is not a shuffle file (no {MAGIC.decode()} header)")
    _, partitions, schema_offset, schema_length = _HEADER.unpack(prefix[:HEADER])
    return Head(partitions, schema_offset, schema_length, prefix)


def offsets(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype="<u8").astype(np.int64)


def read_schema(raw: bytes) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(raw))
