"""The public URL of an image as its document gives it (`raw_image_url` of the release).

Readers store it in the image's metadata under RAW_URL_KEY when the document states or implies
an absolute http(s) URL: the source resolved against the page's URL (HTML, WARC), an OBELICS
entry that is a URL, or the `src` of an OBELICS image's metadata (resolved against the row's
`url` when relative). Where the document names no URL (a page on disk, a local file entry
without metadata) the key is absent and the release falls back to the image's location.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

RAW_URL_KEY = "raw_url"


def http_url(value: Any) -> bool:
    """Whether a value is an absolute http(s) URL with a host."""
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def resolve_public(src: Any, page_url: str | None) -> str | None:
    """`src` as an absolute http(s) URL, resolved against the page's URL when relative."""
    if not isinstance(src, str) or not src.strip() or src.strip().startswith(("#", "data:")):
        return None
    src = src.strip()
    if http_url(src):
        return src
    if src.startswith("//"):
        return "https:" + src
    if http_url(page_url):
        try:
            joined = urljoin(page_url, src)
        except ValueError:
            return None
        return joined if http_url(joined) else None
    return None


def obelics_raw_url(entry: Any, meta: dict[str, Any], page_url: str | None) -> str | None:
    """An OBELICS image's public URL: the entry when it is one, else its metadata's `src`
    (OBELICS' own field), else `unformatted_src`, resolved against the row's URL."""
    if isinstance(entry, str) and http_url(entry):
        return entry.strip()
    for key in ("src", "unformatted_src"):
        url = resolve_public(meta.get(key), page_url)
        if url:
            return url
    return None
