"""The image queries of a run: the seeded fit and audit samples, rows read across shards, and
the router fitted on the fit sample (learned routing) or the paper's."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from realsyn.config import RetrieveConfig
from realsyn.dataflow import rows
from realsyn.dataflow.digest import signed_hashes
from realsyn.retrieve.routing import (
    EXACT,
    LEARNED,
    Router,
    fit_list_keys,
    learned_router,
    paper_router,
)
from realsyn.workspace import Workspace


def sample_rows(n_images: int, config: RetrieveConfig) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint seeded samples of global image rows: (fit, audit), each sorted. The audit takes
    at most half the images, so that a small run still has images to fit the map on."""
    n_audit = min(config.audit_queries, n_images // 2)
    n_fit = min(config.routing_fit_images if config.routing == LEARNED else 0,
                n_images - n_audit)
    rng = np.random.default_rng(config.seed)
    picked = rng.choice(n_images, size=n_audit + n_fit, replace=False).astype(np.int64)
    return np.sort(picked[n_audit:]), np.sort(picked[:n_audit])


def exact_is_cheap(n_images: int, n_sentences: int, config: RetrieveConfig) -> bool:
    """Whether the corpus is small enough to search exactly (`exact_search_max_products`)."""
    return n_images * n_sentences <= config.exact_search_max_products


def fallback_nprobe(n_images: int, n_clusters: int, config: RetrieveConfig) -> int:
    """Lists probed when learned routing cannot be fitted: the paper's router says little on
    real images (recall@3 0.59 of exact at 4 probes on a 23-image corpus), so it scans the
    share of the lists that exact search of `routing_fallback_images` images would, at least
    nprobe; every list when the corpus has no more images than that."""
    share = min(1.0, config.routing_fallback_images / max(1, n_images))
    return min(n_clusters, max(config.lists_probed, math.ceil(share * n_clusters)))


def exact_router(centroids: np.ndarray) -> tuple[Router, dict[str, Any]]:
    """Every list probed (the order does not matter), said so in the stats."""
    return paper_router(centroids, EXACT), {"routing_learned": 0, "search_exact": 1,
                                            "lists_probed": len(centroids)}


def routing_stats(router: Router, usable: int, started: float, n_images: int, n_clusters: int,
                  config: RetrieveConfig) -> dict[str, Any]:
    """The learned router's stats; a fallback is counted and probes `fallback_nprobe` lists."""
    stats: dict[str, Any] = {"routing_learned": int(router.name == LEARNED),
                             "routing_fit_images": usable}
    if router.name == LEARNED:
        stats["routing_fit_seconds"] = round(time.perf_counter() - started, 3)
        stats["lists_probed"] = min(config.lists_probed, n_clusters)
    else:
        stats["routing_fallback_too_few_fit_images"] = 1
        stats["lists_probed"] = fallback_nprobe(n_images, n_clusters, config)
    return stats


def router_from_maxima(images: np.ndarray, maxima: np.ndarray, centroids: np.ndarray,
                       sizes: np.ndarray, ridge: float, min_images: int,
                       margin: float | None = None,
                       size_penalty: float = 0.0) -> tuple[Router, int]:
    """The learned router from the fit images' best score per list (`maxima`, n x lists), and
    how many images had a sentence to learn from; the paper's router when fewer than
    `min_images`. `margin` makes it adaptive, `size_penalty` cost-aware (routing.py)."""
    found = np.isfinite(maxima).any(axis=1) if len(images) else np.zeros(0, bool)
    images, maxima = images[found], maxima[found]
    usable = int(found.sum())
    if usable < min_images:
        return paper_router(centroids), usable
    list_keys, offsets = fit_list_keys(images, maxima, centroids, ridge)
    return learned_router(list_keys, offsets, sizes, margin, size_penalty), usable


class ImageRows:
    """Embeddings and document keys of global image rows (over the shards in order), each
    shard read on demand, once."""

    def __init__(self, workspace: Workspace, dataset: str, shards: list[str], counts: list[int]):
        self.workspace, self.dataset, self.shards = workspace, dataset, shards
        self.bounds = rows.offsets(counts)
        self._embeddings: dict[int, np.ndarray] = {}
        self._keys: dict[int, np.ndarray] = {}

    def global_rows(self, shards: np.ndarray, local: np.ndarray) -> np.ndarray:
        """Global rows of (shard key, row in the shard) pairs."""
        index = {shard: i for i, shard in enumerate(self.shards)}
        return self.bounds[[index[s] for s in shards]] + local if len(local) else local

    def locate(self, global_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard index, row in the shard) of global rows."""
        return rows.locate(self.bounds, global_rows)

    def read(self, global_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 embeddings and document keys of sorted global rows."""
        shard, local = self.locate(global_rows)
        vectors, keys = [], []
        for s in np.unique(shard):
            if s not in self._embeddings:
                name = self.shards[s]
                self._embeddings[s] = self.workspace.read_array(self.dataset, name)
                self._keys[s] = signed_hashes(self.workspace.read_table(
                    self.dataset, name, columns=["doc_id"]).column("doc_id").to_pylist())
            mine = local[shard == s]
            vectors.append(np.asarray(self._embeddings[s][mine], dtype=np.float32))
            keys.append(self._keys[s][mine])
        if not vectors:
            return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
        return np.concatenate(vectors), np.concatenate(keys)

    def gather(self, global_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`read`, the unusable embeddings left out."""
        vectors, keys = self.read(global_rows)
        usable = rows.usable_rows(vectors)
        return vectors[usable], keys[usable]
