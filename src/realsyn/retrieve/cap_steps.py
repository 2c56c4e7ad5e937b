"""The retrieve stage's cap, a reduce by sentence: each sentence keeps the `uses_cap` images
that score it highest (cap), and each image shard writes its top-k among the pairs left
(write)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from realsyn.retrieve.candidates import cap_uses_top_first, key_matrix, pick, search_depth
from realsyn.retrieve.lists import CANDIDATES, CAPPED, PAIRS, PROBES, read_meta
from realsyn.stage import Context


class CapSteps:
    """cap and write of `RetrieveStage` (a cap: max_uses_per_sentence or max_uses_share)."""

    def cap(self, ctx: Context, shard: str) -> dict[str, Any]:
        """One sentence partition: each sentence keeps its `uses_cap` best images, first among
        the images that hold it in their top_k, then among the others (candidates.py; ties:
        lower global image row); the survivors go back to their image shard."""
        workspace, meta = ctx.workspace, read_meta(ctx)
        pairs = workspace.read_partition(ctx.scratch_read(PAIRS), int(shard))
        keep = cap_uses_top_first(
            np.asarray(pairs.column("key")), np.asarray(pairs.column("score")),
            np.asarray(pairs.column("image_row")), np.asarray(pairs.column("rank")),
            meta["uses_cap"], ctx.config.retrieve.top_k)
        kept = pairs.take(pa.array(keep))
        workspace.write_partitioned(ctx.scratch_write(CAPPED), shard, kept,
                                    np.asarray(kept.column("image_shard")),
                                    len(meta["image_offsets"]))
        return {}

    def write_capped(self, ctx: Context, shard: str) -> dict[str, Any]:
        workspace, top_k, meta = ctx.workspace, ctx.config.retrieve.top_k, read_meta(ctx)
        index_of = list(meta["image_offsets"]).index(shard)
        routed = workspace.read_npy(ctx.scratch_read(PROBES, f"{shard}.npy"))
        rows, probes = routed[:, 0], routed[:, 1:]
        before = pick(self.uncapped(ctx, index_of), top_k, None)
        after = pick(workspace.read_partition(ctx.scratch_read(CAPPED), index_of), top_k, None)
        had = np.unique(np.asarray(before.column("row")))
        before_keys, _ = key_matrix(before, had, top_k)
        after_keys, _ = key_matrix(after, had, top_k)
        self.write_output(ctx, meta, shard, rows, probes, after)
        kept = np.unique(np.asarray(after.column("row")))
        return {"retrieved": len(kept), "dropped_sentence_cap": len(had) - len(kept),
                "texts_changed_by_cap": int(((after_keys != before_keys)
                                             & (before_keys >= 0)).sum()),
                "texts_lost_by_cap": int(((after_keys < 0) & (before_keys >= 0)).sum())}

    @staticmethod
    def uncapped(ctx: Context, index_of: int) -> pa.Table:
        candidates = ctx.workspace.read_partition(ctx.scratch_read(CANDIDATES), index_of)
        return pick(candidates, search_depth(ctx.config.retrieve), ctx.config.retrieve.min_score)
