"""The single-process router fit, as it was before retrieval was partitioned: the router fitted
on a whole index that one process holds (every list searched for the fit images). The oracle of
the partitioned stage's `fit` and `router` steps, and bench_retrieval.py's router; the image
queries read shard by shard as the single-process stage read them (`QuerySource`)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from realsyn.config import RetrieveConfig
from realsyn.dataflow.digest import signed_hashes
from realsyn.dataflow.rows import usable_rows
from realsyn.retrieve.index import ClusterIndex
from realsyn.retrieve.queries import (
    exact_is_cheap,
    exact_router,
    router_from_maxima,
    routing_stats,
)
from realsyn.retrieve.routing import PAPER, Router, paper_router
from realsyn.retrieve.search import HierarchicalSearcher
from realsyn.workspace import Workspace


class QuerySource:
    """Embeddings and document keys of global image rows of a dataset (shards in order)."""

    def __init__(self, workspace: Workspace, dataset: str, shards: list[str], counts: list[int]):
        self.workspace, self.dataset, self.shards = workspace, dataset, shards
        self.bounds = np.cumsum([0, *counts])

    def global_rows(self, shard: str, local_rows: np.ndarray) -> np.ndarray:
        return local_rows + self.bounds[self.shards.index(shard)]

    def read(self, shard: str, local_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 embeddings and document keys of rows of one shard."""
        vectors = np.asarray(self.workspace.read_array(self.dataset, shard)[local_rows],
                             dtype=np.float32)
        ids = self.workspace.read_table(self.dataset, shard, columns=["doc_id"]).column(
            "doc_id").to_pylist()
        return vectors, signed_hashes([ids[i] for i in local_rows])

    def gather(self, global_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings and document keys of sorted global rows; unusable embeddings left out."""
        shard_of = np.searchsorted(self.bounds, global_rows, side="right") - 1
        vectors, keys = [], []
        for s in np.unique(shard_of):
            part, part_keys = self.read(self.shards[s],
                                        global_rows[shard_of == s] - self.bounds[s])
            usable = usable_rows(part)
            vectors.append(part[usable])
            keys.append(part_keys[usable])
        if not vectors:
            return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
        return np.concatenate(vectors), np.concatenate(keys)


def make_router(index: ClusterIndex, config: RetrieveConfig, source: QuerySource,
                fit_rows: np.ndarray) -> tuple[Router, dict[str, Any]]:
    """The configured router and its (numeric) stats; learned routing falls back to the
    paper's, counted with the reason, when too few sample images have any sentence to learn
    from."""
    n_images = int(source.bounds[-1])
    if exact_is_cheap(n_images, index.ntotal, config):
        return exact_router(index.centroids)
    nprobe = min(config.lists_probed, index.n_clusters)
    if config.routing == PAPER:
        return paper_router(index.centroids), {"routing_learned": 0, "lists_probed": nprobe}
    started = time.perf_counter()
    images, keys = source.gather(fit_rows)
    router, usable = fit_learned_router(
        index, images, keys if config.exclude_own_document else None, config.routing_ridge,
        config.routing_min_fit_images, config.routing_margin,
        config.routing_size_penalty)
    return router, routing_stats(router, usable, started, n_images, index.n_clusters, config)


def fit_learned_router(index: ClusterIndex, images: np.ndarray, keys: np.ndarray | None,
                       ridge: float, min_images: int, margin: float | None = None,
                       size_penalty: float = 0.0) -> tuple[Router, int]:
    """The learned router fitted on `images` (every list searched exactly here), and how many
    of them had a sentence to learn from; the paper's router when fewer than `min_images`."""
    maxima = (HierarchicalSearcher(index).cluster_maxima(images, keys) if len(images)
              else np.zeros((0, index.n_clusters), np.float32))
    return router_from_maxima(images, maxima, index.centroids, index.list_sizes(), ridge,
                              min_images, margin, size_penalty)
