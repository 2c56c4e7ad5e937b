"""WARC / WARC.gz files (Common Crawl layout): HTML response records become documents.

Two streaming passes over a file: the first notes the offset of every image record (response
or resource) by its target URI, the second parses the HTML records; an image a page refers to
is read from its own record (a seek to the noted offset) when the same file holds it, and is
otherwise left as a URL for the fetcher. A truncated or corrupt file is read up to the damage,
counted, and what came before is kept.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any, BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from realsyn.ingest.html import PageLocation, page_document
from realsyn.ingest.sources import WorkUnit, filesystem
from realsyn.records import ITEM_IMAGE

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
READ_ERRORS = (ArchiveLoadFailed, OSError, EOFError, zlib.error, ValueError, IndexError)


def _content_type(record: Any) -> str:
    headers = record.http_headers if record.rec_type == "response" else None
    value = headers.get_header("Content-Type") if headers is not None else None
    return value or record.rec_headers.get_header("Content-Type") or ""


def _mime(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def _short(record: Any) -> bool:
    """Whether a record's block ended before its declared length (a truncated file: warcio
    then just stops, so the remaining length of its reader is the only sign)."""
    return getattr(record.raw_stream, "limit", 0) > 0


def _records(handle: BinaryIO, stats: Counter[str]) -> Iterator[tuple[int, Any]]:
    """(offset, record) for the response and resource records of a file, stopping (counted)
    at the first damage."""
    iterator = ArchiveIterator(handle, check_digests=False)
    record = None
    try:
        for record in iterator:
            if record.rec_type in ("response", "resource"):
                # The start of the current record; get_record_offset() would consume it.
                yield iterator.offset, record
        if record is not None:
            iterator.read_to_end(record)
            if _short(record):
                stats["files_truncated_or_corrupt"] += 1
    except READ_ERRORS:
        stats["files_truncated_or_corrupt"] += 1


def image_index(fs: Any, path: str) -> dict[str, int]:
    """Target URI -> record offset of the image records of a WARC file (first one wins)."""
    index: dict[str, int] = {}
    with fs.open(path, "rb") as handle:
        for offset, record in _records(handle, Counter()):
            if _mime(_content_type(record)).startswith("image/"):
                uri = record.rec_headers.get_header("WARC-Target-URI")
                if uri and uri not in index:
                    index[uri] = offset
    return index


def read_record_payload(handle: BinaryIO, offset: int, limit: int) -> bytes | None:
    """Payload of the record at `offset` (at most limit + 1 bytes); None if unreadable."""
    try:
        handle.seek(offset)
        record = next(iter(ArchiveIterator(handle, check_digests=False)))
        if record.rec_type == "response" and record.http_headers is not None and \
                record.http_headers.get_statuscode() != "200":
            return None
        payload = record.content_stream().read(limit + 1)
        if len(payload) <= limit and _short(record):
            return None  # cut short by the end of a truncated file
        return payload
    except (*READ_ERRORS, StopIteration):
        return None


def read_warc(unit: WorkUnit, options: Any, stats: Counter[str]) -> Iterator[dict[str, Any]]:
    fs, path = filesystem(unit.file.path)
    try:
        index = image_index(fs, path)
    except OSError:
        stats["files_failed_unreadable"] += 1
        return
    limit = options.max_document_bytes
    with fs.open(path, "rb") as handle, fs.open(path, "rb") as images:
        for offset, record in _records(handle, stats):
            content_type = _content_type(record)
            if _mime(content_type) not in HTML_TYPES:
                continue
            uri = record.rec_headers.get_header("WARC-Target-URI")
            stats["records_in"] += 1
            if record.rec_type == "response" and record.http_headers is not None and \
                    record.http_headers.get_statuscode() != "200":
                stats["records_dropped_http_status"] += 1
                continue
            try:
                data = record.content_stream().read(limit + 1)
            except READ_ERRORS:
                stats["files_truncated_or_corrupt"] += 1
                return
            if len(data) <= limit and _short(record):
                stats["records_dropped_truncated"] += 1
                continue
            if not data:
                stats["records_dropped_empty"] += 1
                continue
            if len(data) > limit:
                stats["records_dropped_too_large"] += 1
                continue
            extra = {"warc_date": record.rec_headers.get_header("WARC-Date"),
                     "warc_record_id": record.rec_headers.get_header("WARC-Record-ID")}
            document = page_document(data, f"{unit.file.relpath}#offset={offset}",
                                     PageLocation(url=uri), stats, _charset(content_type),
                                     {k: v for k, v in extra.items() if v})
            for item in document["items"]:
                if item["kind"] == ITEM_IMAGE and item["image_url"] in index:
                    payload = read_record_payload(images, index[item["image_url"]],
                                                  options.max_image_bytes)
                    if payload:
                        item["image_bytes"] = payload
                        stats["images_from_warc"] += 1
            yield document
