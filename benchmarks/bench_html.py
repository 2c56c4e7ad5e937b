"""What the HTML and WARC readers keep of real documentation pages, beside trafilatura.

Inputs: three documentation sets from Debian packages, read from their installed folders
(`apt-get install -y debian-handbook debian-reference-en python3.11-doc`):
- debian-handbook (DocBook, Publican layout): /usr/share/doc/debian-handbook/html/en-US
- debian-reference-en (DocBook XSL): /usr/share/debian-reference/*.en.html
- python3.11-doc (Sphinx): /usr/share/doc/python3.11-doc/html/{library,tutorial,howto,...}
and a WARC built from the same pages with warcio (response records under each set's public URL),
read back by the project's WARC reader.

Ground truth comes from the page structure that each toolchain writes, defined here and
independent of the reader's rules (NAV_SELECTORS): DocBook's div.navheader / div.navfooter /
ul.docnav / div.toc, Sphinx's div.related / div.sphinxsidebar / div.footer / nav menus /
toctrees / permalink anchors. Every word of <body> outside those and outside script / style is
"body prose" (sidebars, admonitions, footnotes, tables and code included); every word inside
them is "navigation". Words are `\\w+` runs.

Measured per set: the share of body words kept and of navigation words kept, by the project's
reader (`realsyn.ingest.html.parse_page`) and by trafilatura's main-content extraction
(`trafilatura.extract`, defaults, tables included) on the same pages. An output's words are
matched to the page's labelled word sequence in order (each output line as a run of page words
after the previous one), so a navigation word that also occurs in the prose ("Next", a chapter
title) counts as kept only where the output really holds it at that place. The reader's
removal counters (`words_removed_<reason>`) are printed summed over the pages.

    .venv/bin/python benchmarks/bench_html.py [--pages 40] [--json out.json]

trafilatura comes with the `bench` extra (`pip install -e .[bench]`).
"""

from __future__ import annotations

import argparse
import bisect
import io
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

from selectolax.lexbor import LexborHTMLParser, LexborNode

from realsyn.ingest.html import PageLocation, parse_page
from realsyn.ingest.sources import InputFile, WorkUnit
from realsyn.ingest.warc import read_warc

WORD = re.compile(r"\w+")
SETS = {
    "debian-handbook": (Path("/usr/share/doc/debian-handbook/html/en-US"), "*.html",
                        "https://debian-handbook.info/browse/en-US/stable/"),
    "debian-reference": (Path("/usr/share/debian-reference"), "*.en.html",
                         "https://www.debian.org/doc/manuals/debian-reference/"),
    "python3.11-doc": (Path("/usr/share/doc/python3.11-doc/html"),
                       "{library,tutorial,howto,reference,using,faq,extending}/*.html",
                       "https://docs.python.org/3.11/"),
}
# Navigation, by the structure the documentation toolchains write (not the reader's rules).
NAV_SELECTORS = (
    # DocBook XSL and Publican
    "div.navheader", "div.navfooter", "ul.docnav", "div.toc", "div.list-of-tables",
    "div.list-of-figures", "div.list-of-examples", "div#banner", "p#title",
    # Sphinx
    "div.related", "div.sphinxsidebar", "div.footer", "div.mobile-nav", "nav.menu",
    "nav.contents", "div.toctree-wrapper", "a.headerlink",
)
FALLBACK_WINDOW = 40
ANCHOR_WORDS = 6  # runs this long are matched wherever they are ahead
NEAR_WORDS = 400  # shorter ones only within this many words of the last match
# HTML phrasing elements: text continues across them.
PHRASING_TAGS = frozenset({
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "i", "kbd", "mark",
    "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var", "tt",
    "font", "big", "strike", "-text"})
EXCLUDED_TAGS = frozenset({"script", "style", "noscript", "template", "-comment"})


def labelled_words(html: str) -> list[tuple[str, str]]:
    """(word, "body" | "nav") for every word of the page's <body>, in document order. Text
    runs across inline elements ("<a>method</a>s" is one word); other elements separate."""
    tree = LexborHTMLParser(html)
    nav_ids = {node.mem_id for selector in NAV_SELECTORS for node in tree.css(selector)}
    pieces: list[tuple[str, str]] = []  # (text, label), concatenated in order
    if tree.body is None:
        return []
    stack: list[tuple[LexborNode | None, bool]] = [(tree.body, False)]
    while stack:
        node, in_nav = stack.pop()
        if node is None:  # the end of a block element
            pieces.append((" ", "body"))
            continue
        if node.tag in EXCLUDED_TAGS:
            continue
        if node.tag == "-text":
            pieces.append((node.text(deep=False) or "", "nav" if in_nav else "body"))
            continue
        in_nav = in_nav or node.mem_id in nav_ids
        if node.tag not in PHRASING_TAGS:
            pieces.append((" ", "body"))
            stack.append((None, in_nav))
        children = []
        child = node.child
        while child is not None:
            children.append(child)
            child = child.next
        stack.extend((c, in_nav) for c in reversed(children))
    text = "".join(piece for piece, _ in pieces)
    labels = [label for piece, label in pieces for _ in piece]
    return [(match.group(), labels[match.start()]) for match in WORD.finditer(text)]


def kept_by_label(page: list[tuple[str, str]], output: str) -> Counter[str]:
    """Words of each label that the output holds at their place. Each output line (a text
    item) is found as a run of page words at or after the end of the previous one; a line
    found nowhere as a run is matched word by word within its length plus FALLBACK_WINDOW
    words ahead."""
    words = [word for word, _ in page]
    joined = " " + " ".join(words) + " "
    starts, offset = [], 1  # character offset of each page word in `joined`
    for word in words:
        starts.append(offset)
        offset += len(word) + 1
    kept: Counter[str] = Counter()
    position = 0  # next page word that may match
    for line in output.splitlines():
        run = WORD.findall(line)
        if not run or position >= len(words):
            continue
        # A short run ("Note") is only looked for near the last match: found far ahead it
        # would most likely be another occurrence, and would skip the page between.
        end = len(joined) if len(run) >= ANCHOR_WORDS else \
            starts[min(len(starts) - 1, position + NEAR_WORDS)] + 1
        found = joined.find(" " + " ".join(run) + " ", starts[position] - 1, end + 64)
        if found >= 0:
            first = bisect.bisect_left(starts, found + 1)
            kept.update(label for _, label in page[first:first + len(run)])
            position = first + len(run)
            continue
        # Word by word, within the line's own length (plus a margin) of the last match, so
        # that common words cannot drag the position past text still to come.
        limit = position + len(run) + FALLBACK_WINDOW
        for word in run:
            window = words[position:limit]
            if word in window:
                index = position + window.index(word)
                kept[page[index][1]] += 1
                position = index + 1
    return kept


def our_text(items: list[dict]) -> str:
    return "\n".join(item["text"] for item in items if item["kind"] == "text")


def pages_of(name: str, limit: int) -> list[tuple[Path, str]]:
    """Up to `limit` pages of a set, spread evenly over its sorted file list, with URLs."""
    root, pattern, base = SETS[name]
    if "{" in pattern:
        head, rest = pattern[1:].split("}", 1)
        files = sorted(p for folder in head.split(",") for p in root.glob(folder + rest))
    else:
        files = sorted(root.glob(pattern))
    if not files:
        raise SystemExit(f"{root} has no pages: apt-get install -y {name.split('-doc')[0]}")
    step = max(1, len(files) / limit)
    chosen = [files[int(i * step)] for i in range(min(limit, len(files)))]
    return [(path, base + path.relative_to(root).as_posix()) for path in chosen]


def write_warc(pages: list[tuple[Path, str]], path: Path) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for file, url in pages:
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                       protocol="HTTP/1.0")
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(
                file.read_bytes()), http_headers=headers)
            writer.write_record(record)


def warc_texts(path: Path) -> tuple[dict[str, str], Counter[str]]:
    unit = WorkUnit(InputFile(str(path), str(path.parent), path.name, "warc"))
    options = SimpleNamespace(max_document_bytes=64 << 20, max_image_bytes=64 << 20)
    stats: Counter[str] = Counter()
    texts = {doc["url"]: our_text(doc["items"]) for doc in read_warc(unit, options, stats)}
    return texts, stats


def share(kept: Counter[str], total: Counter[str], label: str) -> float:
    return kept[label] / total[label] if total[label] else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=40, help="pages per documentation set")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    try:
        import trafilatura
    except ImportError:
        sys.exit("trafilatura is missing: pip install -e .[bench]")

    results: dict[str, dict] = {}
    removed: Counter[str] = Counter()
    all_pages: list[tuple[Path, str]] = []
    truth: dict[str, list[tuple[str, str]]] = {}
    for name in SETS:
        pages = pages_of(name, args.pages)
        all_pages += pages
        total, ours, theirs = Counter(), Counter(), Counter()
        seconds = {"ours": 0.0, "trafilatura": 0.0}
        for file, url in pages:
            html = file.read_text(encoding="utf-8", errors="replace")
            words = truth[url] = labelled_words(html)
            total.update(label for _, label in words)
            start = time.perf_counter()
            stats: Counter[str] = Counter()
            items, _ = parse_page(html, PageLocation(url=url), stats)
            seconds["ours"] += time.perf_counter() - start
            removed.update({k: v for k, v in stats.items() if k.startswith("words_")})
            ours.update(kept_by_label(words, our_text(items)))
            start = time.perf_counter()
            extracted = trafilatura.extract(html, url=url, include_tables=True) or ""
            seconds["trafilatura"] += time.perf_counter() - start
            theirs.update(kept_by_label(words, extracted))
        results[name] = {
            "pages": len(pages), "body_words": total["body"], "nav_words": total["nav"],
            "ours_body_kept": share(ours, total, "body"),
            "ours_nav_kept": share(ours, total, "nav"),
            "trafilatura_body_kept": share(theirs, total, "body"),
            "trafilatura_nav_kept": share(theirs, total, "nav"),
            "ours_seconds": seconds["ours"], "trafilatura_seconds": seconds["trafilatura"]}

    with tempfile.TemporaryDirectory() as folder:
        warc = Path(folder) / "docs.warc.gz"
        write_warc(all_pages, warc)
        texts, warc_stats = warc_texts(warc)
    total, kept = Counter(), Counter()
    for _, url in all_pages:
        total.update(label for _, label in truth[url])
        kept.update(kept_by_label(truth[url], texts.get(url, "")))
    results["warc (all three sets)"] = {
        "pages": len(all_pages), "pages_read": len(texts), "body_words": total["body"],
        "nav_words": total["nav"], "ours_body_kept": share(kept, total, "body"),
        "ours_nav_kept": share(kept, total, "nav")}

    print(f"{'set':24} {'pages':>5} {'body words':>10} {'nav words':>9} "
          f"{'ours body':>9} {'ours nav':>8} {'traf. body':>10} {'traf. nav':>9}")
    for name, row in results.items():
        traf = (f"{row['trafilatura_body_kept']:10.1%} {row['trafilatura_nav_kept']:9.1%}"
                if "trafilatura_body_kept" in row else f"{'-':>10} {'-':>9}")
        print(f"{name:24} {row['pages']:5d} {row['body_words']:10d} {row['nav_words']:9d} "
              f"{row['ours_body_kept']:9.1%} {row['ours_nav_kept']:8.1%} {traf}")
    print("reader counters over the three sets: "
          + ", ".join(f"{k} {v}" for k, v in sorted(removed.items())))
    print("WARC reader counters: " + ", ".join(
        f"{k} {v}" for k, v in sorted(warc_stats.items()) if k.startswith(("words_", "rec"))))
    if args.json:
        args.json.write_text(json.dumps({"sets": results, "reader_counters": dict(removed)},
                                        indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
