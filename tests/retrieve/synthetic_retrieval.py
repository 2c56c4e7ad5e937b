"""Synthetic embeddings and workspaces with the contract names of the retrieve stage's inputs."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from realsyn.workspace import Workspace

DIM = 32


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def topic_data(n_topics: int, per_topic: int, n_images: int, dim: int = DIM, seed: int = 0,
               noise: float = 0.35):
    """Sentences drawn around topic directions, images around the same directions plus a
    shared offset (a modality gap); returns (sentences, sentence topics, images, topics)."""
    rng = np.random.default_rng(seed)
    topics = unit(rng.standard_normal((n_topics, dim)))
    sentence_topic = np.repeat(np.arange(n_topics), per_topic)
    sentences = unit(topics[sentence_topic] + noise * rng.standard_normal(
        (len(sentence_topic), dim)) / np.sqrt(dim) * 4)
    gap = 0.3 * unit(rng.standard_normal((1, dim)))
    image_topic = rng.integers(0, n_topics, n_images)
    images = unit(topics[image_topic] + gap + 0.1 * rng.standard_normal((n_images, dim)))
    return (sentences.astype(np.float32), sentence_topic, images.astype(np.float32),
            image_topic)


def _write_sharded(workspace: Workspace, dataset: str, vectors: np.ndarray, shard_size: int,
                   columns) -> None:
    """`dataset` in shards of `shard_size` rows, each with its float16 vectors; `columns(rows)`
    gives the table columns of a range of row numbers."""
    for shard_number, start in enumerate(range(0, len(vectors), shard_size)):
        rows = range(start, min(start + shard_size, len(vectors)))
        shard = f"{shard_number:05d}"
        workspace.write_table(dataset, shard, pa.table(columns(rows)))
        workspace.write_array(dataset, shard, vectors[start:rows.stop].astype(np.float16))


def write_sentences(workspace: Workspace, vectors: np.ndarray, doc_ids: list[str],
                    shard_size: int) -> None:
    _write_sharded(workspace, "sentences_final", vectors, shard_size, lambda rows: {
        "sentence_id": [f"s{i}" for i in rows], "doc_id": [doc_ids[i] for i in rows],
        "position": pa.array([0] * len(rows), pa.int32()),
        "index": pa.array(list(rows), pa.int32()),
        "text": [f"sentence number {i}" for i in rows]})


def write_images(workspace: Workspace, vectors: np.ndarray, doc_ids: list[str],
                 shard_size: int) -> None:
    _write_sharded(workspace, "images_final", vectors, shard_size, lambda rows: {
        "image_id": [f"i{i}" for i in rows], "doc_id": [doc_ids[i] for i in rows],
        "position": pa.array([1] * len(rows), pa.int32()),
        "url": [f"https://example.org/{i}.jpg" for i in rows],
        "bytes": pa.array([b"jpeg"] * len(rows), pa.binary()),
        "meta": ["{}"] * len(rows),
        "width": pa.array([200] * len(rows), pa.int32()),
        "height": pa.array([150] * len(rows), pa.int32())})
