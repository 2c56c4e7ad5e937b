"""Reading an HTML page takes linear time on pathological markup (`<a` repeated 50,000 times
took 53 s when the depth-capping regex rescanned from every `<`)."""

from __future__ import annotations

from collections import Counter

import pytest

from linear_time import MAX_RATIO, growth
from realsyn.ingest.html import PageLocation, page_document

PATTERNS = {
    "unclosed_tags": "<a",
    "anchors": "<a>",
    "images_in_one_block": "<img src=x.png>",
    "caption_blocks": "<p class='caption'>x</p><img src=y.png>",
    "nested_figures": "<figure><img src=a.png>",
    "long_tag_name": "a",
    "attributes": "<b a=",
}


def _read(page: str) -> None:
    page_document(page.encode(), "page.html", PageLocation(path="page.html"), Counter())


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_page_reading_grows_linearly(pattern):
    unit = PATTERNS[pattern]
    prefix = "<html><body><div>" + ("<" if pattern == "long_tag_name" else "")
    ratio = growth(_read, lambda n: prefix + unit * n + "</div></body></html>", 5_000)
    assert ratio < MAX_RATIO
