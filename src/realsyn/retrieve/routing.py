"""Which inverted lists an image query probes (the inter-cluster step of hierarchical search).

paper    the nearest centres of the raw image vector (spec section 2).
learned  the modality gap leaves every image far from every sentence centre, and images sit in
         a narrow cone of the space, so the nearest centre of the raw vector says little about
         which list holds the image's best sentences (measured: recall@3 0.15-0.25 of exact
         search at one probe on real images). What routing should rank lists by is each list's
         best score for the query, max over members of x . s. Inside the images' cone that is
         close to linear in x, so it is learned per list by ridge regression on a seeded
         sample of the run's own images, the targets coming from exact search
         (self-supervised: no labels): score_c(x) = x . (c + d_c) + b_c, shrunk toward the
         paper's x . c. Each list keeps one key, so routing costs what the paper's costs.
cost     a large list costs more to scan than a small one and its best score is higher only
         because it holds more sentences: the learned estimates are lowered by a small multiple
         of log(list size) (`size_penalty`), which scans less at the same recall (measured).
adaptive the learned estimates also say when a second or third list is worth its scan: a
         query probes a further list only while that list's estimated best score is within
         `margin` of its best list's (at most `nprobe` lists). A query with one clear winner
         then scans one list, an uncertain one several (measured: docs/stages/retrieve.md,
         routing table).
         Unused probe slots are -1 (/work/briefs/routing-contract.md).
two-level with two-level centres (retrieve.flat_centre_limit) and routing_centre_probes set, a
         query scores only the lists of its `routing_centre_probes` best coarse cells
         (dataflow/kmeans.py): a cell's key is its coarse centre moved by the mean learned
         shift (key - centre) of its lists, with their median offset (`coarse_keys`; the
         paper's keys give the coarse centre itself). Off by default: on real photos 2 of 14
         cells lost a third of recall@3 (docs/stages/retrieve.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from realsyn.dataflow.kmeans import Centres, hierarchy_index

PAPER = "paper"
LEARNED = "learned"
EXACT = "exact"  # every list probed: exact search (small corpora, retrieve/queries.py)
ROUTINGS = (PAPER, LEARNED)


@dataclass
class Router:
    keys: np.ndarray  # float32 (n_clusters, dim + 1): a query [x, 1] scores centre c by x . key
    name: str = PAPER
    margin: float | None = None  # adaptive: probe lists scored within this of the best one
    # two-level: the cells' keys (`coarse_keys`), each list's cell, coarse cells searched
    coarse: np.ndarray | None = None
    cells: np.ndarray | None = None
    centre_probes: int = 1

    def __post_init__(self) -> None:
        self.keys = np.ascontiguousarray(self.keys, dtype=np.float32)
        if self.coarse is not None and len(self.coarse):
            self._index = hierarchy_index(self.keys, np.asarray(self.coarse, np.float32),
                                          self.cells, self.centre_probes)
        else:
            self._index = faiss.IndexFlatIP(self.keys.shape[1])
            self._index.add(self.keys)

    @property
    def n_clusters(self) -> int:
        return len(self.keys)

    def probes(self, queries: np.ndarray, nprobe: int) -> np.ndarray:
        """The `nprobe` best-scored centres of each query, best first (int64, n x nprobe).
        With a margin, the centres scored more than `margin` below a query's best are -1."""
        nprobe = max(1, min(nprobe, self.n_clusters))
        scores, ids = self._index.search(augment(queries), nprobe)
        if self.margin is not None:
            ids[:, 1:][scores[:, 1:] < scores[:, :1] - self.margin] = -1
        return ids


def augment(queries: np.ndarray) -> np.ndarray:
    """[x, 1] rows: the constant column carries the map's offset."""
    queries = np.asarray(queries, dtype=np.float32)
    return np.ascontiguousarray(np.hstack([queries, np.ones((len(queries), 1), np.float32)]))


def coarse_keys(keys: np.ndarray, centres: Centres) -> np.ndarray:
    """The key of each coarse cell of two-level centres (no rows when flat): its coarse
    centre moved by the mean of its lists' learned shifts (key - centre), and the median of
    their offsets (an empty list's -10 does not drag its cell down)."""
    dim = centres.fine.shape[1]
    if not centres.two_level:
        return np.zeros((0, dim + 1), np.float32)
    keys = np.asarray(keys, dtype=np.float64)
    starts = np.searchsorted(centres.cells, np.arange(len(centres.coarse)))
    sizes = np.diff(np.append(starts, len(centres.cells)))[:, None]
    shift = np.add.reduceat(keys[:, :dim] - centres.fine, starts, axis=0) / sizes
    offsets = [np.median(part) for part in np.split(keys[:, dim], starts[1:])]
    return np.hstack([centres.coarse + shift, np.asarray(offsets)[:, None]]).astype(np.float32)


def paper_router(centroids: np.ndarray, name: str = PAPER) -> Router:
    return Router(np.hstack([centroids, np.zeros((len(centroids), 1), np.float32)]), name)


def fit_list_keys(images: np.ndarray, maxima: np.ndarray, centroids: np.ndarray,
                  ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """Keys (n_clusters x dim) and offsets (n_clusters) such that x . key_c + offset_c predicts
    max over list c of x . s (`maxima`, n x n_clusters; -inf where a list had nothing).

    A ridge regression of the residual over the paper's score x . c: with few images, or a
    large `ridge`, the keys stay the centres and only the per-list offsets (a list's mean
    lead over its centre score) are learned. `ridge` is relative to the sample's variance,
    so its meaning does not depend on the sample size.
    """
    x = np.asarray(images, dtype=np.float64)
    centres = np.asarray(centroids, dtype=np.float64)
    paper = x @ centres.T
    target = np.where(np.isfinite(maxima), maxima, paper)
    residual = target - paper
    mean_x, mean_r = x.mean(axis=0), residual.mean(axis=0)
    xc, rc = x - mean_x, residual - mean_r
    dim = x.shape[1]
    lam = ridge * max(float((xc ** 2).sum()) / dim, 1e-12)
    delta = np.linalg.solve(xc.T @ xc + lam * np.eye(dim), xc.T @ rc)  # dim x n_clusters
    keys = centres + delta.T
    offsets = mean_r - mean_x @ delta
    return keys.astype(np.float32), offsets.astype(np.float32)


def learned_router(keys: np.ndarray, offsets: np.ndarray, sizes: np.ndarray,
                   margin: float | None = None, size_penalty: float = 0.0) -> Router:
    """Empty lists get an offset below any cosine: a probe spent there finds nothing.
    Cost-aware: each list's estimate is lowered by `size_penalty` x log(its size), so between
    lists of about the same promise the cheaper scan goes first."""
    sizes = np.asarray(sizes)
    offsets = offsets - size_penalty * np.log(np.maximum(sizes, 1))
    offsets = np.where(sizes > 0, offsets, -10.0).astype(np.float32)
    return Router(np.hstack([keys, offsets[:, None]]), LEARNED, margin)
