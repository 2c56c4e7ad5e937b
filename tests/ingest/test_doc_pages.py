"""Content extraction on real documentation pages: prose kept (sidebars, admonitions,
footnotes), page chrome dropped (navigation, tables of contents, footers), and every word
removed counted by reason. Pages: tests/ingest/data/doc_pages (licences in its README)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from realsyn.ingest.html import PageLocation, parse_page

PAGES = Path(__file__).parent / "data" / "doc_pages"


def _read(name: str) -> tuple[str, Counter[str], str]:
    html = (PAGES / name).read_text(encoding="utf-8")
    stats: Counter[str] = Counter()
    items, _ = parse_page(html, PageLocation(url=f"https://docs.example.org/{name}"), stats)
    text = "\n".join(item["text"] for item in items if item["kind"] == "text")
    return " ".join(text.split()), stats, html


CASES = {
    "debian_handbook_apt.html": {
        "kept": [
            # DocBook sidebars holding prose (the old reader dropped them as boilerplate).
            "VOCABULARY Package source and source package",
            "The word source can be ambiguous.",
            "BACK TO BASICS gzip, bzip2, LZMA and XZ Compression",
            "APT is the abbreviation for Advanced Packaging Tool.",
        ],
        "dropped": ["Prev", "Next", "Download the ebook", "6.1.1. Syntax"],
        "reasons": {"boilerplate_nav", "boilerplate_toc", "boilerplate_banner"},
    },
    "debian_reference_preface.html": {
        "kept": [
            "I tried to elucidate hierarchical aspects and lower levels of the system.",  # tip
            "For detailed documentation, you may need to install",  # note
            "All warranties are disclaimed.",
        ],
        "dropped": ["Chapter 1. GNU/Linux tutorials", "Table of Contents"],
        "reasons": {"boilerplate_nav", "boilerplate_toc"},
    },
    "python311_future.html": {
        "kept": [
            "__future__ is a real module, and serves three purposes:",
            "How the compiler treats future imports.",  # "See also" admonition
            "from __future__ import annotations was previously scheduled",  # footnote <aside>
        ],
        "dropped": ["Previous topic", "This Page", "Report a Bug", "Python Software Foundation",
                    "modules |"],
        "reasons": {"boilerplate_nav", "boilerplate_footer", "style"},
    },
    # Sphinx wraps every heading of a page with a local table of contents in
    # <a class="toc-backref">: a link about the toc, not a toc (the substring rule dropped them).
    "python311_faq_general.html": {
        "kept": ["General Python FAQ¶ General Information¶ What is Python?¶",
                 "What is the Python Software Foundation?¶"],
        "dropped": ["Previous topic", "Report a Bug", "Python Software Foundation. This page"],
        "reasons": {"boilerplate_nav", "boilerplate_footer"},
    },
    # Section ids that slug a heading: "cookie-objects" is a section about cookies, not a
    # cookie banner (the substring rule dropped the whole section).
    "python311_cookiejar.html": {
        "kept": ["Cookie Objects¶ Cookie instances have Python attributes roughly corresponding",
                 "Cookies may have additional non-standard cookie-attributes."],
        "dropped": ["Previous topic", "Report a Bug"],
        "reasons": {"boilerplate_nav", "boilerplate_footer"},
    },
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_prose_kept_and_chrome_dropped(name):
    case = CASES[name]
    text, stats, _ = _read(name)
    for expected in case["kept"]:
        assert expected in text, expected
    for chrome in case["dropped"]:
        assert chrome not in text, chrome
    reasons = {key.removeprefix("words_removed_") for key, value in stats.items()
               if key.startswith("words_removed_") and value}
    assert case["reasons"] <= reasons


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_word_of_the_page_is_kept_or_counted(name):
    _, stats, html = _read(name)
    tree = LexborHTMLParser(html)
    # Words of the page's text nodes, head included (scripts and styles are counted there).
    total = sum(len(re.findall(r"\w+", node.text(deep=False) or ""))
                for node in tree.root.traverse(include_text=True) if node.tag == "-text"
                and node.parent is not None and node.parent.tag != "title")
    counted = stats["words_kept"] + sum(value for key, value in stats.items()
                                        if key.startswith("words_removed_"))
    # Text nodes split a word where an inline tag cuts it ("method<a>s</a>"): a few words.
    assert abs(counted - total) <= 0.02 * total, (counted, total)


def test_counters_are_exact_on_a_page_with_every_kind_of_chrome():
    page = """<html><head><title>T</title><script>var a = 1;</script></head><body>
      <div class="breadcrumbs"><a href="/">Home</a> » <a href="/docs">Docs</a></div>
      <nav><a href="/a">one</a> <a href="/b">two</a></nav>
      <header><p>Site name here</p></header>
      <main><h1>Heading words</h1>
        <aside class="sidebar"><p>A side note with five words.</p></aside>
        <aside><a href="/x">Link one</a> <a href="/y">Link two</a></aside>
        <div class="admonition note"><p>Note text kept.</p></div>
        <p>Body prose of seven words here.</p>
        <p><a href="p.html">Prev</a> | <a href="n.html">Next</a></p>
        <form><input><button>Search now</button></form>
        <style>p { color: red }</style>
      </main>
      <div class="toc"><a href="#s">Section one</a></div>
      <footer>Copyright 2026 someone</footer>
      <div role="contentinfo">Legal words</div>
    </body></html>"""
    stats: Counter[str] = Counter()
    items, _ = parse_page(page, PageLocation(url="https://example.org/p.html"), stats)
    assert [item["text"] for item in items] == [
        "Heading words", "A side note with five words.", "Note text kept.",
        "Body prose of seven words here."]
    words = {key.removeprefix("words_"): value for key, value in stats.items()
             if key.startswith("words_")}
    # Words are runs of letters and digits: "»", "|" and "{" are none.
    assert words == {
        "kept": 2 + 6 + 3 + 6,
        "removed_script": 3, "removed_boilerplate_breadcrumbs": 2, "removed_boilerplate_nav":
            2 + 2,  # <nav> and the Prev | Next pager
        "removed_boilerplate_header": 3, "removed_boilerplate_link_list": 4,
        "removed_form": 2, "removed_style": 3, "removed_boilerplate_toc": 2,
        "removed_boilerplate_footer": 3 + 2}


def test_a_menu_class_or_pager_does_not_eat_prose():
    page = """<body><p class="unavailable">Words in an unavailable box stay.</p>
      <p><a href="n.html">Next</a> we describe the installer.</p>
      <div class="canvas-wrapper">Canvas wrapper prose stays too.</div></body>"""
    stats: Counter[str] = Counter()
    items, _ = parse_page(page, PageLocation(path="p.html"), stats)
    assert [item["text"] for item in items] == [
        "Words in an unavailable box stay.", "Next we describe the installer.",
        "Canvas wrapper prose stays too."]
    assert not [key for key in stats if key.startswith("words_removed_")]


def test_the_funnel_reports_page_words_by_reason(tmp_path):
    from realsyn.extract.funnel import build, format_funnel

    from .helpers import run_ingest

    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(PAGES), "format": "html"}])
    assert stats["documents_out"] == len(CASES)
    words = build(workspace)["text_words"]
    expected = Counter()
    for name in CASES:
        expected.update(_read(name)[1])
    assert words["kept"] == expected["words_kept"] > 0
    assert words["removed"] == {key.removeprefix("words_removed_"): value
                                for key, value in sorted(expected.items())
                                if key.startswith("words_removed_")}
    line = next(line for line in format_funnel(build(workspace)).splitlines()
                if "page text words" in line)
    assert f"kept {words['kept']}" in line and "boilerplate_nav" in line
