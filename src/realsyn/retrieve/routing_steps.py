"""The retrieve stage's routing steps: the fit images' best score per list (fit), the router
(paper's centres, learned keys, or every list when exact search is cheap), and each image's
probed lists sent to the partitions that hold them (route)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyarrow as pa

from realsyn.dataflow import kmeans
from realsyn.dataflow.rows import aligned_rows, usable_rows
from realsyn.retrieve.lists import (
    CELLS,
    FIT,
    PROBES,
    QUERIES,
    ROUTER,
    ROUTER_COARSE,
    ROUTING,
    SIZES,
    partition_index,
    partition_of,
    read_centres,
    read_meta,
)
from realsyn.retrieve.queries import exact_router, router_from_maxima, routing_stats
from realsyn.retrieve.routing import PAPER, Router, coarse_keys, paper_router
from realsyn.retrieve.search import HierarchicalSearcher
from realsyn.stage import Context


class RoutingSteps:
    """fit, router and route of `RetrieveStage`."""

    def fit(self, ctx: Context, shard: str) -> dict[str, Any]:
        """Learned routing, one partition: each fit image's best score in each of its lists."""
        workspace, config, meta = ctx.workspace, ctx.config.retrieve, read_meta(ctx)
        if meta.get("exact"):
            return {}  # searched exactly: nothing to fit
        index, _, _ = partition_index(ctx, meta, int(shard))
        images, keys = self.image_rows(ctx, meta).gather(np.asarray(meta["fit_rows"], np.int64))
        maxima = (HierarchicalSearcher(index).cluster_maxima(
            images, keys if config.exclude_own_document else None) if len(images)
            else np.zeros((0, index.n_clusters), np.float32))
        workspace.write_npy(ctx.scratch_write(FIT, f"{shard}.npy"), maxima)
        workspace.write_npy(ctx.scratch_write(SIZES, f"{shard}.npy"), index.list_sizes())
        return {}

    def fit_router(self, ctx: Context, shard: str) -> dict[str, Any]:
        workspace, config, meta = ctx.workspace, ctx.config.retrieve, read_meta(ctx)
        if not meta["n_clusters"]:
            return {}
        centres = read_centres(ctx)
        centroids = centres.fine
        if meta.get("exact"):
            router, stats = exact_router(centroids)
        elif config.routing == PAPER:
            router, stats = paper_router(centroids), {
                "routing_learned": 0, "lists_probed": min(config.lists_probed, len(centroids))}
        else:
            started = time.perf_counter()
            images, _ = self.image_rows(ctx, meta).gather(
                np.asarray(meta["fit_rows"], np.int64))
            parts = self.list_partitions(ctx)
            maxima = np.concatenate([workspace.read_npy(ctx.scratch_read(FIT, f"{p}.npy"))
                                     for p in parts], axis=1)
            sizes = np.concatenate([workspace.read_npy(ctx.scratch_read(SIZES, f"{p}.npy"))
                                    for p in parts])
            router, usable = router_from_maxima(images, maxima, centroids, sizes,
                                                 config.routing_ridge,
                                                 config.routing_min_fit_images,
                                                 config.routing_margin,
                                                 config.routing_size_penalty)
            stats = routing_stats(router, usable, started, sum(meta["image_rows"]),
                                  len(centroids), config)
        workspace.write_npy(ctx.scratch_write(ROUTER), router.keys)
        # flat unless asked (routing_centre_probes); and when every list is probed (exact
        # search, or a fallback for few images), so that none is missed
        every = (config.routing_centre_probes is None or meta.get("exact")
                 or stats["lists_probed"] >= len(centroids))
        workspace.write_npy(ctx.scratch_write(ROUTER_COARSE), coarse_keys(
            router.keys, kmeans.Centres.flat(centroids) if every else centres))
        workspace.write_json(ctx.scratch_write(ROUTING), {"routing": router.name,
                                                          "margin": router.margin, **stats})
        return stats

    def route(self, ctx: Context, shard: str) -> dict[str, Any]:
        """The lists each usable image of a shard probes; each (image, probe) goes to the
        partition of the probed list."""
        workspace, config, meta = ctx.workspace, ctx.config.retrieve, read_meta(ctx)
        aligned_rows(workspace, self.images, shard)
        embeddings = workspace.read_array(self.images, shard)
        rows = np.flatnonzero(usable_rows(embeddings))
        nprobe = lists_probed(ctx, meta)
        probes = np.full((len(rows), nprobe), -1, dtype=np.int64)
        if meta["n_clusters"] and len(rows):
            keys = workspace.read_npy(ctx.scratch_read(ROUTER))
            saved = workspace.read_json(ctx.scratch_read(ROUTING))
            router = Router(keys, saved["routing"], saved.get("margin"),
                            workspace.read_npy(ctx.scratch_read(ROUTER_COARSE)),
                            workspace.read_npy(ctx.scratch_read(CELLS)),
                            config.routing_centre_probes or 1)
            for start in range(0, len(rows), config.query_batch_size):
                batch = rows[start:start + config.query_batch_size]
                found = router.probes(np.ascontiguousarray(embeddings[batch], np.float32),
                                      nprobe)
                probes[start:start + len(batch), :found.shape[1]] = found
        workspace.write_npy(ctx.scratch_write(PROBES, f"{shard}.npy"),
                   np.column_stack([rows, probes]) if len(rows) else np.zeros((0, nprobe + 1),
                                                                               np.int64))
        if meta["n_clusters"]:
            query, slot = np.nonzero(probes >= 0)
            cluster = probes[query, slot]
            routed = pa.table({"shard": pa.array([shard] * len(query), pa.string()),
                               "row": pa.array(rows[query], pa.int64()),
                               "slot": pa.array(slot, pa.int64()),
                               "cluster": pa.array(cluster, pa.int64())})
            workspace.write_partitioned(ctx.scratch_write(QUERIES), shard, routed, partition_of(
                cluster, meta["n_clusters"], meta["partitions"]), meta["partitions"])
        return {}


def lists_probed(ctx: Context, meta: dict[str, Any]) -> int:
    """Lists each image probes: the router step's choice (every list when exact, more on a
    fallback), else the configured nprobe."""
    if meta["n_clusters"] and ctx.workspace.exists(ctx.scratch_read(ROUTING)):
        return int(ctx.workspace.read_json(ctx.scratch_read(ROUTING))["lists_probed"])
    return max(1, min(ctx.config.retrieve.lists_probed, meta["n_clusters"]))
