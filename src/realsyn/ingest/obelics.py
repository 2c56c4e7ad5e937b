"""OBELICS / MINT-1T layout: one row per document with aligned `texts` and `images` lists.

Position i of a row is a text (texts[i] set) or an image (images[i] set), never both; the
optional `metadata` JSON list is aligned with the positions (per-image alt text, source URL,
...), `general_metadata` is a JSON object about the document, `url` its address. Image entries
are URLs, paths relative to the file's folder, or inline bytes (a Hugging Face Image struct
{bytes, path}). Rows come from parquet (read row group by row group), jsonl (line by line,
optionally compressed) or a folder saved by `datasets.save_to_disk` (Arrow stream files).

Every row stands alone: a row that cannot be converted (invalid UTF-8 in a string column),
whose texts add up to more than `max_document_bytes`, or whose values have an unexpected
shape is counted with its reason and skipped; the other rows of its batch, row group and file
are kept. Sizes are measured on the Arrow arrays before any row becomes Python objects.
"""

from __future__ import annotations

import json
import posixpath
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from realsyn.ingest.raw_urls import RAW_URL_KEY, obelics_raw_url
from realsyn.ingest.sources import (
    WorkUnit,
    bounded_lines,
    filesystem,
    seek_decompressed,
    skip_rest_of_line,
)
from realsyn.records import image_item, make_document, text_item

COLUMNS = ("texts", "images", "metadata", "general_metadata", "url")
BATCH_ROWS = 64


def _json_value(value: Any, stats: Counter[str], reason: str) -> Any:
    if value is None or isinstance(value, dict | list):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        stats[reason] += 1
        return None


def _image_location(entry: str, relpath: str) -> str:
    """URLs and absolute paths as given; relative paths re-rooted from the file's folder to
    the input root, so that they stay valid wherever the row's file sits under the root."""
    try:
        absolute = bool(urlsplit(entry).scheme)
    except ValueError:  # no URL parser accepts it: kept as is, its image gets invalid_url
        return entry
    if absolute or entry.startswith("/"):
        return entry
    return posixpath.normpath(posixpath.join(posixpath.dirname(relpath), entry))


def row_document(row: dict[str, Any], relpath: str, locator: str, stats: Counter[str]
                 ) -> dict[str, Any] | None:
    """A document from one row; None (counted) when the row is malformed."""
    texts, images = row.get("texts"), row.get("images")
    if not isinstance(texts, list) or not isinstance(images, list):
        stats["rows_dropped_missing_lists"] += 1
        return None
    if len(texts) != len(images):
        stats["rows_dropped_misaligned_lists"] += 1
        return None
    item_meta = _json_value(row.get("metadata"), stats, "rows_invalid_metadata_json")
    if not isinstance(item_meta, list) or len(item_meta) != len(texts):
        item_meta = [None] * len(texts)
    general = _json_value(row.get("general_metadata"), stats,
                          "rows_invalid_general_metadata_json")
    general = general if isinstance(general, dict) else {}
    url = row.get("url") if isinstance(row.get("url"), str) else general.get("url")
    url = url if isinstance(url, str) else None
    items = []
    for text, image, meta in zip(texts, images, item_meta, strict=True):
        if (text is None) == (image is None):
            stats["items_dropped_not_exactly_one_of_text_image"] += 1
        elif text is not None:
            if isinstance(text, str):
                items.append(text_item(text))
            else:
                stats["items_dropped_text_not_a_string"] += 1
        else:
            item = _image(image, relpath, meta if isinstance(meta, dict) else {}, url)
            if item is None:
                stats["items_dropped_unusable_image_entry"] += 1
            else:
                items.append(item)
    return make_document(f"{relpath}#{locator}", url, items, general)


def safe_row_document(row: dict[str, Any], relpath: str, locator: str, stats: Counter[str]
                      ) -> dict[str, Any] | None:
    """row_document, with any failure on an unforeseen shape losing this row only."""
    try:
        return row_document(row, relpath, locator, stats)
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError):
        stats["rows_dropped_malformed"] += 1
        return None


def _text_sizes(batch: pa.RecordBatch) -> np.ndarray | None:
    """Bytes of text per row of a batch, from the Arrow arrays (None: not a list of strings)."""
    texts = batch.column("texts")
    if not (pa.types.is_list(texts.type) or pa.types.is_large_list(texts.type)) or not (
            pa.types.is_string(texts.type.value_type)
            or pa.types.is_large_string(texts.type.value_type)):
        return None
    lengths = pc.fill_null(pc.binary_length(pc.list_flatten(texts)), 0).to_numpy()
    parents = pc.list_parent_indices(texts).to_numpy()
    return np.bincount(parents, weights=lengths, minlength=len(batch))


def batch_rows(batch: pa.RecordBatch, max_row_bytes: int, stats: Counter[str]
               ) -> Iterator[dict[str, Any] | None]:
    """The rows of a batch as Python dicts, one per row; None for a row dropped (counted):
    too large, or not convertible."""
    sizes = _text_sizes(batch)
    if sizes is not None and (sizes > max_row_bytes).any():
        oversized = set(np.flatnonzero(sizes > max_row_bytes).tolist())
    else:
        oversized = set()
    if not oversized:
        try:
            yield from batch.to_pylist()
            return
        except (pa.ArrowException, ValueError):
            pass  # convert row by row to find the bad one(s)
    for index in range(len(batch)):
        if index in oversized:
            stats["rows_dropped_too_large"] += 1
            yield None
            continue
        try:
            row = batch.slice(index, 1).to_pylist()[0]
        except (pa.ArrowException, ValueError):
            stats["rows_dropped_undecodable"] += 1
            row = None
        yield row


def _image(entry: Any, relpath: str, meta: dict[str, Any], page_url: str | None
           ) -> dict[str, Any] | None:
    raw_url = obelics_raw_url(entry, meta, page_url)
    if raw_url:
        meta = {**meta, RAW_URL_KEY: raw_url}
    if isinstance(entry, str):
        return image_item(_image_location(entry, relpath), None, meta) if entry.strip() else None
    if isinstance(entry, bytes | bytearray):
        return image_item(None, bytes(entry), meta)
    if isinstance(entry, dict) and (entry.get("bytes") or entry.get("path")):
        data = entry.get("bytes")
        path = entry.get("path")
        if data is not None and not isinstance(data, bytes | bytearray):
            return None
        location = _image_location(path, relpath) if isinstance(path, str) and not data else None
        if data and isinstance(path, str):
            meta = {**meta, "filename": path}
        return image_item(location, bytes(data) if data else None, meta)
    return None


# ---------------------------------------------------------------- parquet
def read_parquet(unit: WorkUnit, options: Any, stats: Counter[str]) -> Iterator[dict[str, Any]]:
    """Rows [start, stop) of a parquet file, row group by row group: a corrupt row group is
    counted (its rows dropped) and reading goes on with the next one."""
    fs, path = filesystem(unit.file.path)
    with fs.open(path, "rb") as handle:
        try:
            parquet = pq.ParquetFile(handle)
        except (pa.ArrowException, OSError, ValueError):
            stats["files_failed_corrupt_parquet"] += 1
            return
        names = parquet.schema_arrow.names
        if "texts" not in names or "images" not in names:
            stats["files_failed_not_obelics_layout"] += 1
            return
        columns = [name for name in COLUMNS if name in names]
        metadata = parquet.metadata
        stop = metadata.num_rows if unit.stop is None else unit.stop
        first = 0
        for group in range(metadata.num_row_groups):
            rows = metadata.row_group(group).num_rows
            begin, end = max(unit.start, first), min(stop, first + rows)
            if begin < end:
                yield from _read_row_group(parquet, group, first, begin, end, columns,
                                           unit.file.relpath, options.max_document_bytes,
                                           stats)
            first += rows


def _read_row_group(parquet: pq.ParquetFile, group: int, first: int, begin: int, end: int,
                    columns: list[str], relpath: str, max_row_bytes: int, stats: Counter[str]
                    ) -> Iterator[dict[str, Any]]:
    """Rows [begin, end) of one row group; pages that cannot be decoded at all lose the rest
    of their row group (counted), rows that cannot be converted lose themselves only."""
    index = first
    try:
        for batch in parquet.iter_batches(BATCH_ROWS, row_groups=[group], columns=columns):
            skip = max(0, begin - index)
            take = max(0, min(len(batch), end - index) - skip)
            for offset, row in enumerate(batch_rows(batch.slice(skip, take), max_row_bytes,
                                                    stats)):
                stats["records_in"] += 1
                if row is not None:
                    document = safe_row_document(row, relpath, f"row={index + skip + offset}",
                                                 stats)
                    if document is not None:
                        yield document
            index += len(batch)
    except (pa.ArrowException, OSError, ValueError):
        lost = max(0, end - max(index, begin))
        stats["records_in"] += lost
        stats["rows_dropped_corrupt_row_group"] += lost


# ---------------------------------------------------------------- saved Hugging Face datasets
def read_arrow(unit: WorkUnit, options: Any, stats: Counter[str]) -> Iterator[dict[str, Any]]:
    """Rows [start, stop) of one Arrow stream file of a `save_to_disk` folder, batch by batch."""
    fs, path = filesystem(unit.file.path)
    index = 0
    stop = unit.stop
    try:
        with fs.open(path, "rb") as handle:
            reader = pa.ipc.open_stream(handle)
            names = reader.schema.names
            if "texts" not in names or "images" not in names:
                stats["files_failed_not_obelics_layout"] += 1
                return
            columns = [name for name in COLUMNS if name in names]
            for batch in reader:
                if stop is not None and index >= stop:
                    break
                end = index + batch.num_rows
                skip = max(0, unit.start - index)
                take = max(0, min(end, stop if stop is not None else end) - index - skip)
                rows = batch_rows(batch.select(columns).slice(skip, take),
                                  options.max_document_bytes, stats)
                for offset, row in enumerate(rows):
                    stats["records_in"] += 1
                    if row is not None:
                        document = safe_row_document(row, unit.file.relpath,
                                                     f"row={index + skip + offset}", stats)
                        if document is not None:
                            yield document
                index = end
    except (pa.ArrowException, OSError, ValueError):
        stats["files_failed_corrupt_arrow"] += 1


# ---------------------------------------------------------------- jsonl
def read_jsonl(unit: WorkUnit, options: Any, stats: Counter[str]) -> Iterator[dict[str, Any]]:
    """Lines starting in [start, stop) of a jsonl file; offsets of compressed files count
    decompressed bytes (the block's start is reached by decompressing up to it)."""
    fs, path = filesystem(unit.file.path)
    limit = options.max_document_bytes
    with fs.open(path, "rb", compression="infer") as handle:
        offset = 0
        if unit.start:
            # The line holding byte start-1 belongs to the previous block.
            try:
                seek_decompressed(handle, path, unit.start - 1)
                offset = unit.start - 1 + skip_rest_of_line(handle)
            except (OSError, EOFError, ValueError):
                stats["files_truncated"] += 1
                return
        for start, line in bounded_lines(handle, limit, stats, offset, unit.stop):
            if line is None:
                stats["records_in"] += 1
                stats["rows_dropped_too_large"] += 1
                continue
            if not line.strip():
                continue
            stats["records_in"] += 1
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                stats["rows_dropped_invalid_json"] += 1
                continue
            if not isinstance(row, dict):
                stats["rows_dropped_not_an_object"] += 1
                continue
            document = safe_row_document(row, unit.file.relpath, f"byte={start}", stats)
            if document is not None:
                yield document

