"""Builders of synthetic workspaces with the contract names of the balance stage's inputs.

`images_final`: dataset (image_id, doc_id, position, url, bytes, ...) plus row-aligned float16
embeddings; `generated`: one row per image with text1..3, score1..3, sentence ids, syn_text.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from realsyn.workspace import Workspace

DIM = 16


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def write_images_final(workspace: Workspace, ids: list[str], vectors: np.ndarray,
                       shard_size: int) -> None:
    for number, start in enumerate(range(0, len(ids), shard_size)):
        part = ids[start:start + shard_size]
        table = pa.table({
            "image_id": part,
            "doc_id": [f"doc-{i}" for i in part],
            "position": pa.array([0] * len(part), pa.int32()),
            "url": [f"https://example.org/{i}.jpg" for i in part],
            "bytes": pa.array([i.encode() for i in part], pa.binary()),
        })
        shard = f"{number:05d}"
        workspace.write_table("images_final", shard, table)
        workspace.write_array("images_final", shard,
                              vectors[start:start + len(part)].astype(np.float16))


def write_generated(workspace: Workspace, ids: list[str], scores: np.ndarray,
                    syn_texts: list[str | None] | None = None, shard_size: int = 50,
                    with_scores: bool = True) -> None:
    n = len(ids)
    columns = {"image_id": ids, "doc_id": [f"doc-{i}" for i in ids],
               "url": [f"https://example.org/{i}.jpg" for i in ids]}
    for k in (1, 2, 3):
        columns[f"text{k}"] = [f"text {k} of {i}" for i in ids]
        if with_scores:
            columns[f"score{k}"] = pa.array(scores - 0.01 * (k - 1), pa.float32())
        columns[f"sentence_id{k}"] = [f"s{k}-{i}" for i in ids]
    columns["syn_text"] = syn_texts if syn_texts is not None else [f"syn of {i}" for i in ids]
    columns["syn_status"] = ["ok"] * n
    table = pa.table(columns)
    for number, start in enumerate(range(0, n, shard_size)):
        workspace.write_table("generated", f"{number:05d}", table.slice(start, shard_size))


def grouped_vectors(sizes: list[int], dim: int = DIM, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors in well-separated groups of the given sizes; returns (vectors, group)."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((len(sizes), dim)))
    group = np.repeat(np.arange(len(sizes)), sizes)
    vectors = unit(centres[group] + 0.05 * rng.standard_normal((len(group), dim)))
    return vectors.astype(np.float32), group
