"""Hierarchical search: nearest centre(s) first, then the sentences of those clusters only.

Inter-cluster: each query finds its `nprobe` best centres by its router (routing.py; the paper's
nearest centre of the raw vector with nprobe 1 reproduces the paper).
Intra-cluster: the (query, probed list) pairs are grouped by list, and each group is scored
against its list with ONE matrix product (the batching the paper relies on: a list is read and
converted once for all the queries that probe it). Each pair keeps its list's top-k; a query's
final top-k is the best of its nprobe * k candidates. With nprobe = number of clusters this is
exact search.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from realsyn.retrieve.index import ClusterIndex
from realsyn.retrieve.routing import Router, paper_router

# Lists handed to one worker thread at a time: large enough to amortise scheduling.
LISTS_PER_TASK = 64


@dataclass
class SearchResult:
    positions: np.ndarray  # int64 (n, k): sorted-row positions in the index; -1 = no result
    scores: np.ndarray  # float32 (n, k): cosine scores, best first; NaN = no result
    probes: np.ndarray  # int64 (n, nprobe): the centres probed, nearest first


class HierarchicalSearcher:
    def __init__(self, index: ClusterIndex, threads: int | None = None,
                 router: Router | None = None):
        self.index = index
        self.router = router or paper_router(index.centroids)
        self.threads = threads or faiss.omp_get_max_threads()

    def search(self, queries: np.ndarray, top_k: int = 3, nprobe: int = 1,
               query_doc_keys: np.ndarray | None = None, min_score: float | None = None
               ) -> SearchResult:
        """Top-k sentences of each query. `query_doc_keys` (one per query) turns on the
        own-document filter: sentences whose document key equals the query's are skipped."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        nprobe = max(1, min(nprobe, self.index.n_clusters))
        probes = self.router.probes(queries, nprobe)
        cand_scores, cand_positions = self._candidates(queries, probes, top_k, query_doc_keys)
        return _merge(cand_scores, cand_positions, top_k, min_score, probes)

    def cluster_maxima(self, queries: np.ndarray, query_doc_keys: np.ndarray | None = None
                       ) -> np.ndarray:
        """Each query's best score in every list (float32, n x n_clusters; -inf where a list
        is empty or filtered out): what a router would ideally rank lists by."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        every = np.broadcast_to(np.arange(self.index.n_clusters), (len(queries),
                                                                    self.index.n_clusters))
        scores, _ = self._candidates(queries, np.ascontiguousarray(every), 1, query_doc_keys)
        return scores

    def _candidates(self, queries: np.ndarray, probes: np.ndarray, top_k: int,
                    query_doc_keys: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Slot s of query i holds the top-k of its s-th probed list: scores and positions."""
        n, nprobe = probes.shape
        cand_scores = np.full((n, nprobe * top_k), -np.inf, dtype=np.float32)
        cand_positions = np.full((n, nprobe * top_k), -1, dtype=np.int64)

        flat_lists = probes.ravel()
        pair_order = np.argsort(flat_lists, kind="stable")
        pair_query = (pair_order // nprobe).astype(np.int64)
        pair_slot = (pair_order % nprobe).astype(np.int64)
        lists_sorted = flat_lists[pair_order]
        starts = np.flatnonzero(np.r_[True, lists_sorted[1:] != lists_sorted[:-1]])
        ends = np.r_[starts[1:], len(lists_sorted)]
        groups = [(int(lists_sorted[a]), a, b) for a, b in zip(starts, ends, strict=True)
                  if lists_sorted[a] >= 0]

        def run(chunk: list[tuple[int, int, int]]) -> None:
            for cluster, a, b in chunk:
                self._search_list(cluster, queries, pair_query[a:b], pair_slot[a:b], top_k,
                                  query_doc_keys, cand_scores, cand_positions)

        chunks = [groups[i:i + LISTS_PER_TASK] for i in range(0, len(groups), LISTS_PER_TASK)]
        # The per-list products are small: threads over lists beat BLAS threads inside each
        # product (measured ~3x), and both at once oversubscribe the cores.
        with threadpool_limits(limits=1, user_api="blas"):
            if self.threads > 1 and len(chunks) > 1:
                with ThreadPoolExecutor(self.threads) as pool:
                    list(pool.map(run, chunks))
            else:
                for chunk in chunks:
                    run(chunk)

        return cand_scores, cand_positions

    def exact(self, queries: np.ndarray, top_k: int = 3,
              query_doc_keys: np.ndarray | None = None, min_score: float | None = None
              ) -> SearchResult:
        """Every list probed: exact search, with the same filters as `search`. The paper's
        router probes all lists at nprobe = n_clusters (an adaptive one would skip some)."""
        return HierarchicalSearcher(self.index, self.threads).search(
            queries, top_k, self.index.n_clusters, query_doc_keys, min_score)

    def _search_list(self, cluster: int, queries: np.ndarray, query_ids: np.ndarray,
                     slots: np.ndarray, top_k: int, query_doc_keys: np.ndarray | None,
                     cand_scores: np.ndarray, cand_positions: np.ndarray) -> None:
        lo, hi = self.index.list_bounds(cluster)
        size = hi - lo
        if size == 0:
            return
        members = np.asarray(self.index.vectors[lo:hi], dtype=np.float32)
        scores = queries[query_ids] @ members.T  # the one matrix product of this group
        if query_doc_keys is not None:
            own = query_doc_keys[query_ids][:, None] == self.index.doc_keys[lo:hi][None, :]
            scores[own] = -np.inf
        keep = min(top_k, size)
        if size > keep:
            best = np.argpartition(scores, size - keep, axis=1)[:, size - keep:]
        else:
            best = np.broadcast_to(np.arange(size), (len(query_ids), size))
        columns = slots[:, None] * top_k + np.arange(keep)
        rows = query_ids[:, None]
        cand_scores[rows, columns] = np.take_along_axis(scores, best, axis=1)
        cand_positions[rows, columns] = lo + best


def _merge(cand_scores: np.ndarray, cand_positions: np.ndarray, top_k: int,
           min_score: float | None, probes: np.ndarray) -> SearchResult:
    """Each query's best top_k candidates, best first; missing results as -1 / NaN."""
    top_k = min(top_k, cand_scores.shape[1])
    # ties broken by sorted-row position, so results do not depend on the candidate layout
    order = np.lexsort((cand_positions, -cand_scores), axis=1)[:, :top_k]
    scores = np.take_along_axis(cand_scores, order, axis=1)
    positions = np.take_along_axis(cand_positions, order, axis=1)
    missing = ~np.isfinite(scores) | (positions < 0)
    if min_score is not None:
        missing |= scores < min_score
    positions[missing] = -1
    scores[missing] = np.nan
    return SearchResult(positions=positions, scores=scores, probes=probes)
