"""The retrieve stage's search steps: each list partition against the queries routed to it and
the audit images against all its lists (search); each image shard's candidates merged into its
best, audited, and written or sent to the cap (merge)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from realsyn.dataflow.rank import best_per_row, rank_within
from realsyn.dataflow.rows import row_codes, usable_rows
from realsyn.retrieve.candidates import (
    AUDIT_COLUMNS,
    candidate_schema,
    candidate_table,
    key_matrix,
    pick,
    search_depth,
)
from realsyn.retrieve.lists import (
    AUDIT,
    CANDIDATES,
    PAIRS,
    PROBES,
    QUERIES,
    TEXT1,
    partition_index,
    partition_of,
    read_meta,
)
from realsyn.retrieve.output import IMAGE_COLUMNS, output_table
from realsyn.retrieve.routing_steps import lists_probed
from realsyn.retrieve.search import HierarchicalSearcher
from realsyn.stage import RECORDS, Context


class SearchSteps:
    """search and merge of `RetrieveStage`, and the output they share with the cap."""

    def search(self, ctx: Context, shard: str) -> dict[str, Any]:
        """One list partition against the queries routed to it, from every image shard at
        once (one product per list and batch of up to query_batch_size queries, so the
        products stay large however many shards and lists there are), and the audit images
        against all its lists."""
        workspace, config, meta = ctx.workspace, ctx.config.retrieve, read_meta(ctx)
        partition = int(shard)
        index, sentences, lo = partition_index(ctx, meta, partition)
        searcher = HierarchicalSearcher(index)
        routed = workspace.read_partition(ctx.scratch_read(QUERIES), partition)
        images = self.image_rows(ctx, meta)
        nprobe = lists_probed(ctx, meta)
        own = config.exclude_own_document
        # the queries as global image rows, each once, in order
        queries = images.global_rows(routed.column("shard").to_numpy(zero_copy_only=False),
                                     np.asarray(routed.column("row")))
        unique, inverse = np.unique(queries, return_inverse=True)
        probes = np.full((len(unique), nprobe), -1, dtype=np.int64)
        probes[inverse, np.asarray(routed.column("slot"))] = (
            np.asarray(routed.column("cluster")) - lo)
        found_parts: list[pa.Table] = []
        for start in range(0, len(unique), config.query_batch_size):
            batch = unique[start:start + config.query_batch_size]
            vectors, keys = images.read(batch)
            scores, positions = searcher._candidates(
                vectors, probes[start:start + len(batch)], search_depth(config),
                keys if own else None)
            found_parts.append(candidate_table(batch, images, scores, positions, index,
                                               sentences, meta, lo))
        audit_parts: list[pa.Table] = []
        audit = np.asarray(meta["audit_rows"], np.int64)
        if len(audit) and index.n_clusters:
            vectors, keys = images.read(audit)
            usable = usable_rows(vectors)
            audit, vectors, keys = audit[usable], vectors[usable], keys[usable]
            every = np.ascontiguousarray(np.broadcast_to(np.arange(index.n_clusters),
                                                         (len(audit), index.n_clusters)))
            scores, positions = searcher._candidates(vectors, every, config.top_k,
                                                     keys if own else None)
            exact = candidate_table(audit, images, scores, positions, index, sentences, meta,
                                    lo)
            keep = best_per_row(row_codes(np.asarray(exact.column("image_shard")),
                                          np.asarray(exact.column("row"))),
                                np.asarray(exact.column("score")),
                                np.asarray(exact.column("key")), config.top_k)
            audit_parts.append(exact.take(pa.array(keep)).select(AUDIT_COLUMNS))
        n_shards = len(meta["image_offsets"])
        for name, parts in ((CANDIDATES, found_parts), (AUDIT, audit_parts)):
            table = (pa.concat_tables(parts) if parts
                     else candidate_schema().empty_table().select(
                         AUDIT_COLUMNS if name == AUDIT else candidate_schema().names))
            workspace.write_partitioned(ctx.scratch_write(name), shard,
                                        table.drop_columns(["image_shard"]),
                                        np.asarray(table.column("image_shard")), n_shards)
        return {"empty_clusters": int((index.list_sizes() == 0).sum())}

    def merge(self, ctx: Context, shard: str) -> dict[str, Any]:
        """One image shard: its candidates from every partition, merged into each image's best
        (and the audit images' exact best from every partition, compared)."""
        workspace, config, meta = ctx.workspace, ctx.config.retrieve, read_meta(ctx)
        index_of = list(meta["image_offsets"]).index(shard)
        routed = workspace.read_npy(ctx.scratch_read(PROBES, f"{shard}.npy"))
        rows, probes = routed[:, 0], routed[:, 1:]
        total = workspace.shard_rows(self.images, shard)
        stats: dict[str, Any] = {RECORDS: total, "dropped_bad_embedding": total - len(rows)}
        if meta["n_clusters"]:
            candidates = workspace.read_partition(ctx.scratch_read(CANDIDATES), index_of)
        else:
            candidates = candidate_schema().empty_table().drop_columns(["image_shard"])
        picked = pick(candidates, search_depth(config), config.min_score)
        found_rows = np.unique(np.asarray(picked.column("row")))
        stats["dropped_no_sentence"] = len(rows) - len(found_rows)
        if meta["n_clusters"]:
            stats.update(self.audit(ctx, meta, index_of, rows, probes, picked))
        if config.capped and meta["n_clusters"]:
            offset = meta["image_offsets"][shard]
            pairs = picked.append_column("image_shard", pa.array(
                np.full(picked.num_rows, index_of), pa.int64())).append_column(
                "image_row", pa.array(np.asarray(picked.column("row")) + offset, pa.int64())
            ).append_column("rank", pa.array(rank_within(np.asarray(picked.column("row"))),
                                             pa.int64()))
            clusters = np.asarray(pairs.column("key")) // max(1, meta["n_rows"])
            workspace.write_partitioned(ctx.scratch_write(PAIRS), shard, pairs, partition_of(
                clusters, meta["n_clusters"], meta["partitions"]), max(1, meta["partitions"]))
            return stats
        stats["retrieved"] = len(found_rows)
        self.write_output(ctx, meta, shard, rows, probes, picked)
        return stats

    def audit(self, ctx: Context, meta: dict[str, Any], index_of: int, rows: np.ndarray,
              probes: np.ndarray, picked: pa.Table) -> dict[str, Any]:
        """Sums of the audit over this shard's audit images (ratios in the report step)."""
        top_k = ctx.config.retrieve.top_k
        offset = list(meta["image_offsets"].values())[index_of]
        audited = np.isin(rows + offset, np.asarray(meta["audit_rows"], np.int64))
        local = rows[audited]
        if not len(local):
            return {}
        exact = pick(ctx.workspace.read_partition(ctx.scratch_read(AUDIT), index_of), top_k,
                     ctx.config.retrieve.min_score)
        routed = pick(picked, top_k, None)
        routed_keys, routed_scores = key_matrix(routed, local, top_k)
        exact_keys, exact_scores = key_matrix(exact, local, top_k)
        recall = 0.0
        for mine, best in zip(routed_keys, exact_keys, strict=True):
            wanted = set(best[best >= 0].tolist())
            if wanted:
                recall += len(wanted & set(mine.tolist())) / len(wanted)
        return {"audit_queries": len(local),
                "audit_sum_routed_score": float(np.nansum(routed_scores)),
                "audit_sum_exact_score": float(np.nansum(exact_scores)),
                "audit_sum_recall": recall,
                "audit_sum_top1_same": int((routed_keys[:, 0] == exact_keys[:, 0]).sum()),
                # adaptive routing probes a varying number of lists
                "audit_sum_lists_probed": int((probes[audited] >= 0).sum())}

    def write_output(self, ctx: Context, meta: dict[str, Any], shard: str, rows: np.ndarray,
                     probes: np.ndarray, picked: pa.Table) -> None:
        """The shard's output rows (images with a text, in row order) and its text1 sentences
        (for the reuse count)."""
        workspace, top_k = ctx.workspace, ctx.config.retrieve.top_k
        picked = pick(picked, top_k, None)
        found = np.unique(np.asarray(picked.column("row")))
        images = workspace.read_table(self.images, shard, columns=IMAGE_COLUMNS)
        first_probe = probes[np.searchsorted(rows, found), 0] if len(found) else found
        table = output_table(images.take(pa.array(found)), first_probe, picked, found, top_k,
                             meta["n_rows"])
        workspace.write_table(self.output, shard, table)
        if meta["n_clusters"]:
            first = picked.filter(pa.array(rank_within(np.asarray(picked.column("row"))) == 0))
            clusters = np.asarray(first.column("key")) // max(1, meta["n_rows"])
            workspace.write_partitioned(ctx.scratch_write(TEXT1), shard,
                                        first.select(["key", "sentence_id", "text"]),
                                        partition_of(clusters, meta["n_clusters"],
                                                     meta["partitions"]), meta["partitions"])
