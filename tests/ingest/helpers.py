"""Shared helpers of the ingest tests: running the stage, comparing documents, and a local
HTTP server on a loopback address."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from PIL import Image

from realsyn.config import parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.ingest.stage import IngestStage
from realsyn.stage import Context
from realsyn.workspace import Workspace

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "sample_corpus"
SAMPLE = SAMPLE_DIR / "sample.parquet"


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler],
            address: str = "127.0.0.1") -> Iterator[ThreadingHTTPServer]:
    """A threaded HTTP server of `handler` on a free port of a loopback `address`."""
    httpd = ThreadingHTTPServer((address, 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def link_sample_images(folder: Path) -> None:
    """`folder/images/` holding the sample's images as hard links: inside the input root
    (a symbolic link out of the root is refused), without copying bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SAMPLE_DIR / "images", folder / "images", copy_function=os.link)


def sample_rows() -> list[dict[str, Any]]:
    return pq.read_table(SAMPLE).to_pylist()


def run_ingest(workspace: Path, inputs: list[dict[str, Any]], workers: int = 1,
               shard_size: int = 1000, stage: IngestStage | None = None,
               task_memory_mb: int = 1024, **ingest: Any) -> tuple[Workspace, dict[str, Any]]:
    ingest.setdefault("fetch", {"enabled": False})
    config = parse_config({"workspace": str(workspace), "inputs": inputs, "ingest": ingest,
                           "executor": {"workers": workers, "shard_size": shard_size,
                                        "task_memory_mb": task_memory_mb}})
    ctx = Context(config=config, workspace=Workspace(config.workspace))
    stats = LocalExecutor(workers).run(stage or IngestStage(), ctx)
    return ctx.workspace, stats


def normalize(text: str) -> str:
    return " ".join(text.split())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pixel_hash(data: bytes) -> str:
    """Hash of the decoded RGB pixels (formats that re-encode images keep pixels, not bytes)."""
    with Image.open(io.BytesIO(data)) as image:
        if image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")  # what Pillow asks for palette transparency
        rgb = image.convert("RGB")
        return sha(f"{rgb.size}".encode() + rgb.tobytes())


def expected_documents(hash_image=sha) -> list[list[tuple[str, str]]]:
    """Per sample row, its items as ('text', normalized text) / ('image', content hash)."""
    documents = []
    for row in sample_rows():
        items = []
        for text, image in zip(row["texts"], row["images"], strict=True):
            if text is not None:
                items.append(("text", normalize(text)))
            else:
                items.append(("image", hash_image((SAMPLE_DIR / image).read_bytes())))
        documents.append(items)
    return documents


def ingested_documents(workspace: Workspace, hash_image=sha) -> dict[str, list[tuple[str, str]]]:
    """Per ingested document (by source), its items with image bytes from `images`."""
    images = workspace.read_dataset("images").to_pylist()
    by_position = {(row["doc_id"], row["position"]): row for row in images}
    result = {}
    for document in workspace.read_dataset("documents").to_pylist():
        items = []
        for position, item in enumerate(document["items"]):
            if item["kind"] == "text":
                items.append(("text", normalize(item["text"])))
            else:
                row = by_position[(document["doc_id"], position)]
                assert row["status"] == "ok", (row["url"], row["status"])
                items.append(("image", hash_image(row["bytes"])))
        result[document["source"]] = items
    return result


def image_meta(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["meta"])
