"""HTML pages -> interleaved documents (text blocks and images in reading order).

The DOM is walked iteratively in document order (pages nested 100,000 deep must not hit
Python's recursion limit). Boilerplate subtrees (scripts, styles, navigation, footers, forms)
are skipped; every block element ends a text item, so paragraphs, headings and list items
become separate text items; `<img>` and `<picture>` become image items whose source is
resolved against the page (its URL or its path under the input root, and `<base>`).

Hostile pages: every pattern run over page text is linear (possessive quantifiers, no
scanning from every position), captions are looked up once per ancestor, an element that
cannot be read (a source that is no URL) is counted and skipped without losing the page, a
declared charset must be a web charset (text.py) and bytes that do not decode as text are
refused, counted, instead of being read as windows-1252.
"""

from __future__ import annotations

import codecs
import posixpath
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from realsyn.ingest.sources import WorkUnit, read_limited
from realsyn.ingest.text import looks_like_text, web_codec
from realsyn.records import image_item, make_document, text_item

# Subtrees that never hold the page's content.
SKIP_TAGS = frozenset({
    "script", "style", "noscript", "template", "nav", "aside", "form", "button", "select",
    "textarea", "iframe", "svg", "math", "object", "embed", "canvas", "video", "audio", "map",
    "dialog", "head", "-comment", "!doctype"})
# Page-level header/footer are boilerplate; inside an article they hold its title or notes.
CONTEXTUAL_TAGS = frozenset({"header", "footer"})
CONTENT_TAGS = frozenset({"article", "main"})
# Tags that continue the current text item; every other element starts a new one.
INLINE_TAGS = frozenset({
    "a", "abbr", "acronym", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em",
    "font", "i", "ins", "kbd", "label", "mark", "q", "s", "samp", "small", "span", "strike",
    "strong", "sub", "sup", "time", "tt", "u", "var", "wbr", "-text", "br"})
BOILERPLATE_CLASS = re.compile(
    r"(?:^|[\s_-])(nav|navbar|navheader|navfooter|menu|breadcrumbs?|sidebar|footer|cookies?|"
    r"banner|share|social|advert|ads|skip-link)(?:$|[\s_-])", re.IGNORECASE)
BOILERPLATE_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})

# Browsers cap the DOM depth (Chrome: 512); HTML5 tree building is quadratic in depth, so
# deeper tags are removed (their text stays) before parsing.
MAX_DEPTH = 512
# Possessive, and a tag never spans a "<": each "<" is scanned at most up to the next one, so
# "<a" repeated 50,000 times costs linear, not quadratic, time.
TAG_PATTERN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*+)[^<>]*+>")
VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
                       "meta", "source", "track", "wbr", "param", "keygen"})
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""",
                          re.IGNORECASE)


def normalize_space(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------- decoding
def decode_html(data: bytes, declared: str | None = None, stats: Counter[str] | None = None
                ) -> tuple[str, bool]:
    """Text of a page and whether a fallback was needed: BOM, then the declared charset (HTTP
    header), then `<meta charset>` (each only if a web charset; others are counted), then
    UTF-8; else windows-1252, which maps every byte."""
    for bom, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                       (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace"), False
    candidates = [declared] if declared else []
    found = META_CHARSET.search(data[:4096])
    if found:
        candidates.append(found.group(1).decode("ascii", "ignore"))
    candidates.append("utf-8")
    for name in candidates:
        codec = web_codec(_codec(name))
        if codec is None:
            if stats is not None:
                stats["pages_charset_refused"] += 1
            continue
        try:
            return data.decode(codec), False
        except UnicodeDecodeError:
            continue
    return data.decode("cp1252", errors="replace"), True


def _codec(name: str) -> str:
    # WHATWG: pages labelled latin-1 / ascii are really windows-1252.
    name = name.strip().lower()
    return "cp1252" if name in {"iso-8859-1", "latin1", "latin-1", "us-ascii", "ascii"} else name


def cap_depth(html: str, max_depth: int = MAX_DEPTH) -> tuple[str, int]:
    """Remove tags nested deeper than `max_depth` (with their end tags); returns the page and
    the number of tags removed. Text between removed tags is kept."""
    if html.count("<") <= max_depth:
        return html, 0
    depth = 0
    suppressed: Counter[str] = Counter()
    removed = 0
    pieces: list[str] = []
    last = 0
    for match in TAG_PATTERN.finditer(html):
        closing, name = match.group(1), match.group(2).lower()
        self_closing = match.group(0).endswith("/>")
        drop = False
        if closing:
            if suppressed[name]:
                suppressed[name] -= 1
                drop = True
            elif depth:
                depth -= 1
        elif name not in VOID_TAGS and not self_closing:
            if depth >= max_depth:
                suppressed[name] += 1
                drop = True
            else:
                depth += 1
        if drop:
            removed += 1
            pieces.append(html[last:match.start()])
            last = match.end()
    if not removed:
        return html, 0
    pieces.append(html[last:])
    return "".join(pieces), removed


# ---------------------------------------------------------------- resolving sources
class PageLocation:
    """Where a page lives: an absolute URL (web pages, WARC records) or a path under the
    input root (pages on disk). Resolves the sources of its images accordingly."""

    def __init__(self, url: str | None = None, path: str | None = None):
        self.url = url
        self.path = path
        self.base = url

    def set_base(self, href: str) -> None:
        href = href.strip()
        if not href:
            return
        if self.url:
            self.base = urljoin(self.url, href)
        elif urlsplit(href).scheme in ("http", "https"):
            self.base = href
        elif self.path is not None:
            # A relative <base> of a page on disk moves its folder.
            folder = posixpath.dirname(self.path)
            target = self._local(href if href.endswith("/") else href + "/", folder)
            self.path = posixpath.join(target, posixpath.basename(self.path))

    def resolve(self, src: str | None) -> str | None:
        src = (src or "").strip()
        if not src or src.startswith("#"):
            return None
        scheme = urlsplit(src).scheme.lower()
        if scheme == "data" or (scheme and len(scheme) > 1 and not self.base):
            return src  # data: URLs and absolute URLs of pages on disk
        if self.base:
            return urljoin(self.base, src)
        if src.startswith("//"):
            return "https:" + src
        return self._local(src, posixpath.dirname(self.path or ""))

    @staticmethod
    def _local(src: str, folder: str) -> str:
        path = unquote(src.split("#", 1)[0].split("?", 1)[0])
        joined = path.lstrip("/") if path.startswith("/") else posixpath.join(folder, path)
        return posixpath.normpath(joined) if joined else "."


def best_srcset_candidate(srcset: str) -> str | None:
    """The largest candidate of a srcset (by its width or density descriptor)."""
    best, best_score = None, -1.0
    for candidate in re.split(r",\s+", srcset.strip()):
        parts = candidate.strip().split()
        if not parts:
            continue
        score = 1.0  # no descriptor means 1x
        if len(parts) > 1 and parts[1][-1:].lower() in ("w", "x"):
            try:
                score = float(parts[1][:-1])
            except ValueError:
                continue
        if score > best_score:
            best, best_score = parts[0].rstrip(","), score
    return best


# ---------------------------------------------------------------- the DOM walk
def _is_boilerplate(node: LexborNode, in_content: bool) -> bool:
    tag = node.tag
    if tag in SKIP_TAGS:
        return True
    if tag in CONTEXTUAL_TAGS and not in_content:
        return True
    attributes = node.attributes
    if (attributes.get("role") or "").lower() in BOILERPLATE_ROLES:
        return True
    if "hidden" in attributes or (attributes.get("aria-hidden") or "").lower() == "true":
        return True
    names = f"{attributes.get('class') or ''} {attributes.get('id') or ''}"
    return bool(names.strip()) and BOILERPLATE_CLASS.search(names) is not None


def _figure_caption(figure: LexborNode) -> str | None:
    caption = figure.css_first("figcaption")
    return normalize_space(caption.text()) if caption is not None else None


def _class_caption(ancestor: LexborNode) -> str | None:
    for child in ancestor.iter():
        if "caption" in (child.attributes.get("class") or "").lower():
            return normalize_space(child.text()) or None
    return None


def _caption_of(node: LexborNode, cache: dict[tuple[int, str], str | None]) -> str | None:
    """Figure caption of an image: its <figure>'s <figcaption>, or a sibling block whose class
    says caption (DocBook and many CMSs) within two levels. Answers are cached per ancestor:
    a page of 50,000 images in one <div> must not scan that <div> 50,000 times."""
    ancestor, level = node.parent, 0
    while ancestor is not None and level < 6:
        if ancestor.tag == "figure":
            key = (ancestor.mem_id, "figure")
            if key not in cache:
                cache[key] = _figure_caption(ancestor)
            return cache[key]
        if level < 2:
            key = (ancestor.mem_id, "class")
            if key not in cache:
                cache[key] = _class_caption(ancestor)
            if cache[key]:
                return cache[key]
        ancestor, level = ancestor.parent, level + 1
    return None


def _image(node: LexborNode, location: PageLocation,
           captions: dict[tuple[int, str], str | None]) -> dict[str, Any] | None:
    """An image item from <img> or <picture>; None when it has no usable source."""
    img = node if node.tag == "img" else node.css_first("img")
    attributes = dict(img.attributes) if img is not None else {}
    candidates = [attributes.get("srcset"), attributes.get("data-srcset")]
    if node.tag == "picture":
        candidates += [source.attributes.get("srcset") for source in node.css("source")]
    src = None
    for srcset in candidates:
        if srcset and (src := best_srcset_candidate(srcset)):
            break
    src = src or attributes.get("src") or attributes.get("data-src") or attributes.get(
        "data-original")
    url = location.resolve(src)
    if url is None:
        return None
    meta = {key: attributes[key] for key in ("alt", "title", "width", "height", "srcset")
            if attributes.get(key)}
    if src != attributes.get("src") and attributes.get("src"):
        meta["src"] = attributes["src"]
    caption = _caption_of(img if img is not None else node, captions)
    if caption:
        meta["caption"] = caption
    return image_item(url, None, meta)


def extract_items(root: LexborNode, location: PageLocation, stats: Counter[str] | None = None
                  ) -> list[dict[str, Any]]:
    """Text and image items of a page in reading order; an image element that cannot be read
    is counted (`items_dropped_invalid_image`) and the rest of the page kept."""
    stats = stats if stats is not None else Counter()
    items: list[dict[str, Any]] = []
    buffer: list[str] = []
    captions: dict[tuple[int, str], str | None] = {}

    def flush() -> None:
        text = normalize_space("".join(buffer))
        buffer.clear()
        if text:
            items.append(text_item(text))

    # (node, in_content, exiting): iterative so that any depth is safe.
    stack: list[tuple[LexborNode, bool, bool]] = [(root, False, False)]
    while stack:
        node, in_content, exiting = stack.pop()
        tag = node.tag
        if exiting:
            flush()
            continue
        if tag == "-text":
            buffer.append(node.text(deep=False) or "")
            continue
        if tag == "br":
            buffer.append(" ")
            continue
        if _is_boilerplate(node, in_content):
            continue
        if tag in ("img", "picture"):
            try:
                item = _image(node, location, captions)
            except ValueError:  # a source no URL parser accepts ("http://[::1")
                stats["items_dropped_invalid_image"] += 1
                continue
            if item is not None:
                flush()
                items.append(item)
            continue
        block = tag not in INLINE_TAGS
        if block:
            flush()
            stack.append((node, in_content, True))
        in_content = in_content or tag in CONTENT_TAGS
        children = []
        child = node.child
        while child is not None:
            children.append(child)
            child = child.next
        stack.extend((c, in_content, False) for c in reversed(children))
    flush()
    return items


def parse_page(html: str, location: PageLocation, stats: Counter[str]
               ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Items and metadata (title, language, canonical URL) of one page."""
    html, removed = cap_depth(html)
    if removed:
        stats["pages_depth_capped"] += 1
    tree = LexborHTMLParser(html)
    base = tree.css_first("base[href]")
    if base is not None:
        try:
            location.set_base(base.attributes.get("href") or "")
        except ValueError:
            stats["pages_invalid_base_ignored"] += 1
    metadata: dict[str, Any] = {}
    title = tree.css_first("title")
    if title is not None and normalize_space(title.text()):
        metadata["title"] = normalize_space(title.text())
    html_node = tree.css_first("html")
    if html_node is not None and html_node.attributes.get("lang"):
        metadata["lang"] = html_node.attributes["lang"]
    canonical = tree.css_first("link[rel=canonical]")
    if canonical is not None and canonical.attributes.get("href"):
        metadata["canonical_url"] = canonical.attributes["href"]
    body = tree.body
    items = extract_items(body, location, stats) if body is not None else []
    return items, metadata


def page_document(data: bytes, source: str, location: PageLocation, stats: Counter[str],
                  declared_charset: str | None = None, extra: dict[str, Any] | None = None
                  ) -> dict[str, Any] | None:
    """The document of a page; None (counted) when its bytes are not text."""
    html, fallback = decode_html(data, declared_charset, stats)
    if not looks_like_text(html):
        stats["pages_dropped_not_text"] += 1
        return None
    if fallback:
        stats["pages_charset_fallback_cp1252"] += 1
    items, metadata = parse_page(html, location, stats)
    metadata.update(extra or {})
    return make_document(source, location.url, items, metadata)


def read_html(unit: WorkUnit, options: Any, stats: Counter[str]) -> Iterator[dict[str, Any]]:
    """One document per HTML file (`options`: the IngestConfig)."""
    data = read_limited(unit.file, options.max_document_bytes, stats)
    if data is None:
        return
    stats["records_in"] += 1
    document = page_document(data, unit.file.relpath, PageLocation(path=unit.file.relpath),
                             stats)
    if document is not None:
        yield document
