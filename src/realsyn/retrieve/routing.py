"""Which inverted lists an image query probes (the inter-cluster step of hierarchical search).

paper    the nearest centres of the raw image vector (spec section 2).
learned  the modality gap leaves every image far from every sentence centre (cosine 0.03-0.15
         with the offline encoder, and CLIP models show the same gap), so "the nearest centre" of
         the raw vector is close to arbitrary. A ridge map from image vectors to the mean of
         their exact top-k sentence vectors is fitted on a seeded sample of the run's own
         images, the targets coming from exact search (self-supervised: no labels); a query
         then probes the centres nearest to its mapped vector.

Both are one inner product with a routing key per centre: the map y = xW + b is folded into the
keys, y . c = [x, 1] . [c W^T, b . c], so learned routing costs what the paper's costs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import faiss
import numpy as np

PAPER = "paper"
LEARNED = "learned"
ROUTINGS = (PAPER, LEARNED)


@dataclass
class Router:
    keys: np.ndarray  # float32 (n_clusters, dim + 1): a query [x, 1] scores centre c by x . key
    name: str = PAPER
    info: dict[str, Any] = field(default_factory=dict)  # what the fit saw, for the stats

    def __post_init__(self) -> None:
        self.keys = np.ascontiguousarray(self.keys, dtype=np.float32)
        self._index = faiss.IndexFlatIP(self.keys.shape[1])
        self._index.add(self.keys)

    @property
    def n_clusters(self) -> int:
        return len(self.keys)

    def probes(self, queries: np.ndarray, nprobe: int) -> np.ndarray:
        """The `nprobe` best-scored centres of each query, best first (int64, n x nprobe)."""
        nprobe = max(1, min(nprobe, self.n_clusters))
        _, ids = self._index.search(augment(queries), nprobe)
        return ids


def augment(queries: np.ndarray) -> np.ndarray:
    """[x, 1] rows: the constant column carries the map's offset."""
    queries = np.asarray(queries, dtype=np.float32)
    return np.ascontiguousarray(np.hstack([queries, np.ones((len(queries), 1), np.float32)]))


def paper_router(centroids: np.ndarray) -> Router:
    return Router(np.hstack([centroids, np.zeros((len(centroids), 1), np.float32)]), PAPER)


def fit_ridge_map(images: np.ndarray, targets: np.ndarray, ridge: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """W, b minimising |(x - mean_x) W - (y - mean_y)|^2 + lam |W - I|^2, b = mean_y - mean_x W.

    Shrinking toward the identity (not zero) means a small sample cannot collapse every query
    onto one point: with few images the map tends to a shift of the raw vector. `ridge` is
    relative to the sample's mean squared norm per dimension, so it does not depend on the
    sample size.
    """
    x = np.asarray(images, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mean_x, y - mean_y
    dim = x.shape[1]
    lam = ridge * max(float((xc ** 2).sum()) / dim, 1e-12)
    gram = xc.T @ xc + lam * np.eye(dim)
    w = np.eye(dim) + np.linalg.solve(gram, xc.T @ (yc - xc))
    b = mean_y - mean_x @ w
    return w.astype(np.float32), b.astype(np.float32)


def learned_router(centroids: np.ndarray, w: np.ndarray, b: np.ndarray,
                   info: dict[str, Any] | None = None) -> Router:
    keys = np.hstack([centroids @ w.T, (centroids @ b)[:, None]])
    return Router(keys, LEARNED, info or {})


def exact_targets(vectors: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean sentence vector of each query's exact top-k (`positions`, -1 = none), and the mask
    of queries that had at least one sentence."""
    present = positions >= 0
    has_any = present.any(axis=1)
    targets = np.zeros((len(positions), vectors.shape[1]), dtype=np.float32)
    for j in range(positions.shape[1]):
        rows = np.flatnonzero(present[:, j])
        targets[rows] += np.asarray(vectors[positions[rows, j]], dtype=np.float32)
    counts = np.maximum(present.sum(axis=1), 1)[:, None]
    return targets / counts, has_any
