"""The bytes behind the image items of documents, and a cheap check that they are images.

Sources, by the item's location: bytes the reader found in the document itself (WARC records,
PDFs, inline dataset bytes), `data:` URLs, local files under the input root (the location is a
path relative to that root), and http(s) URLs (fetched in bulk by fetch.py). Every image gets a
status: "ok" or the reason its bytes are missing or unusable.
"""

from __future__ import annotations

import base64
import io
import json
import posixpath
import warnings
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from PIL import Image

from realsyn.ingest.sources import filesystem, inside_root, is_local

OK = "ok"


def check_image(data: bytes | None, max_bytes: int, max_pixels: int, verify: bool = True) -> str:
    """"ok", or why these bytes are not a usable image. Reads the header only."""
    if not data:
        return "empty"
    if len(data) > max_bytes:
        return "too_large"
    if not verify:
        return OK
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:4096]):
        return "unsupported_format_svg"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        return "too_many_pixels"
    except Exception:  # Pillow raises many types for bytes that are not an image
        return "not_an_image"
    if width * height > max_pixels:
        return "too_many_pixels"
    if width <= 0 or height <= 0:
        return "not_an_image"
    return OK


def decode_data_url(url: str) -> bytes | None:
    """Bytes of a `data:` URL; None if malformed."""
    header, comma, payload = url.partition(",")
    if not comma:
        return None
    try:
        if header.lower().endswith(";base64"):
            return base64.b64decode(payload, validate=False)
        return unquote_to_bytes(payload)
    except ValueError:
        return None


def location_kind(location: str | None) -> str:
    """none | data | http | file | unsupported | local | invalid (no URL parser accepts it)."""
    if not location:
        return "none"
    try:
        scheme = urlsplit(location).scheme.lower()
    except ValueError:
        return "invalid"
    if scheme == "data":
        return "data"
    if scheme in ("http", "https"):
        return "http"
    if scheme == "file":
        return "file"
    if scheme and len(scheme) > 1:
        return "unsupported"
    return "local"


class LocalImages:
    """Reads images by their path under an input root, refusing paths that leave the root
    (unless allowed), with a small cache because pages repeat icons."""

    def __init__(self, max_bytes: int, allow_outside_root: bool = False):
        self.max_bytes = max_bytes
        self.allow_outside_root = allow_outside_root
        self.cache: dict[tuple[str, str], tuple[bytes | None, str]] = {}

    def read(self, root: str, location: str) -> tuple[bytes | None, str]:
        key = (root, location)
        if key not in self.cache:
            if len(self.cache) > 4096:
                self.cache.clear()
            self.cache[key] = self._read(root, location)
        return self.cache[key]

    def _read(self, root: str, location: str) -> tuple[bytes | None, str]:
        fs, root_path = filesystem(root)
        if urlsplit(location).scheme.lower() == "file":
            location = unquote_to_bytes(urlsplit(location).path).decode("utf-8", "replace")
        if location.startswith("/"):
            path = posixpath.normpath(location)
            inside = path == root_path or path.startswith(root_path.rstrip("/") + "/")
        else:
            relative = posixpath.normpath(location)
            inside = relative != ".." and not relative.startswith("../")
            path = posixpath.join(root_path, relative)
        if not self.allow_outside_root and (not inside or (
                is_local(fs) and not inside_root(path, root_path))):  # a link leading out
            return None, "path_outside_input_root"
        try:
            with fs.open(path, "rb") as handle:
                data = handle.read(self.max_bytes + 1)
        except FileNotFoundError:
            return None, "missing_file"
        except (IsADirectoryError, PermissionError):
            return None, "unreadable_file"
        except OSError:
            return None, "unreadable_file"
        return data, OK


def image_meta(item_meta: str | None, **extra: Any) -> dict[str, Any]:
    try:
        meta = json.loads(item_meta) if item_meta else {}
    except ValueError:
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    meta.update({key: value for key, value in extra.items() if value is not None})
    return meta
