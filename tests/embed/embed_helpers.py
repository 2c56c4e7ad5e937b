"""Helpers of the embed tests: small `images_dedup` / `sentences_dedup` datasets built here
(the upstream stages are tested elsewhere): real photos as JPEG/PNG bytes, plus broken rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from real_photos import encode as encode  # re-exported for conftest.py
from real_photos import photo_path
from realsyn.config import parse_config
from realsyn.records import image_id, sentence_id
from realsyn.stage import Context
from realsyn.workspace import Workspace


def sample_photo_paths() -> dict[str, Path]:
    return {"cat": photo_path("chelsea"), "coffee": photo_path("coffee"),
            "rocket": photo_path("rocket"), "flower": photo_path("flower")}


def images_table(blobs: list[bytes | None], doc: str) -> pa.Table:
    rows = [{"image_id": image_id(doc, position, f"http://x/{doc}/{position}.jpg"),
             "doc_id": doc, "position": position, "url": f"http://x/{doc}/{position}.jpg",
             "bytes": blob, "meta": "{}", "width": 1, "height": 1, "format": "JPEG",
             "phash": 0} for position, blob in enumerate(blobs)]
    return pa.Table.from_pylist(rows)


def sentences_table(texts: list[str | None], doc: str) -> pa.Table:
    rows = [{"sentence_id": sentence_id(doc, 0, index, text or ""), "doc_id": doc,
             "position": 0, "index": index, "text": text} for index, text in enumerate(texts)]
    return pa.Table.from_pylist(rows, schema=pa.schema([
        ("sentence_id", pa.string()), ("doc_id", pa.string()), ("position", pa.int32()),
        ("index", pa.int32()), ("text", pa.string())]))


# Shard 00000: cat, broken bytes, coffee; shard 00001: missing bytes, rocket, flower (as PNG).
IMAGE_NAMES = [["cat", "broken", "coffee"], ["missing", "rocket", "flower"]]
SENTENCES = [["a photo of a cat", None, "a cup of coffee"],
             ["a rocket on a launch pad", "a pink flower"]]


def make_context(workspace: Workspace, **embed) -> Context:
    config = parse_config({"workspace": workspace.url, "embed": embed})
    return Context(config=config, workspace=workspace)
