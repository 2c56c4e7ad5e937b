"""WARC record framing, checked: every record's boundaries are verified before its bytes are
trusted, and a damaged record never desynchronises the records after it.

A WARC record is a header block, an empty line, `Content-Length` bytes of content and
CRLF CRLF; the next record (or the end of the file) follows. The declared length is data
from the file, so it is checked: when the CRLF CRLF is not where the length says, or what
follows is not the next record, the record is dropped (`warc_length_mismatch`) and reading
resumes at the next `WARC/1.x` header line found from the start of its content (a length too
long hides the next record inside the content; one too short leaves half a page). A record
cut by the end of the file is `warc_truncated`; a record whose `WARC-Block-Digest` does not
match its content is `warc_digest_mismatch`. `.warc.gz` files are read member by member
(each record is usually its own gzip member, so each gets the raw offset of its member and
can be read again by seeking there); a truncated or corrupt gzip member is counted, and
reading resumes at the next member header.

Memory stays bounded: contents larger than the caller's limit are skipped, not kept.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 1 << 16
MAX_HEADER_BYTES = 1 << 16
RECORD_START = b"WARC/1."
GZIP_MAGIC = b"\x1f\x8b\x08"
TERMINATOR = b"\r\n\r\n"

LENGTH_MISMATCH = "records_dropped_warc_length_mismatch"
TRUNCATED = "records_dropped_warc_truncated"
DIGEST_MISMATCH = "records_dropped_warc_digest_mismatch"
GZIP_TRUNCATED = "warc_gzip_members_truncated"
GZIP_CORRUPT = "warc_gzip_members_corrupt"
GARBAGE = "warc_bytes_skipped_resync"


@dataclass
class RawRecord:
    offset: int | None  # raw file offset to seek to for reading it again (None: cannot)
    position: int  # position in the (decompressed) stream: the record's identity
    headers: dict[str, str]  # WARC headers, names lower-cased
    header_bytes: bytes
    content: bytes | None  # None when longer than the limit (skipped)
    length: int


class _Source:
    """The file's bytes, decompressed member by member for gzip, with a push-back buffer and
    a map from stream positions to the raw offsets where gzip members begin."""

    def __init__(self, handle: BinaryIO, gzipped: bool, stats: Counter[str], start: int = 0):
        self.handle = handle
        self.gzipped = gzipped
        self.stats = stats
        self.buffer = bytearray()
        self.position = 0  # stream position of buffer[0]
        self.raw = start
        self.members: dict[int, int] = {}  # stream position -> raw offset of a member start
        self.inflater: zlib._Decompress | None = None
        self.pending = b""  # raw bytes read but not yet given to the inflater
        self.produced = 0  # stream bytes produced so far
        self.ended = False

    # -------------------------------------------------------------- filling
    def _fill(self) -> bool:
        """Append more stream bytes to the buffer; False at the end of the file."""
        if self.ended:
            return False
        if not self.gzipped:
            data = self.handle.read(CHUNK)
            if not data:
                self.ended = True
                return False
            self.raw += len(data)
            self._append(data)
            return True
        while True:
            if not self.pending:
                self.pending = self.handle.read(CHUNK)
                if not self.pending:
                    if self.inflater is not None:
                        self.stats[GZIP_TRUNCATED] += 1  # a member without its end
                    self.ended = True
                    return False
            if self.inflater is None:
                if not self.pending.startswith(GZIP_MAGIC[: len(self.pending)]):
                    self._skip_to_member()
                    continue
                self.members[self.produced] = self.raw
                self.inflater = zlib.decompressobj(31)
            try:
                data = self.inflater.decompress(self.pending, CHUNK)
            except zlib.error:
                self.stats[GZIP_CORRUPT] += 1
                self.inflater = None
                self._advance_raw(1)  # look for the next member after this header
                self._skip_to_member()
                continue
            # At a member's end CPython leaves a stale `unconsumed_tail` (the same bytes as
            # `unused_data`) when the call was output-limited: the rest is unused_data alone.
            rest = self.inflater.unused_data if self.inflater.eof else \
                self.inflater.unconsumed_tail
            self._advance_raw(len(self.pending) - len(rest))
            if self.inflater.eof:
                self.pending = rest
                self.inflater = None
            else:
                self.pending = self.inflater.unconsumed_tail
            if data:
                self._append(data)
                return True

    def _advance_raw(self, count: int) -> None:
        self.raw += count
        self.pending = self.pending[count:]

    def _skip_to_member(self) -> None:
        """Drop raw bytes up to the next gzip member header (damage between members)."""
        while True:
            found = self.pending.find(GZIP_MAGIC)
            if found >= 0:
                self._advance_raw(found)
                return
            keep = len(GZIP_MAGIC) - 1
            self._advance_raw(max(0, len(self.pending) - keep))
            more = self.handle.read(CHUNK)
            if not more:
                self.raw += len(self.pending)
                self.pending = b""
                return
            self.pending += more

    def _append(self, data: bytes) -> None:
        self.buffer += data
        self.produced += len(data)

    # -------------------------------------------------------------- reading
    def peek(self, count: int) -> bytes:
        while len(self.buffer) < count and self._fill():
            pass
        return bytes(self.buffer[:count])

    def read(self, count: int) -> bytes:
        data = self.peek(count)
        self._consume(len(data))
        return data

    def skip(self, count: int) -> int:
        """Discard up to `count` bytes without keeping them; the number discarded."""
        skipped = 0
        while skipped < count:
            if not self.buffer and not self._fill():
                break
            step = min(count - skipped, len(self.buffer))
            self._consume(step)
            skipped += step
        return skipped

    def readline(self, limit: int) -> bytes:
        while True:
            end = self.buffer.find(b"\n", 0, limit)
            if end >= 0:
                return self.read(end + 1)
            if len(self.buffer) >= limit or not self._fill():
                return self.read(min(limit, len(self.buffer)))

    def _consume(self, count: int) -> None:
        del self.buffer[:count]
        self.position += count

    def resync(self) -> int:
        """Skip to the next line that starts a WARC record (here, or after a line feed); the
        number of bytes skipped."""
        if self.peek(len(RECORD_START)) == RECORD_START:
            return 0
        skipped = 0
        while True:
            found = self.buffer.find(b"\n" + RECORD_START)
            if found >= 0:
                self._consume(found + 1)
                return skipped + found + 1
            keep = len(RECORD_START)
            step = max(0, len(self.buffer) - keep)
            self._consume(step)
            skipped += step
            if not self._fill():
                skipped += len(self.buffer)
                self._consume(len(self.buffer))
                return skipped


def _parse_headers(block: bytes) -> dict[str, str] | None:
    lines = [line.rstrip("\r") for line in block.decode("utf-8", "replace").split("\n")]
    if not lines[0].startswith("WARC/1."):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon:
            return None
        headers.setdefault(name.strip().lower(), value.strip())
    return headers


def _digest_ok(expected: str | None, content: bytes) -> bool:
    """Whether a `sha1:` block digest (base32 or hex) matches; unknown algorithms pass."""
    if not expected or ":" not in expected:
        return True
    algorithm, _, value = expected.partition(":")
    if algorithm.lower() != "sha1":
        return True
    digest = hashlib.sha1(content).digest()
    value = value.strip()
    return value.upper() == base64.b32encode(digest).decode() or value.lower() == digest.hex()


SLACK = 64  # stray blank lines tolerated between a record's end and the next record


def _separator(tail: bytes) -> int | None:
    """Length of the line breaks after a record's content when they end the record: CRLF CRLF
    (or LF LF from lax writers, and stray blank lines), then the next record or the end of the
    file; None when the content's declared length is wrong."""
    rest = tail.lstrip(b"\r\n")
    separator = len(tail) - len(rest)
    if tail[:separator].count(b"\n") < 2:
        return None
    if rest and not rest.startswith(RECORD_START[: len(rest)]):
        return None
    return separator


def read_records(handle: BinaryIO, gzipped: bool, limit: int, stats: Counter[str],
                 start: int = 0, single: bool = False) -> Iterator[RawRecord]:
    """The well-framed records of a file (from raw offset `start`, where the caller has
    seeked); contents above `limit` bytes are skipped (content None). `single`: stop after
    the first record."""
    source = _Source(handle, gzipped, stats, start)
    while True:
        record_position = source.position
        line = source.readline(MAX_HEADER_BYTES)
        if not line:
            return
        if not line.startswith(RECORD_START):
            if line.strip():
                stats[GARBAGE] += len(line) + source.resync()
            continue
        header_lines = [line]
        size = len(line)
        while size < MAX_HEADER_BYTES and line not in (b"\r\n", b"\n", b""):
            line = source.readline(MAX_HEADER_BYTES - size)
            header_lines.append(line)
            size += len(line)
        if not line:
            stats[TRUNCATED] += 1  # the file ends inside a header block
            return
        header_bytes = b"".join(header_lines)
        headers = _parse_headers(header_bytes)
        if headers is None or line.strip() or not headers.get("content-length", "").isdigit():
            stats[GARBAGE] += source.resync()  # no usable header block: find the next one
            continue
        length = int(headers["content-length"])
        if length <= limit:
            window = source.peek(length + len(TERMINATOR) + SLACK)
            if len(window) < length:
                stats[TRUNCATED] += 1  # the file ends inside this record
                return
            separator = _separator(window[length:])
            if separator is None:
                # A lying length: drop the record, look for the next one from its content on.
                stats[LENGTH_MISMATCH] += 1
                stats[GARBAGE] += source.resync()
                continue
            content: bytes | None = source.read(length)
        else:
            content = None
            if source.skip(length) < length:
                stats[TRUNCATED] += 1
                return
            separator = _separator(source.peek(len(TERMINATOR) + SLACK))
            if separator is None:
                stats[LENGTH_MISMATCH] += 1
                stats[GARBAGE] += source.resync()
                continue
        source.read(separator)
        if content is not None and not _digest_ok(headers.get("warc-block-digest"), content):
            stats[DIGEST_MISMATCH] += 1
            continue
        offset = source.members.get(record_position) if gzipped else start + record_position
        yield RawRecord(offset, record_position, headers, header_bytes, content, length)
        if single:
            return
