"""A corpus of hostile input files, generated (never committed as binaries).

Each builder returns the bytes of one file that once hurt a reader: lying WARC lengths, a
PDF whose image would decode to gigabytes, a PDF without pages, URL lists with malformed
URLs, rows with invalid UTF-8 or absurd sizes, pages with pathological markup or charsets.
`write_corpus(folder)` writes them all beside a few good documents, and returns what the
ingest of that folder must count; run `python tests/hostile_corpus.py FOLDER` to get the files.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

GOOD_SENTENCE = "A brown dog sleeps beside the red door of the farm."


def _jpeg(size: tuple[int, int] = (160, 120)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(buffer, "JPEG")
    return buffer.getvalue()


# ---------------------------------------------------------------- PDF
def pdf_bytes(objects: list[bytes]) -> bytes:
    """A PDF from its numbered objects (1 = the catalog), with a correct xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
            .encode())
    return bytes(out)


def _stream(dictionary: str, data: bytes) -> bytes:
    return f"<< {dictionary} /Length {len(data)} >>\nstream\n".encode() + data + \
        b"\nendstream"


def giant_image_pdf(side: int = 30000) -> bytes:
    """One page: a line of text, a small good image and a side x side Flate image whose
    stream is tiny (a decoder would still allocate side * side pixels)."""
    small = Image.effect_noise((120, 120), 60).convert("L")
    content = (b"BT /F1 12 Tf 40 760 Td (" + GOOD_SENTENCE.encode() + b") Tj ET\n"
               b"q 120 0 0 120 40 600 cm /Small Do Q\nq 200 0 0 200 40 300 cm /Giant Do Q\n")
    return pdf_bytes([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> /XObject << /Small 6 0 R /Giant 7 0 R >> >> >>",
        _stream("", content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        _stream("/Type /XObject /Subtype /Image /Width 120 /Height 120 /ColorSpace "
                "/DeviceGray /BitsPerComponent 8 /Filter /FlateDecode",
                zlib.compress(small.tobytes())),
        _stream(f"/Type /XObject /Subtype /Image /Width {side} /Height {side} /ColorSpace "
                "/DeviceGray /BitsPerComponent 8 /Filter /FlateDecode",
                zlib.compress(b"\0" * 65536)),
    ])


def empty_pdf() -> bytes:
    return pdf_bytes([b"<< /Type /Catalog /Pages 2 0 R >>",
                      b"<< /Type /Pages /Kids [] /Count 0 >>"])


# ---------------------------------------------------------------- WARC
def _warc_record(uri: str, content_type: str, payload: bytes, declared: int | None = None
                 ) -> bytes:
    http = (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload
    length = len(http) if declared is None else declared
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {uri}\r\n"
            f"WARC-Record-ID: <urn:uuid:{abs(hash(uri)) % 10**12:012d}>\r\n"
            f"Content-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()
    return head + http + b"\r\n\r\n"


def lying_warc() -> bytes:
    """A page whose declared length swallows the photo after it, then a good page."""
    first = b"<html><body><p>This page lies about its length.</p></body></html>"
    photo = _jpeg()
    real = len(_warc_record("u", "text/html", first)) - len(b"\r\n\r\n")
    return (_warc_record("https://site.test/liar.html", "text/html", first,
                         declared=real + 500)
            + _warc_record("https://site.test/photo.jpg", "image/jpeg", photo)
            + _warc_record("https://site.test/good.html", "text/html",
                           f"<html><body><p>{GOOD_SENTENCE}</p></body></html>".encode()))


# ---------------------------------------------------------------- rows and lists
def url_list() -> bytes:
    return (b"http://[::1\nhttps://images.test/ok.png\tA good caption of a red barn.\n"
            b"http://exa mple.com:99999999/x.png\nhttp://%zz/\n")


def invalid_utf8_parquet() -> bytes:
    """Three rows in one row group; the middle one holds bytes that are not UTF-8 in a string
    column (written as binary, then relabelled as string)."""
    texts = [[GOOD_SENTENCE.encode()], [b"\xff\xfe broken \xc3"], [b"Another fine row."]]
    table = pa.table({"texts": pa.array(texts, pa.list_(pa.binary())),
                      "images": pa.array([[None]] * 3, pa.list_(pa.string()))})
    relabelled = pa.table({"texts": pa.chunked_array(
        [chunk.view(pa.list_(pa.string())) for chunk in table["texts"].chunks]),
        "images": table["images"]})
    buffer = io.BytesIO()
    pq.write_table(relabelled, buffer)
    return buffer.getvalue()


def huge_row_parquet(chars: int = 60_000_000) -> bytes:
    """A row whose one text is `chars` long (compresses to almost nothing) between good rows."""
    texts = [[GOOD_SENTENCE], ["x" * chars], ["Another fine row."]]
    buffer = io.BytesIO()
    pq.write_table(pa.table({"texts": texts, "images": [[None]] * 3}), buffer,
                   compression="zstd")
    return buffer.getvalue()


def hostile_jsonl() -> bytes:
    lines = [json.dumps({"texts": [GOOD_SENTENCE], "images": [None]}),
             "[" * 100_000 + "]" * 100_000,  # nesting deeper than the recursion limit
             json.dumps({"texts": ["Its image is", None],
                         "images": [None, {"bytes": "text, not bytes"}]}),
             json.dumps({"texts": [None, "x"], "images": [None]}),  # misaligned lists
             json.dumps({"texts": ["Another fine row."], "images": [None]})]
    return gzip.compress(("\n".join(lines) + "\n").encode())


# ---------------------------------------------------------------- pages
def punycode_page() -> bytes:
    return (b"<html><head><meta charset='punycode'></head><body><p>"
            + GOOD_SENTENCE.encode() + b"</p>" + b"a-" * 200_000 + b"</body></html>")


def quadratic_page(count: int = 50_000) -> bytes:
    return b"<html><body><p>" + GOOD_SENTENCE.encode() + b"</p>" + b"<a" * count + \
        b"</body></html>"


def text_node_page(mib: int = 18) -> bytes:
    """One text node of `mib` MiB of short words (the reader held a list of every word: 2.6 GB
    for 45 MiB); its text is over max_text_chars and dropped."""
    return b"<html><body><p>" + b"word " * (mib * 2**20 // 5) + b"</p></body></html>"


def bad_sources_page() -> bytes:
    return (b"<html><body><p>" + GOOD_SENTENCE.encode() + b"</p><img src='http://[::1'>"
            b"<img src='photo.jpg' alt='kept'></body></html>")


# ---------------------------------------------------------------- the corpus
def write_corpus(folder: Path) -> dict[str, int]:
    """Write the hostile files (and a good page and photo) into `folder`; returns counters
    the ingest of that folder must reach at least."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "giant-image.pdf": giant_image_pdf(), "empty.pdf": empty_pdf(),
        "liar.warc": lying_warc(), "images.urls": url_list(),
        "invalid-utf8.parquet": invalid_utf8_parquet(), "huge-row.parquet": huge_row_parquet(),
        "rows.jsonl.gz": hostile_jsonl(), "punycode.html": punycode_page(),
        "quadratic.html": quadratic_page(), "bad-sources.html": bad_sources_page(),
        "text-node.html": text_node_page(),
        "photo.jpg": _jpeg((200, 200)),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {"items_dropped_pdf_image_too_many_pixels": 1, "files_failed_empty_pdf": 1,
            "records_dropped_warc_length_mismatch": 1, "rows_dropped_invalid_url": 3,
            "rows_dropped_undecodable": 1, "rows_dropped_too_large": 1,
            "rows_dropped_invalid_json": 1, "items_dropped_unusable_image_entry": 1,
            "rows_dropped_misaligned_lists": 1, "pages_charset_refused": 1,
            "items_dropped_invalid_image": 1, "texts_dropped_too_long": 1}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/hostile_corpus.py FOLDER")
    for key, value in sorted(write_corpus(Path(sys.argv[1])).items()):
        print(f"{key}: {value}")
