"""Inputs that claim or hold more than they may: what a reader allocates stays bounded by its
limits, never by what the input says, and what is dropped is counted with its reason. Each
test fails on a one-word change of the guard it covers (noted at the test)."""

from __future__ import annotations

import gzip
import tracemalloc
from collections import Counter
from pathlib import Path

from hostile_corpus import _warc_record
from realsyn.ingest.warc_framing import TRUNCATED, read_records

from .helpers import run_ingest

CLAIMED = 10**12  # a terabyte, claimed by a record that holds a few megabytes
PEAK_LIMIT = 16 * 2**20  # a few chunks and one record's real bytes, far below any claim


def _claiming(claimed: int, content: bytes) -> bytes:
    return (f"WARC/1.0\r\nWARC-Type: resource\r\nWARC-Target-URI: https://site.test/x\r\n"
            f"Content-Length: {claimed}\r\n\r\n").encode() + content


def _peak_reading(path: Path, gzipped: bool, limit: int) -> tuple[int, Counter[str], list]:
    stats: Counter[str] = Counter()
    tracemalloc.start()
    try:
        with path.open("rb") as handle:
            records = list(read_records(handle, gzipped, limit, stats))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, stats, records


def test_a_warc_record_claiming_a_huge_length_is_not_allocated(tmp_path):
    good = _warc_record("https://site.test/good.html", "text/html", b"<p>fine</p>")
    cases = {
        # Over the limit: skipped in chunks.
        "over_limit.warc": (_claiming(CLAIMED, b"\0" * 3_000_000), False, 50_000_000),
        # Under the limit but the file ends first: only the bytes that exist are held.
        "under_limit.warc": (_claiming(45_000_000, b"x" * 3_000_000), False, 50_000_000),
        # 100 MB of zeros gzip to 400 KB: inflated chunk by chunk (a decompress call without
        # its max_length would inflate all of it at once).
        "bomb.warc.gz": (gzip.compress(_claiming(CLAIMED, b"\0" * 100_000_000), 1), True,
                         50_000_000),
    }
    for name, (data, gzipped, limit) in cases.items():
        path = tmp_path / name
        path.write_bytes((gzip.compress(good) if gzipped else good) + data)
        peak, stats, records = _peak_reading(path, gzipped, limit)
        assert peak < PEAK_LIMIT, (name, peak)
        assert stats[TRUNCATED] == 1, (name, stats)
        assert [record.headers["warc-target-uri"] for record in records] == [
            "https://site.test/good.html"], name


def test_a_one_megabyte_url_list_line_is_dropped_with_its_reason(tmp_path):
    # Guard: the URL reader's line limit (max_url_line_bytes); with max_document_bytes alone
    # the first line becomes a document and its megabyte caption is read into memory.
    caption = "A caption that goes on. " * 43_700  # 1,048,800 bytes
    lines = [f"https://images.test/a.png\t{caption}", "https://" + "a" * 1_048_576 + ".test/",
             "https://images.test/ok.png\tA good caption of a red barn."]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "images.urls").write_text("\n".join(lines) + "\n")
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(folder)}])
    assert stats["rows_dropped_too_large"] == 2
    assert stats["records_in"] == 3 and stats["documents_out"] == 1
    assert workspace.read_dataset("texts")["text"].to_pylist() == [
        "A good caption of a red barn."]
