"""HTML reader: reading order, boilerplate, source resolution, captions, and round trips."""

from __future__ import annotations

import html as html_lib
import json
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import realsyn.ingest.html as html_reader
from realsyn.ingest.html import (
    PageLocation,
    cap_depth,
    decode_html,
    parse_page,
)

from .helpers import (
    expected_documents,
    ingested_documents,
    link_sample_images,
    run_ingest,
    sample_rows,
)

GIMP_HELP = Path("/usr/share/gimp/2.0/help/en")


def _items(html: str, **location):
    items, metadata = parse_page(html, PageLocation(**location), Counter())
    simple = [(i["kind"], i["text"] if i["kind"] == "text" else i["image_url"]) for i in items]
    return simple, items, metadata


def test_reading_order_blocks_and_boilerplate():
    page = """<html lang="en"><head><title> My  page </title><style>p{}</style></head><body>
      <nav><a href="/">Home</a><img src="logo.png"></nav>
      <div class="navheader">Prev | Next</div>
      <header><p>Site banner</p></header>
      <article><header><h1>The <b>title</b></h1></header>
        <p>First   paragraph with <a href="#">a link</a>.</p>
        <ul><li>one</li><li>two <span>items</span></li></ul>
        <img src="a.jpg" alt="An A">
        <div>Loose text<p>nested paragraph</p>tail</div>
        <script>var x = "<p>not text</p>";</script>
      </article>
      <footer>Copyright</footer><div role="navigation">menu</div><p hidden>secret</p>
    </body></html>"""
    simple, _, metadata = _items(page, path="docs/page.html")
    assert simple == [
        ("text", "The title"),
        ("text", "First paragraph with a link."),
        ("text", "one"), ("text", "two items"),
        ("image", "docs/a.jpg"),
        ("text", "Loose text"), ("text", "nested paragraph"), ("text", "tail"),
    ]
    assert metadata == {"title": "My page", "lang": "en"}


def test_sources_resolve_against_page_base_and_srcset():
    page = """<html><head><base href="https://cdn.example.org/assets/"></head><body>
      <img src="x.png"><img src="/root.png"><img src="//other.org/p.gif">
      <img src="small.jpg" srcset="small.jpg 320w, big.jpg 1280w, mid.jpg 640w">
      <picture><source srcset="hi.webp 2x, lo.webp 1x"><img src="fallback.jpg" alt="pic"></picture>
      <img data-src="lazy.jpg"><img src=""><img src="data:image/png;base64,AAAA">
    </body></html>"""
    simple, items, _ = _items(page, url="https://site.example.com/blog/post.html")
    assert [url for _, url in simple] == [
        "https://cdn.example.org/assets/x.png", "https://cdn.example.org/root.png",
        "https://other.org/p.gif", "https://cdn.example.org/assets/big.jpg",
        "https://cdn.example.org/assets/hi.webp", "https://cdn.example.org/assets/lazy.jpg",
        "data:image/png;base64,AAAA"]
    assert json.loads(items[4]["image_meta"])["alt"] == "pic"
    assert json.loads(items[3]["image_meta"])["src"] == "small.jpg"
    # Pages on disk: paths under the input root; '..' and '/' are kept relative to the root.
    simple, _, _ = _items('<img src="../img/a%20b.png?v=1"><img src="/top.png">'
                          '<img src="http://h.org/x.png">', path="site/sub/page.html")
    assert [url for _, url in simple] == ["site/img/a b.png", "top.png", "http://h.org/x.png"]


def test_figure_captions_and_alt_become_image_metadata():
    page = """<body><figure><img src="cat.jpg" alt="A cat" title="t">
      <figcaption>Chelsea the <em>cat</em></figcaption></figure>
      <div class="mediaobject"><img src="b.png"><div class="caption"><p>Before</p></div></div>
    </body>"""
    simple, items, _ = _items(page, path="p.html")
    meta = [json.loads(i["image_meta"]) for i in items if i["kind"] == "image"]
    assert meta[0] == {"alt": "A cat", "title": "t", "caption": "Chelsea the cat"}
    assert meta[1] == {"caption": "Before"}
    # Captions are page text too, in their place.
    assert simple == [("image", "cat.jpg"), ("text", "Chelsea the cat"), ("image", "b.png"),
                      ("text", "Before")]


def test_deep_nesting_is_capped_quickly_and_text_kept():
    depth = 100_000
    page = ("<html><body>" + "<div>" * depth + "<p>deep text</p><img src='a.png'>"
            + "</div>" * depth + "<p>after</p></body></html>")
    started = time.perf_counter()
    stats = Counter()
    items, _ = parse_page(page, PageLocation(path="deep.html"), stats)
    assert time.perf_counter() - started < 10
    assert stats["pages_depth_capped"] == 1
    assert [(i["kind"], i["text"] or i["image_url"]) for i in items] == [
        ("text", "deep text"), ("image", "a.png"), ("text", "after")]
    capped, removed = cap_depth("<b>" * 10 + "x" + "</b>" * 10, max_depth=3)
    assert capped == "<b><b><b>x</b></b></b>" and removed == 14


def test_decoding_declared_meta_and_fallback():
    assert decode_html("caf\u00e9".encode()) == ("caf\u00e9", False)
    latin = '<meta charset="iso-8859-1"><p>caf\xe9</p>'.encode("latin-1")
    assert decode_html(latin)[0].endswith("caf\u00e9</p>")
    assert decode_html("caf\u00e9".encode("cp1252")) == ("caf\u00e9", True)
    assert decode_html("\u00e9t\u00e9".encode("utf-16"))[0] == "\u00e9t\u00e9"
    assert decode_html(b"\xe9", declared="utf-8") == ("\u00e9", True)


def write_pages(folder: Path) -> None:
    """Each sample row as a page: text items as paragraphs, images as <img>."""
    folder.mkdir(parents=True)
    link_sample_images(folder)
    for index, row in enumerate(sample_rows()):
        body = []
        for text, image in zip(row["texts"], row["images"], strict=True):
            if text is not None:
                body.append(f"<p>{html_lib.escape(text)}</p>")
            else:
                body.append(f'<img src="{html_lib.escape(image)}" alt="">')
        page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{index}</title>"
                f"</head><body><nav><a href='index.html'>Home</a></nav><main>"
                + "\n".join(body) + "</main></body></html>")
        (folder / f"doc{index:03d}.html").write_text(page, encoding="utf-8")


def test_sample_corpus_round_trip_through_html_pages(tmp_path):
    write_pages(tmp_path / "pages")
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(tmp_path / "pages")}],
                                  files_per_shard=20)
    assert workspace.shards("documents") == ["00000", "00001", "00002"]
    assert stats["documents_out"] == 56 and stats["images_ok"] == 431
    documents = ingested_documents(workspace)
    assert [documents[f"doc{i:03d}.html"] for i in range(56)] == expected_documents()


@pytest.mark.skipif(not GIMP_HELP.is_dir(), reason="Debian gimp-help-en is not installed")
def test_real_gimp_manual_pages(tmp_path):
    workspace, stats = run_ingest(tmp_path / "ws", [
        {"path": str(GIMP_HELP / "filters-blur.html")},
        {"path": str(GIMP_HELP / "gimp-filter-red-eye-removal.html"), "format": "html"}])
    assert stats["documents_out"] == 2 and stats["images_ok"] == stats["images_out"] > 4
    documents = workspace.read_dataset("documents").to_pylist()
    red_eye = next(d for d in documents if "red-eye" in d["source"])
    images = [json.loads(i["image_meta"]) for i in red_eye["items"] if i["kind"] == "image"]
    # Navigation arrows are boilerplate; the two example photos carry alt text and captions.
    assert images[0]["caption"] == "Original image"
    assert images[0]["alt"].startswith("Example for the")
    urls = [i["image_url"] for i in red_eye["items"] if i["kind"] == "image"]
    assert "images/prev.png" not in urls and urls[0].endswith("enhance-red-eye-before.jpg")
    texts = [i["text"] for i in red_eye["items"] if i["kind"] == "text"]
    assert texts[0] == "4.6. Red Eye Removal" and any("remove red eyes" in t for t in texts)


def test_public_image_urls_resolve_against_the_page_url():
    page = '<img src="images/a.png"><img src="//cdn.example.org/b.jpg"><img src="data:,x">'
    _, items, _ = _items(page, url="https://docs.example.org/en/page.html")
    raw = [json.loads(item["image_meta"]).get("raw_url") for item in items]
    assert raw == ["https://docs.example.org/en/images/a.png", "https://cdn.example.org/b.jpg",
                   None]
    # A page on disk has no URL: its images keep only their path (no raw_url) ...
    _, items, _ = _items('<img src="images/a.png">', path="site/page.html")
    assert items[0]["image_url"] == "site/images/a.png"
    assert "raw_url" not in json.loads(items[0]["image_meta"])
    # ... unless it names its canonical URL (resolved with its <base>).
    page = ('<html><head><link rel="canonical" href="https://docs.example.org/en/page.html">'
            '<base href="../assets/"></head><body><img src="a.png"></body></html>')
    _, items, _ = _items(page, path="site/page.html")
    assert items[0]["image_url"] == "assets/a.png"
    assert json.loads(items[0]["image_meta"])["raw_url"] == "https://docs.example.org/assets/a.png"


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(
    ["a", "é", "word", " ", "  ", "\t", "\n", "\r", "\x0b", "\x1c", "\u00a0", "\u2028",
     "\u3000"]), max_size=40).map("".join), st.integers(1, 8))
def test_normalize_space_equals_split_and_join_in_any_piece_size(text, chunk):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(html_reader, "_SPACE_CHUNK", chunk)
        assert html_reader.normalize_space(text) == " ".join(text.split())


def test_a_line_break_after_a_run_in_heading_or_a_lead_in_ends_the_text_item():
    # groff's HTML for a man page's subsection and a tagged list (Linux man-pages, section 7)
    simple, _, _ = _items('<p style="margin-left:11%"><b>Global\nroot</b> <br>\nThe term '
                          '"global root" is used as a shorthand.</p>'
                          "<p>The formats understood by the kernel include: <b><br>\nAF_UNIX"
                          "</b>, <b>AF_LOCAL</b></p>", path="a.html")
    assert simple == [("text", "Global root"),
                      ("text", 'The term "global root" is used as a shorthand.'),
                      ("text", "The formats understood by the kernel include:"),
                      ("text", "AF_UNIX, AF_LOCAL")]
    # any other break is a line of the same text: a sentence cut by it is joined again
    simple, _, _ = _items("<p>This 3D effect is<br>achieved by <b>a filter</b><br>that blurs."
                          "</p><p><span><b>Note</b><br>the rest</span></p>", path="a.html")
    assert simple == [("text", "This 3D effect is achieved by a filter that blurs."),
                      ("text", "Note the rest")]
    # a bold word after text in its block is no run-in, however short the text before it
    simple, _, _ = _items("<p>Read the <b>filter</b><br>section.</p>", path="a.html")
    assert simple == [("text", "Read the filter section.")]
