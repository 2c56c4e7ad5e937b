"""The dedup stage, partitioned: perceptual image dedup (pHash) and exact + MinHash sentence
dedup as map / shuffle / reduce steps (datatrove's MinHash layout: signatures, buckets,
clusters, filter).

    keys    per shard:      bucket keys (pHash chunks, normalised text, MinHash bands),
                            written partitioned by key hash
    pairs   per partition:  confirmed pairs of records sharing a bucket -> edge files
    groups  per kind:       connected components over the edges; one kept per component
                            (images: the largest, sentences: the first), the others written
                            as dropped rows partitioned by shard
    filter  per shard:      the kept rows of the shard -> images_dedup / sentences_dedup

The groups are those of the single-process functions (exact_pairs / minhash_pairs in
tests/extract/oracle_dedup_pairs.py, phash.linking_pairs): see lsh_keys.py for why every
pair they join is found.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from realsyn import datasets
from realsyn.dataflow.rows import row_codes
from realsyn.extract import lsh_keys
from realsyn.extract.buckets import partition_of
from realsyn.extract.dedup_steps import (
    bucket_partitions,
    edge_table,
    shard_index,
    split_task,
    task_key,
    write_dropped,
    write_edges,
)
from realsyn.extract.funnel_stage import IMAGES, SENTENCES, FunnelStage
from realsyn.stage import Context, Step

EXACT, NEAR = "exact", "near"
IMAGE_REASON = "perceptual_duplicate"
EXACT_REASON, NEAR_REASON = "exact_duplicate", "near_duplicate"


def image_priority(table: pa.Table) -> np.ndarray:
    """Representative rule for images: the largest (width x height) wins."""
    width = table.column("width").to_numpy(zero_copy_only=False).astype(np.float64)
    height = table.column("height").to_numpy(zero_copy_only=False).astype(np.float64)
    return width * height


class DedupStage(FunnelStage):
    name = "dedup"
    description = "Perceptual image dedup (pHash) and exact + MinHash sentence dedup."
    config_paths = ("extract.images.phash_max_distance", "extract.sentences.minhash_threshold",
                    "extract.sentences.minhash_num_perm", "extract.sentences.minhash_ngram")
    version = "2"  # partitioned steps (same groups as the single-process version 1)

    def __init__(self, images: str = datasets.IMAGES_FILTERED,
                 sentences: str = datasets.SENTENCES_FILTERED,
                 images_out: str = datasets.IMAGES_DEDUP,
                 sentences_out: str = datasets.SENTENCES_DEDUP) -> None:
        super().__init__(images, sentences, images_out, sentences_out)

    def reads(self, config) -> list[str]:
        return [datasets.dataset(self.images), datasets.dataset(self.sentences)]

    def writes(self, config) -> list[str]:
        return [datasets.dataset(self.images_out), datasets.dataset(self.sentences_out)]

    def steps(self, config) -> list[Step]:
        buckets = tuple(f"{kind}_buckets" for kind in (IMAGES, EXACT, NEAR))
        edges = tuple(f"{kind}_edges" for kind in (IMAGES, SENTENCES))
        dropped = tuple(f"{kind}_dropped" for kind in (IMAGES, SENTENCES))
        return [Step("keys", self.shard_tasks, self.keys, writes=buckets),
                Step("pairs", self.pair_tasks, self.pairs, reads=buckets, writes=edges),
                Step("groups", self.group_tasks, self.groups, reads=edges, writes=dropped),
                Step("filter", self.shard_tasks, self.filter, reads=dropped)]

    def drop_input(self, reason: str) -> str:
        return "images_in" if reason == "perceptual_duplicate" else "sentences_in"

    def drop_settings(self, config) -> dict[str, tuple[str, Any]]:
        return {"perceptual_duplicate": ("extract.images.phash_max_distance",
                                         config.extract.images.phash_max_distance),
                "near_duplicate": ("extract.sentences.minhash_threshold",
                                   config.extract.sentences.minhash_threshold)}

    # ------------------------------------------------------------ layout
    def pair_tasks(self, ctx: Context) -> list[str]:
        return [task_key(kind, f"{part:05d}") for kind in (IMAGES, EXACT, NEAR)
                for part in ctx.workspace.partitions(ctx.scratch_read(f"{kind}_buckets"))]

    def group_tasks(self, ctx: Context) -> list[str]:
        return [IMAGES, SENTENCES]

    # ------------------------------------------------------------ keys (per shard)
    def keys(self, ctx: Context, task: str) -> dict[str, Any]:
        kind, shard = split_task(task)
        source = self._source(kind)
        ids = None
        if kind == IMAGES:
            r = ctx.config.extract.images.phash_max_distance
            table = ctx.workspace.read_table(source, shard, ["phash", "width", "height"])
            ids = row_codes(shard_index(ctx, source, shard), table.num_rows)
            hashes = table.column("phash").to_numpy(zero_copy_only=False)
            rows, keys = lsh_keys.phash_keys(hashes, r)
            entries = pa.table({"key": keys, "id": ids[rows], "phash": hashes[rows],
                                "priority": image_priority(table)[rows]})
            self._shuffle(ctx, IMAGES, shard, entries, lsh_keys.phash_entries_per_hash(r) * 32)
            return {"bucket_entries": len(keys)}
        cfg = ctx.config.extract.sentences
        texts = ctx.workspace.read_table(source, shard, ["text"]).column("text").to_pylist()
        ids = row_codes(shard_index(ctx, source, shard), len(texts))
        normalised, keys = lsh_keys.exact_keys(texts)
        self._shuffle(ctx, EXACT, shard, pa.table({"key": keys, "id": ids, "text": normalised}),
                      64)
        bands, rows = lsh_keys.band_layout(cfg.minhash_threshold, cfg.minhash_num_perm)
        signatures = lsh_keys.minhash_signatures(texts, cfg.minhash_num_perm, cfg.minhash_ngram)
        band_keys = lsh_keys.band_keys(signatures, bands, rows)
        entries = pa.table({
            "key": band_keys.ravel(), "id": np.repeat(ids, bands),
            "signature": pa.FixedSizeListArray.from_arrays(
                np.repeat(signatures, bands, axis=0).ravel(), cfg.minhash_num_perm)})
        self._shuffle(ctx, NEAR, shard, entries, bands * (16 + 4 * cfg.minhash_num_perm))
        return {"bucket_entries": len(texts) * (1 + bands)}

    def _shuffle(self, ctx: Context, kind: str, shard: str, entries: pa.Table,
                 bytes_per_record: float) -> None:
        """Write bucket entries partitioned by key; the count is the same for every shard
        (it follows from the whole dataset's rows and the task memory budget)."""
        source = self._source(IMAGES if kind == IMAGES else SENTENCES)
        partitions = bucket_partitions(ctx, ctx.workspace.count_rows(source), bytes_per_record)
        keys = entries.column("key").to_numpy()
        ctx.workspace.write_partitioned(ctx.scratch_write(f"{kind}_buckets"), shard, entries,
                                        partition_of(keys, partitions), partitions)

    # ------------------------------------------------------------ pairs (per partition)
    def pairs(self, ctx: Context, task: str) -> dict[str, Any]:
        kind, part = split_task(task)
        entries = ctx.workspace.read_partition(ctx.scratch_read(f"{kind}_buckets"), int(part))
        keys = entries.column("key").to_numpy()
        ids = entries.column("id").to_numpy()
        if kind == IMAGES:
            r = ctx.config.extract.images.phash_max_distance
            edges = lsh_keys.phash_edges(keys, ids, entries.column("phash").to_numpy(), r)
            table = edge_table(edges, ids, entries.column("priority").to_numpy())
        elif kind == EXACT:
            table = edge_table(lsh_keys.exact_edges(entries.column("text"), ids),
                               exact=True)
        else:
            cfg = ctx.config.extract.sentences
            signatures = np.asarray(
                entries.column("signature").combine_chunks().flatten().to_numpy()
            ).reshape(-1, cfg.minhash_num_perm) if entries.num_rows else np.empty(
                (0, cfg.minhash_num_perm), np.uint32)
            table = edge_table(lsh_keys.minhash_edges(keys, ids, signatures,
                                                      cfg.minhash_threshold))
        edges_kind = IMAGES if kind == IMAGES else SENTENCES
        write_edges(ctx, ctx.scratch_write(f"{edges_kind}_edges"), task, table)
        return {"candidate_edges": table.num_rows}

    # ------------------------------------------------------------ groups (per kind)
    def groups(self, ctx: Context, kind: str) -> dict[str, Any]:
        shards = len(ctx.workspace.shards(self._source(kind)))
        edges, dropped = ctx.scratch_read(f"{kind}_edges"), ctx.scratch_write(f"{kind}_dropped")
        if kind == IMAGES:
            write_dropped(ctx, edges, dropped, shards, None, IMAGE_REASON)
        else:
            write_dropped(ctx, edges, dropped, shards, EXACT_REASON, NEAR_REASON)
        return {}

    # ------------------------------------------------------------ filter (per shard)
    def filter(self, ctx: Context, task: str) -> dict[str, Any]:
        kind = split_task(task)[0]
        reasons = [IMAGE_REASON] if kind == IMAGES else [EXACT_REASON, NEAR_REASON]
        return self.write_kept(ctx, task, ctx.scratch_read(f"{kind}_dropped"), reasons)[3]
