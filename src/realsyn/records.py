"""Arrow schemas of the datasets that flow between stages, and stable record ids.

Ids are derived from provenance and content only (never from process order, time or the
machine), so two runs over the same inputs produce the same ids and the same shards.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pyarrow as pa

from realsyn.dataflow.digest import stable_id

ITEM_TEXT = "text"
ITEM_IMAGE = "image"

# One item of an interleaved document: exactly one of text / image is meaningful, by `kind`.
DOCUMENT_ITEM = pa.struct(
    [
        ("kind", pa.string()),  # "text" | "image"
        ("text", pa.string()),  # text items: the text
        ("image_url", pa.string()),  # image items: absolute URL or local path, as resolved
        ("image_bytes", pa.binary()),  # image items: the encoded bytes when the source has them
        ("image_meta", pa.string()),  # image items: JSON (alt, caption, title, srcset, ...)
    ]
)

DOCUMENT_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("url", pa.string()),  # the document's own URL when known
        ("source", pa.string()),  # input file (relative to its input root) and locator
        ("metadata", pa.string()),  # JSON object
        ("items", pa.list_(DOCUMENT_ITEM)),
    ]
)

# Raw images as referenced by documents; bytes may be null until fetched.
IMAGE_SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("doc_id", pa.string()),
        ("position", pa.int32()),  # index of the item in its document
        ("url", pa.string()),
        ("bytes", pa.binary()),
        ("meta", pa.string()),  # JSON object
        ("status", pa.string()),  # "ok" or the reason the bytes are missing
    ]
)

# Text items of documents, before sentence splitting.
TEXT_SCHEMA = pa.schema(
    [
        ("text_id", pa.string()),
        ("doc_id", pa.string()),
        ("position", pa.int32()),
        ("text", pa.string()),
    ]
)

SENTENCE_SCHEMA = pa.schema(
    [
        ("sentence_id", pa.string()),
        ("doc_id", pa.string()),
        ("position", pa.int32()),  # index of the text item in its document
        ("index", pa.int32()),  # index of the sentence in its text item
        ("text", pa.string()),
    ]
)


def document_id(source: str, url: str | None) -> str:
    return stable_id("doc", source, url)


def image_id(doc_id: str, position: int, url: str | None, content: bytes | None = None) -> str:
    # Inline images without a URL are identified by their bytes.
    content_key = hashlib.sha256(content).hexdigest() if (content and not url) else None
    return stable_id("img", doc_id, position, url, content_key)


def text_id(doc_id: str, position: int) -> str:
    return stable_id("txt", doc_id, position)


def sentence_id(doc_id: str, position: int, index: int, text: str) -> str:
    return stable_id("sent", doc_id, position, index, text)


def text_item(text: str) -> dict[str, Any]:
    return {"kind": ITEM_TEXT, "text": text, "image_url": None, "image_bytes": None,
            "image_meta": None}


def image_item(url: str | None, data: bytes | None = None,
               meta: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"kind": ITEM_IMAGE, "text": None, "image_url": url, "image_bytes": data,
            "image_meta": json.dumps(meta or {}, ensure_ascii=False, sort_keys=True)}


def make_document(source: str, url: str | None, items: list[dict[str, Any]],
                  metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "doc_id": document_id(source, url),
        "url": url,
        "source": source,
        "metadata": json.dumps(metadata or {}, ensure_ascii=False, sort_keys=True),
        "items": items,
    }


def documents_table(documents: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(documents, schema=DOCUMENT_SCHEMA)
