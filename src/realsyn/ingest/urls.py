"""Lists of image URLs (img2dataset style): one `URL` or `URL<TAB>text` per line.

Each line becomes a small document: the image, then its text when given. Lines starting with
'#' and blank lines are skipped. Every line stands alone: one that is no URL (the URL gate's
parser refuses it: "http://[::1"), is longer than `max_url_line_bytes` (or
`max_document_bytes`) or cannot be decoded
is counted with its reason, and the lines after it are still read. A long list is read in
units of `ingest.url_lines_per_unit` lines (sources.py); a document's id numbers its line from
the start of the file, so the ids do not depend on the unit size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from realsyn.ingest.sources import WorkUnit, bounded_lines, filesystem, seek_decompressed
from realsyn.ingest.urlgate import INVALID_URL, parse_url
from realsyn.records import image_item, make_document, text_item


def read_urls(unit: WorkUnit, options: Any, stats: Counter[str]) -> Iterator[dict[str, Any]]:
    fs, path = filesystem(unit.file.path)
    # A line is one URL and its caption: far below a document's size (a 1 MB line is hostile).
    limit = min(options.max_document_bytes, options.max_url_line_bytes)
    with fs.open(path, "rb", compression="infer") as handle:
        if unit.start:  # a unit starts at a line's first byte (sources.line_cuts)
            try:
                seek_decompressed(handle, path, unit.start)
            except (OSError, EOFError, ValueError):
                stats["files_truncated"] += 1
                return
        lines = bounded_lines(handle, limit, stats, unit.start, unit.stop)
        for number, (_, raw) in enumerate(lines, start=unit.line):
            if raw is None:
                stats["records_in"] += 1
                stats["rows_dropped_too_large"] += 1
                continue
            line = raw.decode("utf-8", errors="replace").strip()
            if not line or line.startswith("#"):
                continue
            stats["records_in"] += 1
            url, _, text = line.partition("\t")
            url = url.strip()
            if "://" not in url:
                stats["rows_dropped_not_a_url"] += 1
                continue
            if parse_url(url) == INVALID_URL:
                stats["rows_dropped_invalid_url"] += 1
                continue
            items = [image_item(url)]
            if text.strip():
                items.append(text_item(text.strip()))
            yield make_document(f"{unit.file.relpath}#line={number}", url, items)
