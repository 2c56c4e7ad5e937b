"""The retrieve stage's index steps: which sentence rows are usable (scan), the k-means centres
and the run's plan (train), and each sentence into the list partition of its centre (assign)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from realsyn.dataflow import kmeans
from realsyn.dataflow.digest import signed_hashes
from realsyn.dataflow.rows import aligned_rows, shard_offsets, usable_rows
from realsyn.partitioning import MB, partitions_for
from realsyn.retrieve.centroid_cache import cached_centroids
from realsyn.retrieve.lists import (
    LIST_ROW_OVERHEAD,
    LISTS,
    META,
    ROWS,
    TEXT_COLUMNS,
    USABLE,
    partition_of,
    read_centres,
    read_meta,
    vectors_column,
    write_centres,
)
from realsyn.retrieve.queries import exact_is_cheap, sample_rows
from realsyn.stage import Context


class IndexSteps:
    """scan, train and assign of `RetrieveStage` (which names the datasets and task lists)."""

    def scan(self, ctx: Context, shard: str) -> dict[str, Any]:
        """Which rows of a sentence shard are usable embeddings (the index leaves the others
        out, counted)."""
        rows = aligned_rows(ctx.workspace, self.sentences, shard)
        usable = np.flatnonzero(usable_rows(ctx.workspace.read_array(self.sentences, shard)))
        ctx.workspace.write_npy(ctx.scratch_write(USABLE, f"{shard}.npy"), usable)
        ctx.workspace.write_json(ctx.scratch_write(ROWS, f"{shard}.json"), rows)
        return {"sentences_in": rows, "sentences_indexed": len(usable),
                "sentences_dropped_bad_embedding": rows - len(usable)}

    def train(self, ctx: Context, shard: str) -> dict[str, Any]:
        """k-means centres from a bounded seeded sample of the usable sentences (the one step
        that samples the whole), the partition count, and the image samples."""
        workspace, config = ctx.workspace, ctx.config.retrieve
        shards = self.sentence_shards(ctx)
        rows = [workspace.read_json(ctx.scratch_read(ROWS, f"{s}.json")) for s in shards]
        usable_counts = [len(workspace.read_npy(ctx.scratch_read(USABLE, f"{s}.npy")))
                         for s in shards]
        n = sum(usable_counts)
        image_shards = self.image_shards(ctx)
        image_rows = [workspace.shard_rows(self.images, s) for s in image_shards]
        fit_rows, audit_rows = sample_rows(sum(image_rows), config)
        meta: dict[str, Any] = {
            "n_clusters": 0, "partitions": 0, "n_rows": int(sum(rows)), "dim": 0,
            "sentence_offsets": shard_offsets(shards, rows),
            "image_offsets": shard_offsets(image_shards, image_rows),
            "image_rows": image_rows,
            "uses_cap": config.uses_cap(int(sum(image_rows))),
            "fit_rows": fit_rows.tolist(), "audit_rows": audit_rows.tolist()}
        stats: dict[str, Any] = {}
        if n:
            centres, built = cached_centroids(ctx, self.sentences, shards, usable_counts)
            dim = centres.fine.shape[1]
            wanted = partitions_for(n, 2 * dim + LIST_ROW_OVERHEAD,
                                    ctx.config.executor.task_memory_mb * MB)
            meta.update(n_clusters=len(centres.fine), dim=dim,
                        training_points=built["training_points"],
                        exact=exact_is_cheap(int(sum(image_rows)), n, config),
                        partitions=min(len(centres.fine), config.partitions or wanted))
            write_centres(ctx, centres)
            stats = {"clusters": len(centres.fine)}
        workspace.write_json(ctx.scratch_write(META), meta)
        return stats

    def assign(self, ctx: Context, shard: str) -> dict[str, Any]:
        """Each usable sentence of a shard to its nearest centre, written into the list
        partition of that centre."""
        workspace, meta = ctx.workspace, read_meta(ctx)
        block = workspace.read_array(self.sentences, shard)
        usable = workspace.read_npy(ctx.scratch_read(USABLE, f"{shard}.npy"))
        centres = read_centres(ctx).index(ctx.config.retrieve.centre_probes)
        # the whole block, chunked as the single-process build chunks it: the same products
        clusters = kmeans.assign(centres, [block])[usable]
        table = workspace.read_table(self.sentences, shard, columns=list(TEXT_COLUMNS))
        table = table.take(pa.array(usable))
        doc_ids = table.column("doc_id").to_pylist()
        lists = pa.table({
            "row": pa.array(usable + meta["sentence_offsets"][shard], pa.int64()),
            "cluster": pa.array(clusters, pa.int64()),
            "doc_key": pa.array(signed_hashes(doc_ids), pa.int64()),
            **{name: table.column(name) for name in TEXT_COLUMNS},
            "vector": vectors_column(np.asarray(block[usable], dtype=np.float16))})
        workspace.write_partitioned(ctx.scratch_write(LISTS), shard, lists, partition_of(
            clusters, meta["n_clusters"], meta["partitions"]), meta["partitions"])
        return {}
