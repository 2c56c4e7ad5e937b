"""The release parquet (RealSyn's published format) and the extended parquet.

- release: exactly `raw_image_url, text1, text2, text3, syn_text`, as the RealSyn datasets were
  published, so that tools written for them read ours.
- extended: every score and id of the balanced rows plus where each sample sits in the shards
  (`key`, `shard`), the written image size and its sha256, and `raw_image_url` with
  `raw_image_url_is_local`; image bytes are left out.

`raw_image_url` is the image's public URL as its document gave it (resolved against the page's
URL at ingest, see realsyn.ingest.raw_urls); only where the document named no URL does it fall
back to the image's location (a local path), and `raw_image_url_is_local` says so.
"""

from __future__ import annotations

import io
import json
import posixpath
import uuid
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from realsyn.ingest.raw_urls import RAW_URL_KEY, http_url

RELEASE_SCHEMA = pa.schema([
    ("raw_image_url", pa.string()),
    ("text1", pa.string()),
    ("text2", pa.string()),
    ("text3", pa.string()),
    ("syn_text", pa.string()),
])
# Columns never copied into the extended parquet (pixels live in the tar shards).
EXCLUDED_COLUMNS = {"bytes", "image_bytes"}


def release_url(location: str | None, meta: str | dict[str, Any] | None
                ) -> tuple[str | None, bool]:
    """(raw_image_url, is_local) of an image from its location and its metadata (JSON)."""
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            meta = None
    raw = meta.get(RAW_URL_KEY) if isinstance(meta, dict) else None
    if http_url(raw):
        return raw, False
    if http_url(location):
        return location, False
    return location, True


def release_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows carry `raw_image_url` (release_url's answer), never a bare location."""
    return pa.Table.from_pylist([
        {"raw_image_url": row.get("raw_image_url"), "text1": row.get("text1"),
         "text2": row.get("text2"), "text3": row.get("text3"), "syn_text": row.get("syn_text")}
        for row in rows
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
