"""The single-process audit, cap and reuse report of retrieval, as they were before retrieval
was partitioned: one process holds every image's search result. The oracle of the partitioned
stage's audit, cap and reuse steps (tests/retrieve/test_partitioned_retrieve.py), and the
brute-force search they are measured against."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faiss
import numpy as np

from realsyn.config import RetrieveConfig
from realsyn.retrieve.index import ClusterIndex
from realsyn.retrieve.quality import TOP_REUSED
from realsyn.retrieve.search import HierarchicalSearcher, SearchResult


class Audit:
    """Sample images searched again exactly; compares their routed top-k with the exact one."""

    def __init__(self, searcher: HierarchicalSearcher, config: RetrieveConfig):
        self.searcher, self.config = searcher, config
        self.queries = 0
        self.routed_score = self.exact_score = 0.0
        self.recall_sum = 0.0
        self.top1_same = 0
        self.lists_probed = 0  # adaptive routing probes a varying number of lists

    def check(self, global_rows: np.ndarray, audit_rows: np.ndarray, result: SearchResult,
              read: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
              local_rows: np.ndarray) -> None:
        """Audit the rows of one searched shard that belong to the audit sample."""
        picked = np.flatnonzero(np.isin(global_rows, audit_rows))
        if len(picked) == 0:
            return
        vectors, keys = read(local_rows[picked])
        config = self.config
        exact = self.searcher.exact(vectors, config.top_k,
                                    keys if config.exclude_own_document else None,
                                    config.min_score)
        routed_positions = result.positions[picked, :config.top_k]
        self.queries += len(picked)
        self.lists_probed += int((result.probes[picked] >= 0).sum())
        self.routed_score += float(np.nansum(result.scores[picked, :config.top_k]))
        self.exact_score += float(np.nansum(exact.scores))
        for routed, best in zip(routed_positions, exact.positions, strict=True):
            wanted = set(best[best >= 0].tolist())
            if wanted:
                self.recall_sum += len(wanted & set(routed.tolist())) / len(wanted)
            self.top1_same += int(routed[0] == best[0])

    def stats(self) -> dict[str, Any]:
        if self.queries == 0:
            return {"audit_queries": 0}
        ratio = self.routed_score / self.exact_score if self.exact_score else 1.0
        return {"audit_queries": self.queries, "audit_score_ratio": round(ratio, 4),
                f"audit_recall@{self.config.top_k}": round(self.recall_sum / self.queries, 4),
                "audit_top1_same": round(self.top1_same / self.queries, 4),
                "audit_lists_per_image": round(self.lists_probed / self.queries, 3)}

    def report(self) -> dict[str, Any]:
        return {**self.stats(), "routing": self.searcher.router.name,
                "nprobe": self.config.lists_probed, "margin": self.searcher.router.margin,
                "seed": self.config.seed,
                "note": "routed search vs exact search (every list) on a seeded sample of "
                        "images kept apart from the routing fit sample; before any cap"}


def cap_sentence_uses(results: list[SearchResult], cap: int, top_k: int
                      ) -> tuple[list[SearchResult], dict[str, int]]:
    """Each image's top_k among its candidates such that no sentence serves more than `cap`
    images. Pairs are taken best score first over all images, so a sentence goes to the images
    it matches best, and each image's texts stay in decreasing score order."""
    sizes = [len(r.positions) for r in results]
    positions = np.concatenate([r.positions for r in results])
    scores = np.concatenate([r.scores for r in results])
    n, depth = positions.shape
    image = np.repeat(np.arange(n), depth)
    flat_positions, flat_scores = positions.ravel(), scores.ravel()
    valid = np.flatnonzero(flat_positions >= 0)
    order = valid[np.lexsort((flat_positions[valid], image[valid], -flat_scores[valid]))]
    out_positions = np.full((n, top_k), -1, dtype=np.int64)
    out_scores = np.full((n, top_k), np.nan, dtype=np.float32)
    filled = np.zeros(n, dtype=np.int64)
    uses: dict[int, int] = {}
    for q, p, s in zip(image[order].tolist(), flat_positions[order].tolist(),
                       flat_scores[order].tolist(), strict=True):
        if filled[q] >= top_k or uses.get(p, 0) >= cap:
            continue
        uses[p] = uses.get(p, 0) + 1
        out_positions[q, filled[q]] = p
        out_scores[q, filled[q]] = s
        filled[q] += 1
    before = positions[:, :top_k]
    had_any = before[:, 0] >= 0
    stats = {"dropped_sentence_cap": int((had_any & (out_positions[:, 0] < 0)).sum()),
             "texts_changed_by_cap": int(((out_positions != before) & (before >= 0)).sum()),
             "texts_lost_by_cap": int(((out_positions < 0) & (before >= 0)).sum())}
    capped, start = [], 0
    for r, size in zip(results, sizes, strict=True):
        capped.append(SearchResult(out_positions[start:start + size],
                                   out_scores[start:start + size], r.probes))
        start += size
    return capped, stats


def sentence_reuse(results: list[SearchResult], index: ClusterIndex | None, lookup
                   ) -> dict[str, Any]:
    """How many images each text1 sentence serves: distribution and the most reused ones."""
    text1 = (np.concatenate([r.positions[:, 0] for r in results]) if results
             else np.zeros(0, np.int64))
    text1 = text1[text1 >= 0]
    if index is None or len(text1) == 0:
        return {"stats": {"text1_sentences": 0}, "top": []}
    sentences, uses = np.unique(text1, return_counts=True)
    order = np.lexsort((sentences, -uses))[:TOP_REUSED]
    fetched = lookup.fetch(np.asarray(index.rows)[sentences[order]])
    top = [{"uses": int(uses[i]), "sentence_id": sid, "text": text}
           for i, sid, text in zip(order, fetched["sentence_id"], fetched["text"], strict=True)]
    stats = {"text1_sentences": len(sentences),
             "text1_max_uses": int(uses.max()),
             "text1_max_share": round(int(uses.max()) / len(text1), 4),
             "text1_p99_uses": round(float(np.percentile(uses, 99)), 2),
             "images_sharing_text1": int(uses[uses > 1].sum())}
    return {"stats": stats, "images": len(text1), "top": top,
            "note": "uses = images whose text1 is the sentence; p99 over sentences used as "
                    "text1; images_sharing_text1 = images whose text1 serves another image too"}


def exact_search(vectors: np.ndarray, queries: np.ndarray, top_k: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-k by inner product with faiss IndexFlatIP: (scores, row ids)."""
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return flat.search(np.ascontiguousarray(queries, dtype=np.float32), top_k)
