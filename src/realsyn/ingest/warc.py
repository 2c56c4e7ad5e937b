"""WARC / WARC.gz files (Common Crawl layout): HTML response records become documents.

Records come from warc_framing.py, which checks every record's boundaries (and digest) before
its bytes are used, so a record with a lying length or a truncated file loses that record
only, counted, never the next page, and never lets an image's bytes be read as a page. warcio
then parses each well-framed record (HTTP headers, chunked and compressed payloads).

Two passes over a file: the first notes the raw offset of every image record (response or
resource) by its target URI, the second parses the HTML records; an image a page refers to
is read from its own record (a seek to the noted offset) when the same file holds it, and is
otherwise left as a URL for the fetcher.
"""

from __future__ import annotations

import io
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any, BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from realsyn.ingest.html import PageLocation, page_document
from realsyn.ingest.sources import WorkUnit, filesystem
from realsyn.ingest.warc_framing import RawRecord, read_records
from realsyn.records import ITEM_IMAGE

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
PAYLOAD_TYPES = frozenset({"response", "resource"})
PARSE_ERRORS = (ArchiveLoadFailed, OSError, EOFError, zlib.error, ValueError, IndexError,
                StopIteration)


def _gzipped(path: str) -> bool:
    return path.lower().endswith(".gz")


def _mime(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def _parsed(raw: RawRecord) -> Any:
    """warcio's view of one well-framed record (its content read in full)."""
    data = raw.header_bytes + (raw.content or b"") + b"\r\n\r\n"
    return next(iter(ArchiveIterator(io.BytesIO(data), check_digests=False)))


def _content_type(record: Any) -> str:
    headers = record.http_headers if record.rec_type == "response" else None
    value = headers.get_header("Content-Type") if headers is not None else None
    return value or record.rec_headers.get_header("Content-Type") or ""


def _status_ok(record: Any) -> bool:
    return not (record.rec_type == "response" and record.http_headers is not None
                and record.http_headers.get_statuscode() != "200")


def image_index(fs: Any, path: str, limit: int) -> dict[str, int]:
    """Target URI -> raw offset of the image records of a WARC file (first one wins)."""
    index: dict[str, int] = {}
    with fs.open(path, "rb") as handle:
        for raw in read_records(handle, _gzipped(path), limit, Counter()):
            uri = raw.headers.get("warc-target-uri")
            if raw.headers.get("warc-type") not in PAYLOAD_TYPES or raw.content is None or \
                    raw.offset is None or not uri or uri in index:
                continue
            try:
                record = _parsed(raw)
            except PARSE_ERRORS:
                continue
            if _mime(_content_type(record)).startswith("image/"):
                index[uri] = raw.offset
    return index


def read_record_payload(handle: BinaryIO, path: str, offset: int, limit: int
                        ) -> bytes | None:
    """Payload of the record at raw `offset` (at most limit + 1 bytes); None if unusable."""
    try:
        handle.seek(offset)
        raw = next(read_records(handle, _gzipped(path), 2 * limit + (1 << 16), Counter(),
                                start=offset, single=True), None)
        if raw is None or raw.content is None:
            return None
        record = _parsed(raw)
        if not _status_ok(record):
            return None
        return record.content_stream().read(limit + 1)
    except PARSE_ERRORS:
        return None


def read_warc(unit: WorkUnit, options: Any, stats: Counter[str]) -> Iterator[dict[str, Any]]:
    fs, path = filesystem(unit.file.path)
    limit = options.max_document_bytes
    try:
        index = image_index(fs, path, limit)
    except OSError:
        stats["files_failed_unreadable"] += 1
        return
    with fs.open(path, "rb") as handle, fs.open(path, "rb") as images:
        framing: Counter[str] = Counter()
        try:
            for raw in read_records(handle, _gzipped(path), limit, framing):
                document = _page(raw, unit, options, stats)
                if document is None:
                    continue
                for item in document["items"]:
                    if item["kind"] == ITEM_IMAGE and item["image_url"] in index:
                        payload = read_record_payload(images, path, index[item["image_url"]],
                                                      options.max_image_bytes)
                        if payload:
                            item["image_bytes"] = payload
                            stats["images_from_warc"] += 1
                yield document
        except OSError:
            stats["files_truncated_or_corrupt"] += 1
        stats.update(framing)
        if any(key in framing for key in ("records_dropped_warc_truncated",
                                          "warc_gzip_members_truncated",
                                          "warc_gzip_members_corrupt")):
            stats["files_truncated_or_corrupt"] += 1


def _page(raw: RawRecord, unit: WorkUnit, options: Any, stats: Counter[str]
          ) -> dict[str, Any] | None:
    """The document of one HTML record; None (counted) for other records and bad ones."""
    if raw.headers.get("warc-type") not in PAYLOAD_TYPES:
        return None
    if raw.content is None:
        content_type = raw.headers.get("content-type", "")
        if "html" in content_type or "http" in content_type:
            stats["records_in"] += 1
            stats["records_dropped_too_large"] += 1
        return None
    try:
        record = _parsed(raw)
        content_type = _content_type(record)
        if _mime(content_type) not in HTML_TYPES:
            return None
        stats["records_in"] += 1
        if not _status_ok(record):
            stats["records_dropped_http_status"] += 1
            return None
        data = record.content_stream().read(options.max_document_bytes + 1)
    except PARSE_ERRORS:
        stats["records_in"] += 1
        stats["records_dropped_unparsable"] += 1
        return None
    if not data:
        stats["records_dropped_empty"] += 1
        return None
    if len(data) > options.max_document_bytes:
        stats["records_dropped_too_large"] += 1
        return None
    headers = raw.headers
    extra = {"warc_date": headers.get("warc-date"),
             "warc_record_id": headers.get("warc-record-id")}
    # Raw offsets can be seeked to (plain files, and .warc.gz records that start a member);
    # a record inside a larger gzip member is named by its decompressed position.
    source = f"offset={raw.offset}" if raw.offset is not None else f"position={raw.position}"
    return page_document(data, f"{unit.file.relpath}#{source}",
                         PageLocation(url=headers.get("warc-target-uri")), stats,
                         _charset(content_type), {k: v for k, v in extra.items() if v})
