"""The partitioned inverted lists of a retrieve run, and the small files its steps share.

A list partition holds every sentence of a contiguous range of clusters (cluster c lives in
partition c * P // C), one row per sentence: its global row over the sentence shards, cluster,
document key, ids and text, and the float16 vector as fixed-size bytes. Read back and sorted
by (cluster, global row) it is exactly the slice of the single-process index (the tests'
oracle, tests/retrieve/oracle_index.py) that holds those clusters, so a search over it scores
the same products.

A sentence is named everywhere by its *order key* cluster * n_rows + global row: ordering by it
is ordering by position in the single-process index (sorted by cluster, then row), which breaks
score ties exactly as that index does.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from realsyn.dataflow.kmeans import Centres, default_n_clusters
from realsyn.retrieve.index import ClusterIndex
from realsyn.stage import Context

# The steps' scratch datasets (under scratch/<stage>; RetrieveStage.steps says which step
# writes and reads which).
USABLE = "usable"  # per sentence shard: its usable rows
ROWS = "rows"  # per sentence shard: its row count
META = "meta.json"  # the train step's plan: clusters, partitions, offsets, image samples
CENTROIDS = "centroids.npy"  # one centre per list
# Two-level centres (retrieve.flat_centre_limit): the coarse centres and each list's coarse
# cell (no rows when flat; dataflow/kmeans.py)
COARSE = "coarse.npy"
CELLS = "cells.npy"
LISTS = "lists"  # the inverted lists, partitioned by cluster range
FIT = "fit"  # (learned routing) per list partition: the fit images' best score per list
SIZES = "sizes"  # (learned routing) per list partition: its list sizes
ROUTER = "router.npy"  # the router's keys
ROUTER_COARSE = "router_coarse.npy"  # two-level centres: the router's cell keys
ROUTING = "router.json"  # the router's kind, margin and lists probed
PROBES = "probes"  # per image shard: each usable image's probed lists
QUERIES = "queries"  # (image, probed list) pairs, partitioned like the lists
CANDIDATES = "candidates"  # per image shard: each probe's best sentences
AUDIT = "audit"  # per image shard: each audit image's exact best per partition
PAIRS = "pairs"  # (max uses) each image's candidates, partitioned by sentence
CAPPED = "capped"  # (max uses) the pairs left by the cap, per image shard
TEXT1 = "text1"  # each image's text1, partitioned by sentence
REUSE = "reuse"  # per list partition: how many images use each sentence as text1
TEXT_COLUMNS = ("sentence_id", "text", "doc_id")
AUDIT_SUMS = "audit_sum_"  # per-shard sums of the audit; the ratios are in the report step
# Bytes of a list row beyond its float16 vector: ids, keys and an average sentence.
LIST_ROW_OVERHEAD = 256


def list_count(n_sentences: int, n_clusters: int | None, sentences_per_cluster: int,
               lists_per_cluster: int = 1) -> int:
    """Inverted lists of an index: `lists_per_cluster` per cluster (`n_clusters`, or the
    paper's ratio of 420 sentences per cluster), at most one per sentence."""
    clusters = n_clusters or default_n_clusters(n_sentences, sentences_per_cluster)
    return int(max(1, min(clusters * lists_per_cluster, n_sentences)))


def partition_of(clusters: np.ndarray, n_clusters: int, partitions: int) -> np.ndarray:
    return (np.asarray(clusters, dtype=np.int64) * partitions) // max(1, n_clusters)


def cluster_range(partition: int, n_clusters: int, partitions: int) -> tuple[int, int]:
    """The clusters [lo, hi) of `partition` (the inverse of `partition_of`)."""
    def first(p: int) -> int:
        return -(-p * n_clusters // partitions)
    return first(partition), first(partition + 1)


def vectors_column(vectors: np.ndarray) -> pa.Array:
    """Rows of a 2-d array as fixed-size binary values (bytes of the array's dtype)."""
    vectors = np.ascontiguousarray(vectors)
    width = vectors.shape[1] * vectors.itemsize
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), len(vectors), [None, pa.py_buffer(vectors.tobytes())])


def column_vectors(column: pa.ChunkedArray | pa.Array, dtype, dim: int) -> np.ndarray:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    width = dim * np.dtype(dtype).itemsize
    data = np.frombuffer(array.buffers()[1], dtype=np.uint8)
    data = data[array.offset * width:(array.offset + len(array)) * width]
    return data.view(dtype).reshape(len(array), dim)


def write_centres(ctx: Context, centres: Centres) -> None:
    for name, array in ((CENTROIDS, centres.fine), (COARSE, centres.coarse),
                        (CELLS, centres.cells)):
        ctx.workspace.write_npy(ctx.scratch_write(name), array)


def read_centres(ctx: Context) -> Centres:
    return Centres(*(ctx.workspace.read_npy(ctx.scratch_read(name))
                     for name in (CENTROIDS, COARSE, CELLS)))


def read_meta(ctx: Context) -> dict[str, Any]:
    return json.loads(ctx.workspace.read_bytes(ctx.scratch_read(META)))


def partition_index(ctx: Context, meta: dict[str, Any], partition: int
                    ) -> tuple[ClusterIndex, pa.Table, int]:
    """The lists of one partition as a ClusterIndex over its clusters (local cluster ids
    0..hi-lo), the sentence table in index order, and the partition's first cluster."""
    lo, hi = cluster_range(partition, meta["n_clusters"], meta["partitions"])
    table = ctx.workspace.read_partition(ctx.scratch_read(LISTS), partition)
    clusters = np.asarray(table.column("cluster"), dtype=np.int64)
    rows = np.asarray(table.column("row"), dtype=np.int64)
    order = np.lexsort((rows, clusters))
    table = table.take(pa.array(order))
    clusters, rows = clusters[order], rows[order]
    offsets = np.zeros(hi - lo + 1, dtype=np.int64)
    np.cumsum(np.bincount(clusters - lo, minlength=hi - lo), out=offsets[1:])
    vectors = column_vectors(table.column("vector"), np.float16, meta["dim"])
    index = ClusterIndex(centroids=np.zeros((hi - lo, meta["dim"]), np.float32),
                         offsets=offsets, vectors=vectors, rows=rows,
                         doc_keys=np.asarray(table.column("doc_key"), dtype=np.int64))
    return index, table, lo
