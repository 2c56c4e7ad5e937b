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

from realsyn.ingest.chrome_tokens import has_token, names_reason
from realsyn.ingest.raw_urls import RAW_URL_KEY, http_url, resolve_public
from realsyn.ingest.sources import WorkUnit, read_limited
from realsyn.ingest.srcset import image_candidates, largest_candidate, parse_srcset
from realsyn.ingest.text import looks_like_text, web_codec
from realsyn.records import image_item, make_document, text_item

# Subtrees that never hold the page's content, and the reason their words are counted under.
SKIP_TAGS = {
    "script": "script", "style": "style", "noscript": "noscript", "template": "template",
    "nav": "boilerplate_nav", "form": "form", "button": "form", "select": "form",
    "textarea": "form", "dialog": "dialog", "head": "head", "iframe": "embedded",
    "svg": "embedded", "math": "embedded", "object": "embedded", "embed": "embedded",
    "canvas": "embedded", "video": "embedded", "audio": "embedded", "map": "embedded"}
# Comments and the doctype are no page text: skipped without a count.
NOT_TEXT_TAGS = frozenset({"-comment", "!doctype"})
# Page-level header/footer are boilerplate; inside an article they hold its title or notes.
CONTEXTUAL_TAGS = {"header": "boilerplate_header", "footer": "boilerplate_footer"}
CONTENT_TAGS = frozenset({"article", "main"})
# Tags that continue the current text item; every other element starts a new one.
INLINE_TAGS = frozenset({
    "a", "abbr", "acronym", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em",
    "font", "i", "ins", "kbd", "label", "mark", "q", "s", "samp", "small", "span", "strike",
    "strong", "sub", "sup", "time", "tt", "u", "var", "wbr", "-text", "br"})
# Class and id tokens of page chrome are decided token by token (chrome_tokens.py):
# "site-footer" is chrome, "footer-note" and "share-price" are content.
BOILERPLATE_ROLES = {"navigation": "boilerplate_nav", "banner": "boilerplate_banner",
                     "contentinfo": "boilerplate_footer", "search": "form"}
# Side boxes (<aside>, class "sidebar", role "complementary") are kept when they hold prose and
# dropped as a link list when most of their words are link text (a sidebar menu).
LINK_LIST_MIN_SHARE = 0.6
# A pager: a small block whose every word is link text naming a direction ("Prev | Next").
PAGER_WORDS = frozenset({"prev", "previous", "next", "up", "home", "top", "back", "forward",
                         "«", "»", "‹", "›", "<", ">", "|", "<<", ">>"})

# Browsers cap the DOM depth (Chrome: 512); HTML5 tree building is quadratic in depth, so
# deeper tags are removed (their text stays) before parsing.
MAX_DEPTH = 512
# Possessive, and a tag never spans a "<": each "<" is scanned at most up to the next one, so
# "<a" repeated 50,000 times costs linear, not quadratic, time.
TAG_PATTERN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*+)[^<>]*+>")
VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
                       "meta", "source", "track", "wbr", "param", "keygen"})
# Elements whose content the parser (lexbor, scripting off) reads as text up to their end tag.
RAW_TEXT_TAGS = ("script", "style", "xmp", "iframe", "noembed", "noframes", "textarea", "title")
# What the self-closed pass looks at: a comment's start, an XHTML-style `<x .../>` (possessive up
# to the next "<" or ">", the "/" checked behind the ">"), or a raw-text element opened. Each
# "<" is scanned at most twice up to the next "<" or ">": linear like TAG_PATTERN.
SELF_CLOSED_SCAN = re.compile(
    r"<(?:(!--)|([A-Za-z][A-Za-z0-9:-]*+)[^<>]*+(?<=/)>|(?i:(" + "|".join(RAW_TEXT_TAGS)
    + r"))(?![A-Za-z0-9:-])[^<>]*+>)")
RAW_TEXT_END = {name: re.compile(rf"</{name}(?=[\s/>])", re.IGNORECASE) for name in RAW_TEXT_TAGS}
# The end tag right after a self-closed tag (whitespace between): `<script src=a.js/></script>`.
END_TAG_NEXT = re.compile(r"\s*+</([A-Za-z][A-Za-z0-9:-]*+)")
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""",
                          re.IGNORECASE)


WORD = re.compile(r"\w+")


# Runs of whitespace as str.split() sees it (both use Python's Unicode whitespace test).
SPACES = re.compile(r"\s+")
NON_SPACE = re.compile(r"\S+")
# Whitespace that normalising changes: any but a plain space, or two spaces in a row.
_UNNORMAL_SPACE = re.compile(r"[^\S ]|  ")
# Text is normalised in pieces this long: re.sub and str.split hold a list of every word, and
# a 45 MiB text node is 9 million words (1.5 GB of small strings).
_SPACE_CHUNK = 1 << 20


def normalize_space(text: str) -> str:
    """" ".join(text.split()), in memory proportional to the text, not to its word count."""
    if not _UNNORMAL_SPACE.search(text):
        return text.strip(" ")
    pieces, start = [], 0
    while start < len(text):
        end = min(start + _SPACE_CHUNK, len(text))
        # A piece ends where a word starts, so no whitespace run is cut in two.
        word = NON_SPACE.search(text, end) if end < len(text) else None
        end = word.start() if word else len(text)
        pieces.append(SPACES.sub(" ", text[start:end]))
        start = end
    return "".join(pieces).strip(" ")


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


def close_self_closed(html: str) -> tuple[str, int]:
    """Close each self-closed non-void element (`<iframe src=x />`, `<script/>`, `<title/>`,
    `<i class=icon aria-hidden=true/>`) with its end tag (`<iframe src=x /></iframe>`);
    returns the page and how many were closed.

    HTML parsers ignore the "/" of a non-void start tag, so an XHTML page served as HTML
    leaves the element open: a raw-text or RCDATA element (script, style, iframe, noscript,
    noembed, noframes, xmp, textarea, title) then swallows the rest of the page as its text,
    and any other one (a hidden icon, a button) takes in every following sibling. Void and
    foreign (SVG, MathML) self-closed tags mean the same either way. Comments and the text of
    raw-text elements are left as they are (`"<script/>"` in a script is no tag)."""
    if "/>" not in html:
        return html, 0
    pieces: list[str] = []
    last = pos = closed = 0
    while (match := SELF_CLOSED_SCAN.search(html, pos)) is not None:
        pos = match.end()
        if match.group(1):  # a comment ends at the first "-->" ("<!-->" included)
            end = html.find("-->", match.start() + 2)
            if end < 0:
                break
            pos = end + 3
        elif match.group(3):  # a raw-text element opened: its text ends at its end tag
            end_tag = RAW_TEXT_END[match.group(3).lower()].search(html, pos)
            if end_tag is None:
                break
            pos = end_tag.end()
        elif _needs_end_tag(html, match):
            pieces += [html[last:pos], f"</{match.group(2)}>"]
            last, closed = pos, closed + 1
    pieces.append(html[last:])
    return "".join(pieces), closed


def _needs_end_tag(html: str, match: re.Match[str]) -> bool:
    """Whether a self-closed tag leaves an element open: not void, not already closed (a
    second end tag could close its parent)."""
    name = match.group(2).lower()
    if name in VOID_TAGS:
        return False
    following = END_TAG_NEXT.match(html, match.end())
    return following is None or following.group(1).lower() != name


# ---------------------------------------------------------------- resolving sources
class PageLocation:
    """Where a page lives: an absolute URL (web pages, WARC records) or a path under the
    input root (pages on disk). Resolves the sources of its images accordingly, and gives
    each image's public URL (`raw_url`): the source resolved against the page's URL, or for
    a page on disk against its canonical URL when it declares one."""

    def __init__(self, url: str | None = None, path: str | None = None):
        self.url = url
        self.path = path
        self.base = url
        self.base_href = ""
        self.public_base: str | None = url

    def set_public_url(self, canonical: str) -> None:
        """A page on disk that names its canonical http(s) URL: its images' public URLs
        resolve against it (and its <base>)."""
        if self.url is None and http_url(canonical.strip()):
            self.public_base = urljoin(canonical.strip(), self.base_href)

    def set_base(self, href: str) -> None:
        href = href.strip()
        if not href:
            return
        self.base_href = href
        if self.url:
            self.public_base = self.base = urljoin(self.url, href)
        elif urlsplit(href).scheme in ("http", "https"):
            self.public_base = self.base = href
        elif self.path is not None:
            # A relative <base> of a page on disk moves its folder as a browser resolves it
            # (and as public_base does): "../assets/" names a folder, "../assets" a file in
            # "..". Only a query or fragment names the page itself: its folder stays.
            path = href.split("#", 1)[0].split("?", 1)[0]
            if not path:
                return
            target = self._local(path, posixpath.dirname(self.path))
            if not (path.endswith("/") or posixpath.basename(path) in (".", "..")):
                target = posixpath.dirname(target)
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

    def raw_url(self, src: str | None) -> str | None:
        """The absolute http(s) URL of a source as the page gives it; None where the page
        has no URL to resolve it against (a page on disk) or the source is inline data."""
        return resolve_public(src, self.public_base)

    @staticmethod
    def _local(src: str, folder: str) -> str:
        path = unquote(src.split("#", 1)[0].split("?", 1)[0])
        joined = path.lstrip("/") if path.startswith("/") else posixpath.join(folder, path)
        return posixpath.normpath(joined) if joined else "."


# ---------------------------------------------------------------- the DOM walk
def word_count(text: str) -> int:
    """Words as the counters count them: runs of letters and digits (punctuation is none)."""
    return sum(1 for _ in WORD.finditer(text))


def subtree_words(node: LexborNode) -> int:
    """Words of a subtree; its text nodes are separated ("<li>Prev</li><li>Home</li>" is two
    words, not "PrevHome")."""
    return word_count(node.text(separator=" "))


def _boilerplate_reason(node: LexborNode, in_content: bool) -> str | None:
    """Why a subtree is page chrome rather than content (the counter's reason), or None."""
    tag = node.tag
    if tag in SKIP_TAGS:
        return SKIP_TAGS[tag]
    if tag in CONTEXTUAL_TAGS and not in_content:
        return CONTEXTUAL_TAGS[tag]
    attributes = node.attributes
    role = (attributes.get("role") or "").lower()
    if role in BOILERPLATE_ROLES:
        return BOILERPLATE_ROLES[role]
    if "hidden" in attributes or (attributes.get("aria-hidden") or "").lower() == "true":
        return "hidden"
    return names_reason(f"{attributes.get('class') or ''} {attributes.get('id') or ''}")


def _is_side_box(node: LexborNode) -> bool:
    attributes = node.attributes
    return node.tag == "aside" or (attributes.get("role") or "").lower() == "complementary" \
        or has_token(attributes.get("class") or "", "sidebar")


def _is_link_list(node: LexborNode) -> bool:
    """Whether most words of a subtree are link text (a menu, not prose)."""
    total = subtree_words(node)
    if not total:
        return False
    linked = sum(subtree_words(link) for link in node.css("a[href]"))
    return linked / total >= LINK_LIST_MIN_SHARE


def _is_pager(pieces: list[tuple[str, bool]]) -> bool:
    """Whether a text item is a pager: every word is link text naming a direction, or a
    separator between such links ("|", "»"). Decided at the first other word, so a huge text
    item costs no list of its words."""
    named_direction = False
    for text, linked in pieces:
        for match in NON_SPACE.finditer(text):
            word = match.group().lower()
            if word not in PAGER_WORDS or not (linked or not word.isalpha()):
                return False
            named_direction = named_direction or word.isalpha()
    return named_direction


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
    # The largest candidate of every source set the element offers: the <img>'s (its srcset
    # with its src as 1x), a lazy loader's data-srcset, and each <source> of a <picture>.
    candidates = image_candidates(attributes.get("srcset"), attributes.get("src"))
    candidates += parse_srcset(attributes.get("data-srcset") or "")
    if node.tag == "picture":
        for source in node.css("source"):
            candidates += parse_srcset(source.attributes.get("srcset") or "")
    best = largest_candidate(candidates)
    src = best.url if best is not None else (
        attributes.get("data-src") or attributes.get("data-original"))
    url = location.resolve(src)
    if url is None:
        return None
    meta = {key: attributes[key] for key in ("alt", "title", "width", "height", "srcset")
            if attributes.get(key)}
    if attributes.get("src") and src != attributes["src"].strip():
        meta["src"] = attributes["src"]
    raw_url = location.raw_url(src)
    if raw_url:
        meta[RAW_URL_KEY] = raw_url
    caption = _caption_of(img if img is not None else node, captions)
    if caption:
        meta["caption"] = caption
    return image_item(url, None, meta)


# Inline elements that set a run-in heading or a term apart: "<p><b>Global root</b><br>The
# term ...</p>", as groff's HTML writes a man page's subsection and tagged paragraphs.
RUN_IN_TAGS = frozenset({"b", "strong"})


def _ends_run_in(br: LexborNode, buffer: list[tuple[str, bool]]) -> bool:
    """A line break ends a text item, not a line of it, after a lead-in ("... include:<br>
    AF_UNIX") or after a bold run-in that opens its block ("<p><b>Key types</b><br>The kernel
    provides ..."): joined with a space, the heading or the list's first item would be glued
    to the sentence next to it. Every other break is a line of the same text (a sentence cut
    by a break is joined again)."""
    if buffer and buffer[-1][0].rstrip().endswith(":"):
        return True
    previous = _previous_content(br)
    if previous is None or previous.tag not in RUN_IN_TAGS:
        return False
    parent = br.parent
    return (parent is not None and parent.tag not in INLINE_TAGS
            and _previous_content(previous) is None)


def _previous_content(node: LexborNode) -> LexborNode | None:
    """The sibling before `node`, blank text skipped (comments are no content either)."""
    sibling = node.prev
    while sibling is not None and (sibling.tag in NOT_TEXT_TAGS or (
            sibling.tag == "-text" and not (sibling.text(deep=False) or "").strip())):
        sibling = sibling.prev
    return sibling


def extract_items(root: LexborNode, location: PageLocation, stats: Counter[str] | None = None
                  ) -> list[dict[str, Any]]:
    """Text and image items of a page in reading order. The words of every subtree left out
    are counted by reason (`words_removed_<reason>`), those kept as `words_kept`; an image
    element that cannot be read is counted (`items_dropped_invalid_image`) and the rest of the
    page kept."""
    stats = stats if stats is not None else Counter()
    items: list[dict[str, Any]] = []
    buffer: list[tuple[str, bool]] = []  # (text, inside a link)
    captions: dict[tuple[int, str], str | None] = {}

    def flush() -> None:
        text = normalize_space("".join(piece for piece, _ in buffer))
        if text and _is_pager(buffer):
            stats["words_removed_boilerplate_nav"] += word_count(text)
            text = ""
        buffer.clear()
        if text:
            stats["words_kept"] += word_count(text)
            items.append(text_item(text))

    # (node, in_content, in_side_box, in_link, exiting): iterative so that any depth is safe.
    stack: list[tuple[LexborNode, bool, bool, bool, bool]] = [(root, False, False, False, False)]
    while stack:
        node, in_content, in_side, in_link, exiting = stack.pop()
        tag = node.tag
        if exiting:
            flush()
            continue
        if tag == "-text":
            buffer.append((node.text(deep=False) or "", in_link))
            continue
        if tag == "br":
            if _ends_run_in(node, buffer):  # a heading or a lead-in ends at the break
                flush()
            else:
                buffer.append((" ", in_link))
            continue
        if tag in NOT_TEXT_TAGS:
            continue
        reason = _boilerplate_reason(node, in_content)
        # Only the outermost side box is measured: nested boxes must not cost quadratic time.
        if reason is None and not in_side and _is_side_box(node):
            in_side = True
            if _is_link_list(node):
                reason = "boilerplate_link_list"
        if reason is not None:
            if words := subtree_words(node):
                stats[f"words_removed_{reason}"] += words
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
            stack.append((node, in_content, in_side, in_link, True))
        in_content = in_content or tag in CONTENT_TAGS
        in_link = in_link or (tag == "a" and "href" in node.attributes)
        children = []
        child = node.child
        while child is not None:
            children.append(child)
            child = child.next
        stack.extend((c, in_content, in_side, in_link, False) for c in reversed(children))
    flush()
    return items


def parse_page(html: str, location: PageLocation, stats: Counter[str]
               ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Items and metadata (title, language, canonical URL) of one page."""
    html, closed = close_self_closed(html)
    if closed:
        stats["pages_self_closed_tags_closed"] += 1
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
        location.set_public_url(canonical.attributes["href"])
    head = tree.head
    if head is not None:  # the body's scripts and styles are counted by the walk
        for node in head.css("script, style, noscript, template"):
            if words := subtree_words(node):
                stats[f"words_removed_{SKIP_TAGS[node.tag]}"] += words
    body = tree.body
    items = extract_items(body, location, stats) if body is not None else []
    return items, metadata


# Removed words that do not count as lost text: a reader of the page never sees them, or, for
# tables of contents, they are link indexes by design (an index page is mostly its TOC: on the
# Python, GIMP and Debian manuals every index page would be flagged otherwise).
NOT_LOST_REMOVALS = frozenset({"script", "style", "noscript", "template", "head",
                               "boilerplate_toc"})
# The key of a page document that carries its removed visible words to the ingest stage.
VISIBLE_WORDS_REMOVED = "visible_words_removed"


def visible_words_removed(page_stats: Counter[str]) -> int:
    """Words of one page's visible text that the reader removed (any reason but scripts,
    styles, the head and tables of contents)."""
    return sum(value for key, value in page_stats.items() if key.startswith("words_removed_")
               and key.removeprefix("words_removed_") not in NOT_LOST_REMOVALS)


def page_document(data: bytes, source: str, location: PageLocation, stats: Counter[str],
                  declared_charset: str | None = None, extra: dict[str, Any] | None = None
                  ) -> dict[str, Any] | None:
    """The document of a page; None (counted) when its bytes are not text. It carries the
    page's removed visible words under VISIBLE_WORDS_REMOVED (the ingest stage takes it off)."""
    html, fallback = decode_html(data, declared_charset, stats)
    if not looks_like_text(html):
        stats["pages_dropped_not_text"] += 1
        return None
    if fallback:
        stats["pages_charset_fallback_cp1252"] += 1
    page_stats: Counter[str] = Counter()
    items, metadata = parse_page(html, location, page_stats)
    stats.update(page_stats)
    metadata.update(extra or {})
    document = make_document(source, location.url, items, metadata)
    document[VISIBLE_WORDS_REMOVED] = visible_words_removed(page_stats)
    return document


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
