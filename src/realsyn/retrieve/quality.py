"""What retrieval returned, checked: the audit against exact search, the reuse of sentences as
text1, and the optional cap on how many images one sentence serves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from realsyn.config import RetrieveConfig
from realsyn.retrieve.index import ClusterIndex
from realsyn.retrieve.search import HierarchicalSearcher, SearchResult

# With a cap, each image is searched for this many times top_k candidates, so that an image
# whose best sentences are used up still has others to take.
CAP_CANDIDATES = 10
TOP_REUSED = 10


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


def warnings(stats: dict[str, Any], config: RetrieveConfig) -> list[str]:
    """What a reader of the report must not miss: routed search that found much less than
    exact search would, and a hub sentence that is text1 of too many images."""
    out = []
    recall = stats.get(f"audit_recall@{config.top_k}")
    if recall is not None and recall < config.audit_recall_warning:
        out.append(f"audit recall@{config.top_k} {recall:.3f} is below "
                   f"{config.audit_recall_warning}: routed search misses sentences exact "
                   "search finds (more lists: retrieve.nprobe, or exact_search_max_products)")
    share = stats.get("text1_max_share")
    if share is not None and share > config.text1_share_warning:
        out.append(f"one sentence is text1 of {100 * share:.1f}% of the images (more than "
                   f"{100 * config.text1_share_warning:.0f}%): a hub sentence "
                   "(retrieve.max_uses_per_sentence caps it)")
    return out


def reuse_lines(reuse: dict[str, Any]) -> list[str]:
    """The summary's lines: the most reused text1 sentences."""
    if not reuse.get("top"):
        return []
    lines = [f"  text1 reuse: {reuse['stats']['text1_sentences']} sentences serve "
             f"{reuse['images']} images; most used:"]
    lines += [f"    {row['uses']:>4}x  {row['text'][:100]}" for row in reuse["top"]]
    return lines
