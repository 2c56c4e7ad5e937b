"""The release parquet (RealSyn's published format) and the extended parquet.

- release: exactly `raw_image_url, text1, text2, text3, syn_text`, as the RealSyn datasets were
  published, so that tools written for them read ours.
- extended: every score and id of the balanced rows plus where each sample sits in the shards
  (`key`, `shard`), the written image size and its sha256; image bytes are left out.
"""

from __future__ import annotations

import io
import posixpath
import uuid
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

RELEASE_SCHEMA = pa.schema([
    ("raw_image_url", pa.string()),
    ("text1", pa.string()),
    ("text2", pa.string()),
    ("text3", pa.string()),
    ("syn_text", pa.string()),
])
# Columns never copied into the extended parquet (pixels live in the tar shards).
EXCLUDED_COLUMNS = {"bytes", "image_bytes"}


def release_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist([
        {"raw_image_url": row.get("url"), "text1": row.get("text1"), "text2": row.get("text2"),
         "text3": row.get("text3"), "syn_text": row.get("syn_text")} for row in rows
    ], schema=RELEASE_SCHEMA)


def extended_table(rows: pa.Table, written: dict[str, Any]) -> pa.Table:
    """`rows` (the balanced columns) without bytes, plus the writer's per-row columns."""
    keep = [name for name in rows.column_names if name not in EXCLUDED_COLUMNS]
    table = rows.select(keep)
    for name, values in written.items():
        table = table.append_column(name, values)
    return table


def write_parquet(table: pa.Table, url: str) -> None:
    """Atomic parquet write to any fsspec URL (temporary name, then rename)."""
    fs, path = fsspec.core.url_to_fs(url)
    folder = posixpath.dirname(path)
    fs.makedirs(folder, exist_ok=True)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    temporary = posixpath.join(folder, f".tmp-{uuid.uuid4().hex}-{posixpath.basename(path)}")
    with fs.open(temporary, "wb") as handle:
        handle.write(buffer.getvalue())
    fs.mv(temporary, path)
