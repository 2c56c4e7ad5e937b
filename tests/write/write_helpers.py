"""Real image bytes of several kinds, and a synthetic workspace with `generated`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

from real_photos import encode
from realsyn.workspace import Workspace

CORPUS = Path(__file__).resolve().parents[2] / "examples" / "sample_corpus" / "images"
PHOTOS = sorted((CORPUS / "filters" / "examples").glob("*taj*.jpg"))


def image_material() -> list[tuple[str, bytes]]:
    """(kind, bytes): real photos plus the cases a writer must handle."""
    photos = [("photo", path.read_bytes()) for path in PHOTOS[:12]]
    gradient = np.linspace(0, 255, 900 * 600, dtype=np.uint8).reshape(600, 900)
    rgba = Image.fromarray(np.dstack([gradient, gradient[::-1], gradient, gradient]), "RGBA")
    return [
        *photos,
        ("big_png_rgba", encode(rgba, "PNG")),
        ("gray_jpeg", encode(Image.fromarray(gradient, "L"), "JPEG")),
        ("cmyk_jpeg", encode(Image.fromarray(gradient).convert("CMYK"), "JPEG")),
        ("corrupt", b"\xff\xd8\xff\xe0 this is not an image"),
    ]


def image_locations(ids: list[str]) -> tuple[list[str], list[str]]:
    """(location, metadata JSON) per image, in turn: a local file whose document gave its
    URL (`raw_url`), a URL, and a local file whose document had no URL."""
    urls, metas = [], []
    for n, image_id in enumerate(ids):
        public = f"https://example.org/images/{image_id}.jpg"
        urls.append(public if n % 3 == 1 else f"pages/images/{image_id}.jpg")
        metas.append(json.dumps({"raw_url": public} if n % 3 == 0 else {"alt": "x"}))
    return urls, metas


def build_generated_workspace(workspace: Workspace, material: list[tuple[str, bytes]],
                              copies: int = 2) -> list[str]:
    """`images_final` (bytes + embeddings, two shards) and `generated` for every image."""
    items = [(f"img{i:03d}-{kind}", data) for i, (kind, data) in
             enumerate(material * copies)]
    ids = [image_id for image_id, _ in items]
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(ids), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    half = len(ids) // 2
    urls, metas = image_locations(ids)
    for shard, (lo, hi) in enumerate([(0, half), (half, len(ids))]):
        table = pa.table({
            "image_id": ids[lo:hi],
            "doc_id": [f"doc{i // 3}" for i in range(lo, hi)],
            "url": urls[lo:hi],
            "bytes": pa.array([data for _, data in items[lo:hi]], pa.binary()),
            "meta": metas[lo:hi],
        })
        workspace.write_table("images_final", f"{shard:05d}", table)
        workspace.write_array("images_final", f"{shard:05d}", vectors[lo:hi].astype(np.float16))
    columns = {"image_id": ids, "doc_id": [f"doc{i // 3}" for i in range(len(ids))],
               "url": urls}
    for k in (1, 2, 3):
        columns[f"text{k}"] = [f"Real sentence {k} about image {i}." for i in ids]
        columns[f"score{k}"] = pa.array([0.56 - 0.01 * k] * len(ids), pa.float32())
        columns[f"sentence_id{k}"] = [f"sent{k}-{i}" for i in ids]
    columns["syn_text"] = [f"A synthetic caption of image {i}." for i in ids]
    columns["syn_status"] = ["ok"] * len(ids)
    generated = pa.table(columns)
    workspace.write_table("generated", "00000", generated.slice(0, 20))
    workspace.write_table("generated", "00001", generated.slice(20))
    return ids
