"""The ablation's baseline: the same images, each paired without retrieval with the nearest text
item of its own document (the usual alt-text-like pairing of interleaved documents).

The baseline shards mirror the written ones (same shard names, keys and JPEG bytes); only the
caption changes. "Nearest" is by item position in the document; on a tie the item after the
image wins (captions usually follow their image). Images whose document has no text item are
left out and counted.
"""

from __future__ import annotations

import bisect
import json
import tarfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from realsyn.workspace import Workspace
from realsyn.write.webdataset import TarShardWriter

TEXTS = "texts"  # the ingest stage's text items (text_id, doc_id, position, text)


def document_texts(workspace: Workspace, doc_ids: set[str]) -> dict[str, list[tuple[int, str]]]:
    """doc_id -> [(position, text)] sorted by position, for the documents asked for."""
    wanted = pa.array(sorted(doc_ids), pa.string())
    items: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for shard in workspace.shards(TEXTS):
        table = workspace.read_table(TEXTS, shard, columns=["doc_id", "position", "text"])
        table = table.filter(pc.is_in(table.column("doc_id"), value_set=wanted))
        for doc_id, position, text in zip(*(table.column(c).to_pylist() for c in
                                             ("doc_id", "position", "text")), strict=True):
            if text and text.strip():
                items[doc_id].append((position, text.strip()))
    return {doc_id: sorted(found) for doc_id, found in items.items()}


def nearest_text(items: list[tuple[int, str]], position: int) -> str | None:
    """The text item nearest to `position`; on a tie, the one after it."""
    if not items:
        return None
    positions = [item[0] for item in items]
    after = bisect.bisect_right(positions, position)
    candidates = [i for i in (after - 1, after) if 0 <= i < len(items)]
    best = min(candidates, key=lambda i: (abs(positions[i] - position), positions[i] < position))
    return items[best][1]


def read_samples(path: Path) -> Iterator[dict[str, Any]]:
    """The samples of one WebDataset shard: {"__key__", "jpg", "txt", "json"}, in order."""
    sample: dict[str, Any] = {}
    with tarfile.open(path) as tar:
        for member in tar:
            if not member.isfile():
                continue
            key, _, extension = member.name.partition(".")
            if sample and sample["__key__"] != key:
                yield sample
                sample = {}
            sample["__key__"] = key
            sample[extension] = tar.extractfile(member).read()
    if sample:
        yield sample


def write_baseline_shards(workspace: Workspace, shards_dir: Path, out_dir: Path
                          ) -> dict[str, int]:
    """Mirror every shard of `shards_dir` into `out_dir` with nearest-text captions; returns
    counts (written, and dropped with their reason)."""
    shards = sorted(shards_dir.glob("*.tar"))
    metas = {}
    for path in shards:
        for sample in read_samples(path):
            metas[path.name, sample["__key__"]] = json.loads(sample["json"])
    texts = document_texts(workspace, {meta.get("doc_id") for meta in metas.values()
                                       if meta.get("doc_id")})
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = {"records_in": len(metas), "records_out": 0, "dropped_no_text_in_document": 0}
    sizes = {}
    for path in shards:
        writer = TarShardWriter(str(out_dir), int(path.stem))
        for sample in read_samples(path):
            meta = metas[path.name, sample["__key__"]]
            text = nearest_text(texts.get(meta.get("doc_id"), []), meta.get("position", -1))
            if text is None:
                stats["dropped_no_text_in_document"] += 1
                continue
            baseline = {"image_id": meta.get("image_id"), "doc_id": meta.get("doc_id"),
                        "position": meta.get("position"), "text1": text}
            writer.write(sample["jpg"], sample["__key__"], text, baseline)
        sizes[path.name] = writer.close()["successes"]
        stats["records_out"] += sizes[path.name]
    (out_dir / "sizes.json").write_text(json.dumps(sizes, indent=2, sort_keys=True))
    return stats
