"""Reading an HTML page takes linear time on pathological markup (`<a` repeated 50,000 times
took 53 s when the depth-capping regex rescanned from every `<`)."""

from __future__ import annotations

from collections import Counter

import pytest

from linear_time import MAX_RATIO, growth
from realsyn.ingest.html import PageLocation, page_document

# pattern -> (repeated unit, n): n large enough that t(n) is well above timer noise.
PATTERNS = {
    "unclosed_tags": ("<a", 200_000),
    "anchors": ("<a>", 20_000),
    "images_in_one_block": ("<img src=x.png>", 5_000),
    "caption_blocks": ("<p class='caption'>x</p><img src=y.png>", 5_000),
    "nested_figures": ("<figure><img src=a.png>", 2_000),
    "long_tag_name": ("a", 1_000_000),
    "attributes": ("<b a=", 50_000),
    # The self-closed pass (close_self_closed): tags it closes, slashes that end no tag, and
    # raw-text elements and comments left open (each must be scanned once, not per "<").
    "self_closed_tags": ("<i class=x/>", 20_000),
    "self_closed_slash_values": ("<b a=/ />", 20_000),
    "unclosed_scripts": ("<script><i/>", 20_000),
    "unclosed_comments": ("<!--<i/>", 20_000),
}


def _read(page: str) -> None:
    page_document(page.encode(), "page.html", PageLocation(path="page.html"), Counter())


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_page_reading_grows_linearly(pattern):
    unit, n = PATTERNS[pattern]
    prefix = "<html><body><div>" + ("<" if pattern == "long_tag_name" else "")
    # No closing markup after the run: a page cut off is where an unbounded tag scan hurts.
    ratio = growth(_read, lambda count: prefix + unit * count, n)
    assert ratio < MAX_RATIO
