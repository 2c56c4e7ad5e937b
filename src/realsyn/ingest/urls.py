"""Lists of image URLs (img2dataset style): one `URL` or `URL<TAB>text` per line.

Each line becomes a small document: the image, then its text when given. Lines starting with
'#' and blank lines are skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from realsyn.ingest.sources import WorkUnit, filesystem
from realsyn.records import image_item, make_document, text_item


def read_urls(unit: WorkUnit, options: Any, stats: Counter[str]) -> Iterator[dict[str, Any]]:
    fs, path = filesystem(unit.file.path)
    with fs.open(path, "rb", compression="infer") as handle:
        for number, raw in enumerate(handle):
            line = raw.decode("utf-8", errors="replace").strip()
            if not line or line.startswith("#"):
                continue
            stats["records_in"] += 1
            url, _, text = line.partition("\t")
            url = url.strip()
            if "://" not in url:
                stats["rows_dropped_not_a_url"] += 1
                continue
            items = [image_item(url)]
            if text.strip():
                items.append(text_item(text.strip()))
            yield make_document(f"{unit.file.relpath}#line={number}", url, items)
