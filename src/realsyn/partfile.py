"""The file one map task of a shuffle writes: its rows grouped by partition, and an index.

    <block of partition a><block of partition b>...<index (JSON)><index length (8 bytes)><MAGIC>

A block is the rows of one partition as a whole parquet file, so a reduce task reads its
partition's byte range and nothing else. The index gives each block's offset and length and the
rows' schema (a partition that no map task wrote is an empty table of it). One file per map
task and step: an object store holds and lists map-task files, not map tasks x partitions, and
a reduce reads the index from a file's tail in one request (TAIL_READ bytes; for a small file
that request holds its blocks too).
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass

import pyarrow as pa

MAGIC = b"RSPARTS1"
_LENGTH = struct.Struct("<Q")
TRAILER = _LENGTH.size + len(MAGIC)
TAIL_READ = 64 << 10  # bytes a reader asks for first: the index of up to ~3,000 partitions


class NotAPartFile(ValueError):
    """A file where a shuffle file was expected does not end in one's trailer."""


@dataclass(frozen=True)
class PartIndex:
    schema: pa.Schema
    blocks: dict[int, tuple[int, int]]  # partition -> (offset, length) in the file
    tail: bytes  # the file's last bytes as read, from offset tail_start on
    tail_start: int

    def cached_block(self, partition: int) -> bytes | None:
        """The block of `partition` when the tail read already holds all of it."""
        offset, length = self.blocks[partition]
        start = offset - self.tail_start
        return self.tail[start:start + length] if start >= 0 else None


def pack(blocks: list[tuple[int, bytes]], schema: pa.Schema) -> bytes:
    """The file of `blocks` ((partition, parquet bytes), in partition order)."""
    index, offset = [], 0
    for partition, block in blocks:
        index.append([partition, offset, len(block)])
        offset += len(block)
    meta = json.dumps({"blocks": index, "data_bytes": offset,
                       "schema": base64.b64encode(schema.serialize().to_pybytes()).decode()},
                      separators=(",", ":")).encode()
    return b"".join([*(block for _, block in blocks), meta, _LENGTH.pack(len(meta)), MAGIC])


def read_index(tail: bytes, name: str) -> PartIndex | int:
    """The index from the last bytes of a file (`tail`), or, when `tail` is too short to hold
    it, how many last bytes it needs. `name` is for errors."""
    if len(tail) < TRAILER or tail[-len(MAGIC):] != MAGIC:
        raise NotAPartFile(f"{name} is not a shuffle file (no {MAGIC.decode()} trailer)")
    (meta_length,) = _LENGTH.unpack(tail[-TRAILER:-len(MAGIC)])
    if len(tail) < meta_length + TRAILER:
        return meta_length + TRAILER
    meta = json.loads(tail[len(tail) - TRAILER - meta_length:len(tail) - TRAILER])
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(meta["schema"])))
    blocks = {partition: (offset, length) for partition, offset, length in meta["blocks"]}
    tail_start = meta["data_bytes"] - (len(tail) - TRAILER - meta_length)
    return PartIndex(schema, blocks, tail, tail_start)
