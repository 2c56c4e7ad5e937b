"""HTML reader (ingest/html.py): behaviours its mutation run showed untested (issue #27).

The stage runs the reader in a child process, so the page document and file reader are also
called here directly, in the test process."""

from __future__ import annotations

import codecs
import json
from collections import Counter
from pathlib import Path
from urllib.parse import urljoin

from realsyn.config import IngestConfig
from realsyn.ingest.html import (
    VISIBLE_WORDS_REMOVED,
    PageLocation,
    cap_depth,
    decode_html,
    page_document,
    parse_page,
    read_html,
    visible_words_removed,
)
from realsyn.ingest.sources import InputFile, WorkUnit
from realsyn.records import document_id


# ---------------------------------------------------------------- the page document
def test_page_document_carries_items_metadata_and_removed_visible_words():
    page = ("<html lang='fr'><head><title>Titre</title><script>var a = 1;</script></head><body>"
            "<nav>Menu one two</nav><p>Kept words here</p><img src='a.png' alt='A'>"
            "<footer>Legal words</footer><div class='toc'>Toc words</div></body></html>")
    stats: Counter[str] = Counter({"earlier": 1})
    location = PageLocation(url="https://site.example/docs/p.html")
    document = page_document(page.encode(), "crawl.warc#3", location, stats,
                             extra={"warc_date": "2026-01-01"})
    assert document["source"] == "crawl.warc#3"
    assert document["url"] == "https://site.example/docs/p.html"
    assert document["doc_id"] == document_id("crawl.warc#3", "https://site.example/docs/p.html")
    assert json.loads(document["metadata"]) == {"title": "Titre", "lang": "fr",
                                                "warc_date": "2026-01-01"}
    assert [(item["kind"], item["text"] or item["image_url"]) for item in document["items"]] == [
        ("text", "Kept words here"), ("image", "https://site.example/docs/a.png")]
    # Visible words removed: the nav (3) and footer (2); not the script nor the table of contents.
    assert document[VISIBLE_WORDS_REMOVED] == 5
    # The page's counters are added to the caller's, which keeps its own.
    assert stats == Counter({"earlier": 1, "words_kept": 3, "words_removed_boilerplate_nav": 3,
                             "words_removed_boilerplate_footer": 2,
                             "words_removed_boilerplate_toc": 2, "words_removed_script": 3})


def test_page_document_without_extra_or_removed_words():
    stats: Counter[str] = Counter()
    document = page_document(b"<p>Only prose</p>", "p.html", PageLocation(path="p.html"), stats)
    assert document["url"] is None and json.loads(document["metadata"]) == {}
    assert document[VISIBLE_WORDS_REMOVED] == 0
    assert stats == Counter({"words_kept": 2})


def test_page_document_refuses_binary_and_counts_the_cp1252_fallback():
    stats: Counter[str] = Counter()
    binary = b"<p>x</p>" + bytes(range(256)) * 4
    assert page_document(binary, "b.html", PageLocation(path="b.html"), stats) is None
    assert stats == Counter({"pages_dropped_not_text": 1})
    stats = Counter()
    document = page_document("<p>Un caf\xe9</p>".encode("cp1252"), "c.html",
                             PageLocation(path="c.html"), stats)
    assert document["items"][0]["text"] == "Un caf\u00e9"
    assert stats["pages_charset_fallback_cp1252"] == 1 and "pages_dropped_not_text" not in stats
    # A declared charset (the HTTP header) is what decodes the page.
    stats = Counter()
    document = page_document("<p>\u00e9t\u00e9</p>".encode("utf-16-be"), "d.html",
                             PageLocation(path="d.html"), stats, declared_charset="utf-16-be")
    assert document["items"][0]["text"] == "\u00e9t\u00e9"
    assert "pages_charset_fallback_cp1252" not in stats


def test_visible_words_removed_leaves_out_what_no_reader_sees():
    stats = Counter({"words_kept": 100, "words_removed_script": 1, "words_removed_style": 2,
                     "words_removed_noscript": 4, "words_removed_template": 8,
                     "words_removed_head": 16, "words_removed_boilerplate_toc": 32,
                     "words_removed_boilerplate_nav": 64, "words_removed_form": 128,
                     "pages_depth_capped": 256, "removed_words_other": 512})
    assert visible_words_removed(stats) == 64 + 128
    assert visible_words_removed(Counter()) == 0


# ---------------------------------------------------------------- the file reader
def _unit(tmp_path: Path, name: str, data: bytes) -> WorkUnit:
    (tmp_path / name).write_bytes(data)
    return WorkUnit(InputFile(str(tmp_path / name), str(tmp_path), f"site/{name}", "html"))


def test_read_html_reads_one_document_per_file_at_its_path(tmp_path):
    unit = _unit(tmp_path, "page.html", b"<p>Hello page</p><img src='../img/a.png'>")
    stats: Counter[str] = Counter()
    documents = list(read_html(unit, IngestConfig(), stats))
    assert len(documents) == 1
    document = documents[0]
    assert document["source"] == "site/page.html" and document["url"] is None
    assert [item["text"] or item["image_url"] for item in document["items"]] == [
        "Hello page", "img/a.png"]
    assert stats == Counter({"records_in": 1, "words_kept": 2})


def test_read_html_drops_large_empty_and_binary_files_with_their_reason(tmp_path):
    options = IngestConfig(max_document_bytes=20)
    stats: Counter[str] = Counter()
    assert list(read_html(_unit(tmp_path, "big.html", b"<p>" + b"x" * 30 + b"</p>"), options,
                          stats)) == []
    assert list(read_html(_unit(tmp_path, "empty.html", b""), options, stats)) == []
    assert stats == Counter({"files_failed_too_large": 1, "files_failed_empty": 1})
    # Exactly the limit is read.
    page = b"<p>" + b"y" * 13 + b"</p>"
    assert len(page) == 20
    assert len(list(read_html(_unit(tmp_path, "edge.html", page), options, stats))) == 1
    assert list(read_html(_unit(tmp_path, "bin.html", b"\x00" * 10), options, stats)) == []
    assert stats["records_in"] == 2 and stats["pages_dropped_not_text"] == 1


# ---------------------------------------------------------------- decoding
def test_byte_order_marks_decide_the_codec_and_are_dropped():
    assert decode_html(codecs.BOM_UTF8 + "caf\u00e9".encode()) == ("caf\u00e9", False)
    assert decode_html(codecs.BOM_UTF16_LE + "\u00e9t\u00e9".encode("utf-16-le")) == (
        "\u00e9t\u00e9", False)
    assert decode_html(codecs.BOM_UTF16_BE + "\u00e9t\u00e9".encode("utf-16-be")) == (
        "\u00e9t\u00e9", False)
    # Bytes the BOM's codec cannot read are replaced, never raised.
    assert decode_html(codecs.BOM_UTF8 + b"a\xffb") == ("a\ufffdb", False)


def test_latin1_and_ascii_labels_are_read_as_windows_1252():
    for label in ("iso-8859-1", "latin1", "latin-1", "us-ascii", "ascii", " LATIN1 "):
        page = f"<meta charset='{label}'>\x80".encode("latin-1")
        assert decode_html(page) == (f"<meta charset='{label}'>\u20ac", False), label
        assert decode_html(b"\x80", declared=label) == ("\u20ac", False), label


def test_declared_charset_comes_before_the_meta_and_refusals_are_counted():
    page = "<meta charset='koi8-r'>\u00e9".encode()
    assert decode_html(page, declared="utf-8") == ("<meta charset='koi8-r'>\u00e9", False)
    stats: Counter[str] = Counter()
    # A declared charset that is no web charset is counted and the meta is tried next.
    cyrillic = "<meta charset=koi8-r>\u0434\u0430".encode("koi8-r")
    assert decode_html(cyrillic, declared="utf-7", stats=stats) == (
        "<meta charset=koi8-r>\u0434\u0430", False)
    assert stats == Counter({"pages_charset_refused": 1})
    # Both refused: UTF-8, and each refusal counted; without counters nothing is counted.
    page = "<meta charset='rot13'>\u00e9".encode()
    assert decode_html(page, declared="base64", stats=stats)[0].endswith("\u00e9")
    assert stats == Counter({"pages_charset_refused": 3})
    assert decode_html(page, declared="base64") == ("<meta charset='rot13'>\u00e9", False)
    # A declared charset the bytes are not in: the next candidate decodes them.
    assert decode_html(cyrillic, declared="utf-8") == ("<meta charset=koi8-r>\u0434\u0430", False)


def test_only_the_first_4096_bytes_are_searched_for_a_meta_charset():
    def page(pad: int) -> bytes:
        return b" " * pad + b"<meta charset=koi8-r>" + "\u0434".encode("koi8-r")
    # The name's last byte ("r") is the page's byte 4095, the last searched; one space more
    # and the name is cut to "koi8-", no charset.
    inside, cut = page(4095 - len(b"<meta charset=koi8-")), page(4096 - len(
        b"<meta charset=koi8-"))
    assert decode_html(inside)[0].endswith("\u0434")
    stats: Counter[str] = Counter()
    assert decode_html(cut, stats=stats) == (cut.decode("cp1252"), True)
    assert stats == Counter({"pages_charset_refused": 1})


def test_the_windows_1252_fallback_replaces_its_five_undefined_bytes():
    assert decode_html(b"\x81\xe9") == ("\ufffd\u00e9", True)


# ---------------------------------------------------------------- depth cap
def test_cap_depth_counts_only_elements_that_open():
    # Void and self-closed tags open nothing; the tags over the cap go with their end tags.
    page = "<div><br><img src=a><p/><i>a<b>b<u>c</u></b></i></div>"
    assert cap_depth(page, max_depth=2) == ("<div><br><img src=a><p/><i>abc</i></div>", 4)
    # Tag names are matched without case.
    assert cap_depth("<DIV><I>a<B>b</b></I></DIV>", max_depth=2) == (
        "<DIV><I>ab</I></DIV>", 2)
    # End tags of nothing open leave the depth at zero.
    assert cap_depth("</p></p><a><a>x</a></a><a>y</a>", max_depth=1) == (
        "</p></p><a>x</a><a>y</a>", 2)
    # Exactly at the cap nothing is removed.
    assert cap_depth("<a><b>x</b></a><i>y</i>", max_depth=2) == ("<a><b>x</b></a><i>y</i>", 0)
    assert cap_depth("<a><b><i>x</i></b></a>", max_depth=2) == ("<a><b>x</b></a>", 2)
    assert cap_depth("<a>x</a>", max_depth=1) == ("<a>x</a>", 0)


def test_a_depth_capped_page_is_counted_once():
    stats: Counter[str] = Counter()
    page = "<body>" + "<div>" * 600 + "<p>deep</p>" + "</div>" * 600 + "</body>"
    items, _ = parse_page(page, PageLocation(path="p.html"), stats)
    assert [item["text"] for item in items] == ["deep"]
    assert stats["pages_depth_capped"] == 1
    stats = Counter()
    parse_page("<body>" + "<div>" * 500 + "<p>deep</p>" + "</div>" * 500 + "</body>",
               PageLocation(path="p.html"), stats)
    assert "pages_depth_capped" not in stats


# ---------------------------------------------------------------- resolving sources
def _urls(page: str, location: PageLocation) -> list[str | None]:
    items, _ = parse_page(page, location, Counter())
    return [item["image_url"] for item in items if item["kind"] == "image"]


def _meta(page: str, location: PageLocation) -> list[dict]:
    items, _ = parse_page(page, location, Counter())
    return [json.loads(item["image_meta"]) for item in items if item["kind"] == "image"]


def test_sources_of_a_page_on_disk():
    location = PageLocation(path="site/docs/page.html")
    assert _urls('<img src="#top"><img src="  "><img src=" a.png#x "><img src="b.png?v=2#y">'
                 '<img src="//cdn.example/c.png"><img src="c:/pics/d.png">'
                 '<img src="ab://host/e.png"><img src="/f%20g.png">', location) == [
        "site/docs/a.png", "site/docs/b.png", "https://cdn.example/c.png",
        "site/docs/c:/pics/d.png", "ab://host/e.png", "f g.png"]
    # A source that is only a query names the page's own folder.
    assert _urls('<img src="?v=1">', PageLocation(path="page.html")) == ["."]


def test_a_base_of_a_page_on_disk():
    # A relative <base> moves the page's folder as a browser resolves it.
    for href in ("../assets/", " ../assets/ ", "../assets/?v=1"):
        page = f'<head><base href="{href}"></head><body><img src="a.png"></body>'
        assert _urls(page, PageLocation(path="site/docs/page.html")) == ["site/assets/a.png"]
    # An http(s) <base> makes the page's sources URLs, public ones too.
    page = '<head><base href="https://cdn.example/x/"></head><body><img src="a.png"></body>'
    assert _meta(page, PageLocation(path="site/page.html")) == [
        {"raw_url": "https://cdn.example/x/a.png"}]
    assert _urls(page, PageLocation(path="site/page.html")) == ["https://cdn.example/x/a.png"]
    # An empty <base> changes nothing; a page with neither URL nor path keeps its sources.
    page = '<head><base href="  "></head><body><img src="a.png"></body>'
    assert _urls(page, PageLocation(path="site/page.html")) == ["site/a.png"]
    page = '<head><base href="sub/"></head><body><img src="a.png"></body>'
    assert _urls(page, PageLocation()) == ["a.png"]


def test_a_base_of_a_page_with_a_url():
    page = '<head><base href="../img/"></head><body><img src="a.png"></body>'
    assert _meta(page, PageLocation(url="https://site.example/docs/p.html")) == [
        {"raw_url": "https://site.example/img/a.png"}]
    # A canonical URL does not replace the URL a page was fetched from.
    page = ('<head><link rel="canonical" href="https://other.example/q.html"></head>'
            '<body><img src="a.png"></body>')
    assert _meta(page, PageLocation(url="https://site.example/docs/p.html")) == [
        {"raw_url": "https://site.example/docs/a.png"}]


def test_an_invalid_base_is_counted_and_ignored():
    stats: Counter[str] = Counter()
    items, _ = parse_page('<head><base href="http://[::1"></head><body><img src="a.png"></body>',
                          PageLocation(url="https://site.example/p.html"), stats)
    assert [item["image_url"] for item in items] == ["https://site.example/a.png"]
    assert stats["pages_invalid_base_ignored"] == 1


def test_a_canonical_url_of_a_page_on_disk():
    def page(href: str) -> str:
        return f'<head><link rel="canonical" href="{href}"></head><body><img src="a.png"></body>'
    location = PageLocation(path="site/page.html")
    assert _meta(page(" https://docs.example/en/p.html "), location) == [
        {"raw_url": "https://docs.example/en/a.png"}]
    assert _meta(page("ftp://docs.example/en/p.html"), PageLocation(path="site/page.html")) == [
        {}]
    _, metadata = parse_page(page("ftp://docs.example/en/p.html"),
                             PageLocation(path="p.html"), Counter())
    assert metadata == {"canonical_url": "ftp://docs.example/en/p.html"}
    _, metadata = parse_page('<head><link rel="canonical"><title> </title></head>',
                             PageLocation(path="p.html"), Counter())
    assert metadata == {}


# ---------------------------------------------------------------- images
def test_image_sources_meta_and_the_source_the_page_gave():
    page = ('<img src=" a.jpg " alt="A" title="T" width="10" height="" data-x="1">'
            '<img src="small.jpg" data-srcset="big.jpg 2x">'
            '<img data-original="orig.jpg">'
            '<picture><source srcset="p.webp 2x"><source srcset="q.webp 3x"></picture>')
    location = PageLocation(url="https://s.example/d/p.html")
    assert _urls(page, location) == ["https://s.example/d/a.jpg", "https://s.example/d/big.jpg",
                                     "https://s.example/d/orig.jpg",
                                     "https://s.example/d/q.webp"]
    assert _meta(page, PageLocation(url="https://s.example/d/p.html")) == [
        {"alt": "A", "title": "T", "width": "10", "raw_url": "https://s.example/d/a.jpg"},
        {"src": "small.jpg", "raw_url": "https://s.example/d/big.jpg"},
        {"raw_url": "https://s.example/d/orig.jpg"},
        {"raw_url": "https://s.example/d/q.webp"}]


def test_an_image_without_a_source_leaves_the_text_whole_and_a_bad_one_is_counted():
    stats: Counter[str] = Counter()
    items, _ = parse_page('<p>one <img alt="x"> two <img src="http://[::1"> three</p>',
                          PageLocation(url="https://s.example/p.html"), stats)
    assert [item["text"] for item in items] == ["one two three"]
    assert stats == Counter({"items_dropped_invalid_image": 1, "words_kept": 3})


def test_captions_from_figures_up_to_six_levels():
    def page(levels: int) -> str:
        return ("<figure>" + "<div>" * levels + "<img src=a.png>" + "</div>" * levels
                + "<figcaption>The cap</figcaption></figure>")
    assert _meta(page(5), PageLocation(path="p.html")) == [{"caption": "The cap"}]
    assert _meta(page(6), PageLocation(path="p.html")) == [{}]
    # Each figure its own caption; a figure without one stops the search.
    assert _meta("<figure><img src=a.png><figcaption>One</figcaption></figure>"
                 "<figure><img src=b.png><figcaption>Two</figcaption></figure>"
                 "<div><figure><img src=c.png></figure><p class=caption>Outer</p></div>"
                 "<figure><img src=d.png><figcaption> </figcaption></figure>",
                 PageLocation(path="p.html")) == [
        {"caption": "One"}, {"caption": "Two"}, {}, {}]


def test_captions_from_a_caption_class_two_levels_up():
    near = ('<div><p><img src=a.png></p><div class="Figure-Caption"><b>Near</b> cap</div></div>'
            '<div><p><img src=b.png></p><div class="caption"> </div></div>')
    assert _meta(near, PageLocation(path="p.html")) == [{"caption": "Near cap"}, {}]
    far = ("<section><div><p><img src=a.png></p></div><div class=caption>Far</div></section>")
    assert _meta(far, PageLocation(path="p.html")) == [{}]
    # Two images in one block share its caption; an empty one falls through to the next level.
    shared = ('<div><div class=caption>Both</div><p><img src=a.png><span class=caption></span>'
              '</p><img src=b.png></div>')
    assert _meta(shared, PageLocation(path="p.html")) == [{"caption": "Both"},
                                                           {"caption": "Both"}]


# ---------------------------------------------------------------- page chrome
def _words(page: str) -> tuple[list[str], dict[str, int]]:
    stats: Counter[str] = Counter()
    items, _ = parse_page(page, PageLocation(url="https://s.example/p.html"), stats)
    return [item["text"] for item in items if item["kind"] == "text"], dict(stats)


def test_roles_hidden_and_chrome_names_remove_their_words():
    texts, stats = _words(
        "<body><div role='NAVIGATION'>Nav words</div><div role='Search'>Find it</div>"
        "<div role='banner'>Site banner here</div><p aria-hidden='TRUE'>Hidden aria</p>"
        "<p aria-hidden='false'>Shown words</p><p hidden=''>Hidden attr</p>"
        "<div class='note' id='breadcrumbs'>Crumb trail</div><p>Prose stays</p></body>")
    assert texts == ["Shown words", "Prose stays"]
    assert stats == {"words_kept": 4, "words_removed_boilerplate_nav": 2,
                     "words_removed_form": 2, "words_removed_boilerplate_banner": 3,
                     "words_removed_hidden": 4, "words_removed_boilerplate_breadcrumbs": 2}


def test_header_and_footer_are_content_inside_an_article_or_main():
    texts, stats = _words(
        "<body><header>Top of site</header><main><header>Main head</header>"
        "<footer>Main foot</footer></main><article><div><footer>Art foot</footer></div>"
        "</article><footer>Site foot</footer></body>")
    assert texts == ["Main head", "Main foot", "Art foot"]
    assert stats == {"words_kept": 6, "words_removed_boilerplate_header": 3,
                     "words_removed_boilerplate_footer": 2}


def test_a_subtree_without_words_counts_nothing():
    _, stats = _words("<body><nav> | </nav><script></script><p>Text</p></body>")
    assert stats == {"words_kept": 1}


def test_side_boxes_are_link_lists_from_three_fifths_of_their_words():
    three = "<a href=/1>one two</a> <a href=/2>three</a> four five"
    two = "<a href=/1>one two</a> three four five"
    named = "<a name=x>one two three</a> four five"
    for box in (f"<aside>{three}</aside>", f"<div role='Complementary'>{three}</div>",
                f"<div class='left sidebar'>{three}</div>"):
        texts, stats = _words(f"<body>{box}<p>Prose</p></body>")
        assert texts == ["Prose"], box
        assert stats == {"words_kept": 1, "words_removed_boilerplate_link_list": 5}, box
    for box in (f"<aside>{two}</aside>", f"<aside>{named}</aside>",
                f"<div class='sidebars'>{three}</div>", "<aside><img src=a.png></aside>"):
        texts, stats = _words(f"<body>{box}</body>")
        assert "words_removed_boilerplate_link_list" not in stats, box
    # Link words are counted apart: "<a>one</a><a>two</a>" is two words, not "onetwo".
    texts, stats = _words("<body><aside><a href=/1>one</a><a href=/2>two</a>three</aside>"
                          "</body>")
    assert stats == {"words_removed_boilerplate_link_list": 3}


def test_only_the_outermost_side_box_is_measured():
    texts, stats = _words("<body><aside><p>A side note of prose words here.</p>"
                          "<aside><a href=/1>one</a> <a href=/2>two</a></aside></aside></body>")
    assert texts == ["A side note of prose words here.", "one two"]
    assert stats == {"words_kept": 9}


def test_pagers_need_linked_direction_words():
    cases = {
        "<p><a href=p>Prev</a> | <a href=n>NEXT</a></p>": [],
        "<p><a href=p>«</a> | <a href=n>»</a></p>": ["« | »"],
        "<p>Next</p>": ["Next"],
        "<p><a href=n>Next</a> page</p>": ["Next page"],
        "<p><a name=n>Next</a></p>": ["Next"],
        "<p>| <a href=n>Up</a> |</p>": [],
    }
    for body, expected in cases.items():
        texts, stats = _words(f"<body>{body}</body>")
        assert texts == expected, body
        assert stats.get("words_removed_boilerplate_nav", 0) == (
            0 if expected else 1 + ("Prev" in body)), body


def test_comments_and_line_breaks_in_text():
    texts, _ = _words("<body><p>a<!-- not -->b<br>c<wbr>d</p><!DOCTYPE x><p>e</p></body>")
    assert texts == ["ab cd", "e"]


def test_words_of_the_head_are_counted_by_reason():
    _, stats = _words("<html><head><title>Title words</title><script>var a;</script>"
                      "<style>p { x: y }</style><script></script><meta name=x></head>"
                      "<body><p>b</p></body></html>")
    assert stats == {"words_kept": 1, "words_removed_script": 2, "words_removed_style": 3}


def test_a_page_with_self_closed_tags_is_counted_once():
    stats: Counter[str] = Counter()
    items, _ = parse_page("<body><i class=icon/><i class=icon/><p>Text</p></body>",
                          PageLocation(path="p.html"), stats)
    assert [item["text"] for item in items] == ["Text"]
    assert stats["pages_self_closed_tags_closed"] == 1
    stats = Counter()
    parse_page("<body><br/><p>Text</p></body>", PageLocation(path="p.html"), stats)
    assert "pages_self_closed_tags_closed" not in stats


def test_page_document_counts_refused_charsets_and_adds_to_earlier_counts():
    stats: Counter[str] = Counter()
    for _ in range(2):
        document = page_document(b"<p>caf\xe9</p>", "p.html", PageLocation(path="p.html"),
                                 stats, declared_charset="utf-7")
        assert document["items"][0]["text"] == "caf\u00e9"
        assert page_document(b"\x00\x01", "b.html", PageLocation(path="b.html"), stats) is None
    assert stats == Counter({"pages_charset_refused": 2, "pages_charset_fallback_cp1252": 2,
                             "pages_dropped_not_text": 2, "words_kept": 2})


def test_a_source_on_disk_loses_its_whole_query_and_fragment():
    location = PageLocation(path="site/page.html")
    assert _urls('<img src="a.png#x#y"><img src="b.png?v=1?w=2"><img src="c.png?v#f?g">'
                 '<img src="/Xray.png">', location) == [
        "site/a.png", "site/b.png", "site/c.png", "Xray.png"]


def test_an_http_base_of_a_page_on_disk():
    page = '<head><base href="http://cdn.example/x/"></head><body><img src="a.png"></body>'
    assert _meta(page, PageLocation(path="site/page.html")) == [
        {"raw_url": "http://cdn.example/x/a.png"}]
    assert _urls(page, PageLocation(path="site/page.html")) == ["http://cdn.example/x/a.png"]


def test_a_base_of_a_page_on_disk_resolves_as_a_browser_resolves_it():
    # The oracle: RFC 3986 resolution (urllib) of the <base> and then the source against the
    # page's path under an http root. "../assets" names a file in "..", not a folder; a base
    # that is only a query or fragment leaves the page's folder as it is.
    for href in ("../assets", "../assets/", "../assets/x.html", ".", "..", "./", "sub",
                 "sub/", "/top", "/top/", "/", "?v=1", "#f", "a/./b/../c/", "../assets?q=1#f",
                 "sub/?q=1?r/", "sub/#f#g/"):
        page = (f'<head><link rel="canonical" href="https://h.example/site/docs/page.html">'
                f'<base href="{href}"></head><body><img src="img/a.png"></body>')
        expected = urljoin(urljoin("https://h.example/site/docs/page.html", href), "img/a.png")
        items, _ = parse_page(page, PageLocation(path="site/docs/page.html"), Counter())
        assert "https://h.example/" + items[0]["image_url"] == expected, href
        # The public URL and the file agree.
        assert json.loads(items[0]["image_meta"])["raw_url"] == expected, href
