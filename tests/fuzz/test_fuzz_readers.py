"""Property-based tests of the readers: whatever the bytes, a reader returns documents or
counted reasons, never an exception, and never text that is not text."""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from realsyn.ingest.html import PageLocation, page_document
from realsyn.ingest.obelics import read_jsonl, safe_row_document
from realsyn.ingest.sources import InputFile, WorkUnit
from realsyn.ingest.warc_framing import read_records

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

TAGS = ["p", "div", "a", "img", "picture", "source", "figure", "figcaption", "base", "meta",
        "script", "nav", "span", "br", "table", "td", "main", "article", "x-y"]
ATTRIBUTES = ["src", "srcset", "href", "class", "alt", "charset", "data-src", "role", "hidden"]
VALUES = st.one_of(st.text(max_size=30), st.sampled_from([
    "http://[::1", "caption", "nav", "punycode", "utf-7", "x.png 2x, y.png 100w", "//h/x.png",
    "javascript:alert(1)", "data:image/png;base64,AAAA", "../../etc/passwd", "http://１２７.０.０.１/"]))


@st.composite
def tag_soup(draw) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            attrs = "".join(f" {draw(st.sampled_from(ATTRIBUTES))}=\"{draw(VALUES)}\""
                            for _ in range(draw(st.integers(0, 3))))
            parts.append(f"<{draw(st.sampled_from(TAGS))}{attrs}>")
        elif kind == 1:
            parts.append(f"</{draw(st.sampled_from(TAGS))}>")
        elif kind == 2:
            parts.append(draw(st.text(max_size=40)))
        else:
            parts.append(draw(st.sampled_from(["<", "<a", "<!--", "&#", "<![CDATA[", ">"])))
    return "".join(parts)


def _check_document(document) -> None:
    if document is None:
        return
    for item in document["items"]:
        if item["kind"] == "text":
            assert isinstance(item["text"], str) and "\x00" not in item["text"]


@FUZZ
@given(tag_soup(), st.sampled_from(["utf-8", "cp1252", "utf-16"]))
def test_html_reader_on_tag_soup(page, encoding):
    stats: Counter = Counter()
    data = page.encode(encoding, errors="replace")
    for location in (PageLocation(path="dir/page.html"), PageLocation(url="https://h.test/a/")):
        _check_document(page_document(data, "page", location, stats))


@FUZZ
@given(st.binary(max_size=2000))
def test_html_reader_on_arbitrary_bytes(data):
    _check_document(page_document(data, "page", PageLocation(path="p.html"), Counter()))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                      children, max_size=4),
    max_leaves=20)
def _rows(binary: bool) -> st.SearchStrategy:
    data = st.binary(max_size=8) if binary else st.nothing()
    return st.fixed_dictionaries({}, optional={
        "texts": st.lists(st.none() | st.text(max_size=30) | JSON_VALUES, max_size=5),
        "images": st.lists(st.none() | st.text(max_size=30) | JSON_VALUES | data
                           | st.fixed_dictionaries({"bytes": JSON_VALUES | data,
                                                    "path": JSON_VALUES}), max_size=5),
        "metadata": JSON_VALUES | st.text(max_size=30),
        "general_metadata": JSON_VALUES | st.text(max_size=30),
        "url": JSON_VALUES})


ROWS = _rows(binary=True)  # as parquet or Arrow rows may hold them
JSON_ROWS = _rows(binary=False)


@FUZZ
@given(ROWS)
def test_obelics_rows_of_any_shape(row):
    stats: Counter = Counter()
    document = safe_row_document(row, "dir/rows.jsonl", "row=0", stats)
    if document is None:
        assert sum(stats.values()) >= 1  # dropped rows are counted
    else:
        assert all(item["kind"] in ("text", "image") for item in document["items"])


class _Options:
    max_document_bytes = 10_000


@settings(FUZZ, max_examples=50)
@given(st.lists(st.one_of(st.binary(max_size=60),
                          JSON_ROWS.map(lambda r: json.dumps(r).encode())), max_size=12),
       st.booleans())
def test_jsonl_reader_counts_every_line(tmp_path_factory, lines, compress):
    lines = [line.replace(b"\n", b" ") for line in lines]
    data = b"\n".join(lines) + b"\n"
    folder = tmp_path_factory.mktemp("jsonl")
    path = folder / ("rows.jsonl.gz" if compress else "rows.jsonl")
    path.write_bytes(gzip.compress(data) if compress else data)
    unit = WorkUnit(InputFile(str(path), str(folder), path.name, "jsonl"))
    stats: Counter = Counter()
    documents = list(read_jsonl(unit, _Options(), stats))
    assert stats["records_in"] == sum(1 for line in lines if line.strip())
    assert len(documents) <= stats["records_in"]


def _warc(pages: list[bytes]) -> bytes:
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=False)
    for number, page in enumerate(pages):
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")],
                                   protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            f"https://h.test/{number}", "response", payload=io.BytesIO(page),
            http_headers=headers))
    return buffer.getvalue()


@FUZZ
@given(st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=5),
       st.lists(st.tuples(st.integers(0, 10_000), st.binary(max_size=4)), max_size=4),
       st.booleans())
def test_warc_framing_never_yields_a_misframed_record(pages, edits, gzipped):
    data = bytearray(_warc(pages))
    for position, replacement in edits:  # overwrite a few bytes anywhere (lengths included)
        position %= len(data)
        data[position:position + len(replacement)] = replacement
    raw = gzip.compress(bytes(data)) if gzipped else bytes(data)
    stats: Counter = Counter()
    for record in read_records(io.BytesIO(raw), gzipped, 1 << 20, stats):
        assert record.content is not None and len(record.content) == record.length
        assert record.header_bytes.startswith(b"WARC/1.")
