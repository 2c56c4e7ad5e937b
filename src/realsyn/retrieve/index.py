"""A persistent inverted-file index of sentence embeddings: centres plus per-cluster lists.

On disk (one folder, local so that it can be memory-mapped):

    meta.json       sizes, build parameters, encoder identity, counters (written last)
    centroids.npy   float32 (n_clusters, dim), L2-normalised
    offsets.npy     int64 (n_clusters + 1,): cluster c owns sorted rows offsets[c]:offsets[c+1]
    vectors.npy     float16 (n, dim): the sentence embeddings sorted by cluster
    rows.npy        int64 (n,): each sorted row's row number in the input (global, over shards)
    doc_keys.npy    int64 (n,): a 64-bit key of each sentence's document (own-document filter)

The sorted vectors are written through a memory map and read back as one, so neither building
nor searching needs the embeddings in RAM: a search touches only the lists it probes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from realsyn.retrieve import clustering
from realsyn.workspace import TEMPORARY_PREFIX

FORMAT_VERSION = 1


class EmptyIndexError(ValueError):
    """No usable embedding to index (every row missing, non-finite or zero)."""


def doc_key(doc_id: str | None) -> int:
    """A signed 64-bit key of a document id (equal ids, equal keys)."""
    digest = hashlib.blake2b(str(doc_id).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def doc_keys(doc_ids: Sequence[str | None]) -> np.ndarray:
    return np.fromiter((doc_key(d) for d in doc_ids), dtype=np.int64, count=len(doc_ids))


def valid_rows(block: np.ndarray) -> np.ndarray:
    """Mask of rows usable as embeddings: finite and not (near) zero."""
    mask = np.empty(len(block), dtype=bool)
    for start in range(0, len(block), clustering.CHUNK_ROWS):
        chunk = np.asarray(block[start:start + clustering.CHUNK_ROWS], dtype=np.float32)
        finite = np.isfinite(chunk).all(axis=1)
        norms = np.linalg.norm(np.where(finite[:, None], chunk, 0), axis=1)
        mask[start:start + len(chunk)] = finite & (norms > 1e-3)
    return mask


@dataclass
class ClusterIndex:
    centroids: np.ndarray
    offsets: np.ndarray
    vectors: np.ndarray
    rows: np.ndarray
    doc_keys: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        return len(self.centroids)

    @property
    def dim(self) -> int:
        return self.centroids.shape[1]

    @property
    def ntotal(self) -> int:
        return len(self.rows)

    def list_bounds(self, cluster: int) -> tuple[int, int]:
        return int(self.offsets[cluster]), int(self.offsets[cluster + 1])

    def list_sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def cluster_of_sorted(self, positions: np.ndarray) -> np.ndarray:
        """The cluster owning each sorted row position (-1 for negative positions)."""
        clusters = np.searchsorted(self.offsets, positions, side="right") - 1
        return np.where(positions >= 0, clusters, -1)

    @classmethod
    def load(cls, folder: str | os.PathLike, mmap: bool = True) -> ClusterIndex:
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"index in {folder} has format {meta.get('format_version')}, "
                             f"expected {FORMAT_VERSION}; rebuild it")
        mode = "r" if mmap else None

        def load(name: str) -> np.ndarray:
            return np.load(folder / name, mmap_mode=mode, allow_pickle=False)

        return cls(centroids=np.array(load("centroids.npy")), offsets=np.array(load("offsets.npy")),
                   vectors=load("vectors.npy"), rows=load("rows.npy"),
                   doc_keys=load("doc_keys.npy"), meta=meta)

    @staticmethod
    def exists(folder: str | os.PathLike) -> bool:
        return (Path(folder) / "meta.json").exists()


@dataclass
class BuildParams:
    n_clusters: int | None = None
    sentences_per_cluster: int = 420
    lists_per_cluster: int = 1
    iterations: int = 20
    training_points_per_cluster: int = 64
    max_training_points: int = 1_000_000
    seed: int = 0


def build_index(folder: str | os.PathLike, blocks: list[np.ndarray], keys: np.ndarray,
                params: BuildParams, extra_meta: dict[str, Any] | None = None) -> ClusterIndex:
    """Cluster the rows of `blocks` (row-aligned shards, e.g. memmaps) and write the index.

    `keys` holds one document key per input row (over all blocks, in order). Rows that are not
    usable embeddings (non-finite, zero) are left out and counted in meta["dropped_bad_embedding"].
    The index is built in a temporary folder beside `folder` and renamed into place; the
    temporaries of builds that were killed are removed first (one build per folder at a time).
    """
    started = time.perf_counter()
    folder = Path(folder)
    sizes = [len(block) for block in blocks]
    n_input = int(sum(sizes))
    if len(keys) != n_input:
        raise ValueError(f"{len(keys)} document keys for {n_input} embedding rows")
    dim = int(blocks[0].shape[1]) if blocks else 0
    valid = np.concatenate([valid_rows(b) for b in blocks]) if blocks else np.zeros(0, bool)
    kept = np.flatnonzero(valid).astype(np.int64)
    n = len(kept)
    if n == 0:
        raise EmptyIndexError("no usable sentence embeddings to index")

    n_clusters = clustering.list_count(n, params.n_clusters, params.sentences_per_cluster,
                                       params.lists_per_cluster)
    sample_size = clustering.training_sample_size(
        n, n_clusters, params.training_points_per_cluster, params.max_training_points)
    sample = clustering.gather_rows(blocks, kept[clustering.sample_rows(n, sample_size,
                                                                        params.seed)])
    centroids = clustering.train_centroids(sample, n_clusters, params.iterations, params.seed)
    del sample
    trained = time.perf_counter()

    coarse = clustering.centroid_index(centroids)
    assignment = clustering.assign(coarse, blocks)[kept]
    order = np.argsort(assignment, kind="stable")
    offsets = np.zeros(n_clusters + 1, dtype=np.int64)
    np.cumsum(np.bincount(assignment, minlength=n_clusters), out=offsets[1:])
    destination = np.empty(n, dtype=np.int64)
    destination[order] = np.arange(n, dtype=np.int64)

    for stale in folder.parent.glob(f"{TEMPORARY_PREFIX}*-{folder.name}"):
        shutil.rmtree(stale, ignore_errors=True)  # a killed build's copy of the vectors
    temporary = folder.parent / f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}-{folder.name}"
    temporary.mkdir(parents=True)
    try:
        vectors = np.lib.format.open_memmap(temporary / "vectors.npy", mode="w+",
                                            dtype=np.float16, shape=(n, dim))
        _scatter(blocks, kept, destination, vectors)
        vectors.flush()
        del vectors
        np.save(temporary / "centroids.npy", centroids)
        np.save(temporary / "offsets.npy", offsets)
        np.save(temporary / "rows.npy", kept[order])
        np.save(temporary / "doc_keys.npy", np.asarray(keys, dtype=np.int64)[kept[order]])
        sizes_per_list = np.diff(offsets)
        meta = {
            "format_version": FORMAT_VERSION,
            "n_input": n_input, "ntotal": n, "dim": dim, "n_clusters": n_clusters,
            "dropped_bad_embedding": n_input - n,
            "training_points": sample_size, "kmeans_iterations": params.iterations,
            "seed": params.seed, "empty_clusters": int((sizes_per_list == 0).sum()),
            "largest_cluster": int(sizes_per_list.max()),
            "train_seconds": round(trained - started, 3),
            "build_seconds": round(time.perf_counter() - started, 3),
            **(extra_meta or {}),
        }
        (temporary / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
        if folder.exists():
            shutil.rmtree(folder)
        temporary.rename(folder)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return ClusterIndex.load(folder)


def _scatter(blocks: list[np.ndarray], kept: np.ndarray, destination: np.ndarray,
             out: np.ndarray) -> None:
    """Copy each kept input row to its sorted position, reading the inputs front to back."""
    start_row = 0
    position = 0  # index into kept / destination
    for block in blocks:
        end_row = start_row + len(block)
        stop = int(np.searchsorted(kept, end_row))
        for lo in range(position, stop, clustering.CHUNK_ROWS):
            hi = min(lo + clustering.CHUNK_ROWS, stop)
            local = kept[lo:hi] - start_row
            out[destination[lo:hi]] = np.asarray(block[local], dtype=np.float16)
        position, start_row = stop, end_row
