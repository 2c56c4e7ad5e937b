"""The single-process reference build of the inverted lists, as retrieval was before it was
partitioned: one process clusters every sentence and writes a persistent index. Only tests (and
bench_retrieval.py, which measures recall on the same lists) build it; the retrieve stage builds
its lists by steps (retrieve/lists.py) and tests/retrieve/test_partitioned_retrieve.py checks
that both agree.

On disk (one folder, local so that it can be memory-mapped):

    meta.json       sizes, build parameters, encoder identity, counters (written last)
    centroids.npy   float32 (n_clusters, dim), L2-normalised
    offsets.npy     int64 (n_clusters + 1,): cluster c owns sorted rows offsets[c]:offsets[c+1]
    vectors.npy     float16 (n, dim): the sentence embeddings sorted by cluster
    rows.npy        int64 (n,): each sorted row's row number in the input (global, over shards)
    doc_keys.npy    int64 (n,): a 64-bit key of each sentence's document (own-document filter)
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from realsyn.dataflow import kmeans, rows, sampling
from realsyn.dataflow.rows import usable_rows
from realsyn.retrieve.index import ClusterIndex
from realsyn.workspace import TEMPORARY_PREFIX

FORMAT_VERSION = 1


class EmptyIndexError(ValueError):
    """No usable embedding to index (every row missing, non-finite or zero)."""


def load_index(folder: str | os.PathLike, mmap: bool = True) -> ClusterIndex:
    """The index `build_index` wrote to `folder`, its vectors memory-mapped unless `mmap` is
    False."""
    folder = Path(folder)
    meta = json.loads((folder / "meta.json").read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"index in {folder} has format {meta.get('format_version')}, "
                         f"expected {FORMAT_VERSION}; rebuild it")
    mode = "r" if mmap else None

    def load(name: str) -> np.ndarray:
        return np.load(folder / name, mmap_mode=mode, allow_pickle=False)

    return ClusterIndex(centroids=np.array(load("centroids.npy")),
                        offsets=np.array(load("offsets.npy")), vectors=load("vectors.npy"),
                        rows=load("rows.npy"), doc_keys=load("doc_keys.npy"), meta=meta)


def load_centres(folder: str | os.PathLike) -> kmeans.Centres:
    """The centres of the index in `folder`, with their coarse level when two-level."""
    folder = Path(folder)
    fine = np.load(folder / "centroids.npy")
    if not (folder / "coarse.npy").exists():
        return kmeans.Centres.flat(fine)
    return kmeans.Centres(fine, np.load(folder / "coarse.npy"), np.load(folder / "cells.npy"))


def index_exists(folder: str | os.PathLike) -> bool:
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
    flat_centre_limit: int = 65_536  # retrieve.flat_centre_limit: two-level centres above it
    centre_probes: int = 16  # retrieve.centre_probes


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
    valid = np.concatenate([usable_rows(b) for b in blocks]) if blocks else np.zeros(0, bool)
    kept = np.flatnonzero(valid).astype(np.int64)
    n = len(kept)
    if n == 0:
        raise EmptyIndexError("no usable sentence embeddings to index")

    n_clusters = _list_count(n, params.n_clusters, params.sentences_per_cluster,
                                       params.lists_per_cluster)
    sample_size = sampling.training_sample_size(
        n, n_clusters, params.training_points_per_cluster, params.max_training_points)
    sample = gather_rows(blocks, kept[sampling.sample_rows(n, sample_size,
                                                                        params.seed)])
    centres = kmeans.train_centres(sample, n_clusters, params.iterations, params.seed,
                                   params.flat_centre_limit, params.centre_probes)
    centroids = centres.fine
    del sample
    trained = time.perf_counter()

    assignment = kmeans.assign(centres.index(params.centre_probes), blocks)[kept]
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
        if centres.two_level:
            np.save(temporary / "coarse.npy", centres.coarse)
            np.save(temporary / "cells.npy", centres.cells)
        np.save(temporary / "offsets.npy", offsets)
        np.save(temporary / "rows.npy", kept[order])
        np.save(temporary / "doc_keys.npy", np.asarray(keys, dtype=np.int64)[kept[order]])
        sizes_per_list = np.diff(offsets)
        meta = {
            "format_version": FORMAT_VERSION,
            "n_input": n_input, "ntotal": n, "dim": dim, "n_clusters": n_clusters,
            "dropped_bad_embedding": n_input - n,
            "training_points": sample_size, "kmeans_iterations": params.iterations,
            "seed": params.seed, **({"two_level": True} if centres.two_level else {}),
            "empty_clusters": int((sizes_per_list == 0).sum()),
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
    return load_index(folder)


def _scatter(blocks: list[np.ndarray], kept: np.ndarray, destination: np.ndarray,
             out: np.ndarray) -> None:
    """Copy each kept input row to its sorted position, reading the inputs front to back."""
    start_row = 0
    position = 0  # index into kept / destination
    for block in blocks:
        end_row = start_row + len(block)
        stop = int(np.searchsorted(kept, end_row))
        for lo in range(position, stop, rows.CHUNK_ROWS):
            hi = min(lo + rows.CHUNK_ROWS, stop)
            local = kept[lo:hi] - start_row
            out[destination[lo:hi]] = np.asarray(block[local], dtype=np.float16)
        position, start_row = stop, end_row


def gather_rows(blocks: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
    """float32 copies of the given sorted global rows of row-aligned blocks (memmaps)."""
    out = np.empty((len(rows), blocks[0].shape[1]), dtype=np.float32)
    start = 0
    for block, local in zip(blocks, sampling.per_shard(rows, [len(b) for b in blocks]),
                            strict=True):
        out[start:start + len(local)] = block[local]
        start += len(local)
    return out


def _list_count(n: int, n_clusters: int | None, per_cluster: int, lists_per_cluster: int) -> int:
    """Lists per paper-sized cluster (n_clusters, or one per `per_cluster` rows), at most one
    per row."""
    clusters = n_clusters or kmeans.default_n_clusters(n, per_cluster)
    return int(max(1, min(clusters * lists_per_cluster, n)))
