"""What retrieval returned, checked: the figures of the audit against exact search and of the
reuse of sentences as text1, and the warnings a reader must not miss."""

from __future__ import annotations

from typing import Any

import numpy as np

from realsyn.config import RetrieveConfig
from realsyn.retrieve.lists import AUDIT_SUMS

# With a cap, each image is searched for this many times top_k candidates, so that an image
# whose best sentences are used up still has others to take.
CAP_CANDIDATES = 10
TOP_REUSED = 10


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


def reuse_report(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """How many images each text1 sentence serves, from the partitions' counts."""
    uses = np.array([u for part in parts for u in part["uses"]], dtype=np.int64)
    sentences = np.array([n for part in parts for n in part["sentences"]], dtype=np.int64)
    if not len(uses):
        return {"stats": {"text1_sentences": 0}, "top": []}
    top = sorted((row for part in parts for row in part["top"]),
                 key=lambda row: (-row["uses"], row["key"]))[:TOP_REUSED]
    images = int((uses * sentences).sum())
    stats = {"text1_sentences": int(sentences.sum()),
             "text1_max_uses": int(uses.max()),
             "text1_max_share": round(int(uses.max()) / images, 4),
             "text1_p99_uses": round(percentile_of_counts(uses, sentences, 99), 2),
             "images_sharing_text1": int((uses * sentences)[uses > 1].sum())}
    return {"stats": stats, "images": images,
            "top": [{key: row[key] for key in ("uses", "sentence_id", "text")} for row in top],
            "note": "uses = images whose text1 is the sentence; p99 over sentences used as "
                    "text1; images_sharing_text1 = images whose text1 serves another image too"}


def audit_figures(stats: dict[str, Any], top_k: int) -> dict[str, Any]:
    """The audit's ratios from the per-shard sums."""
    queries = stats.get("audit_queries", 0)
    if not queries:
        return {"audit_queries": 0}
    exact = stats[f"{AUDIT_SUMS}exact_score"]
    ratio = stats[f"{AUDIT_SUMS}routed_score"] / exact if exact else 1.0
    return {"audit_score_ratio": round(ratio, 4),
            f"audit_recall@{top_k}": round(stats[f"{AUDIT_SUMS}recall"] / queries, 4),
            "audit_top1_same": round(stats[f"{AUDIT_SUMS}top1_same"] / queries, 4),
            "audit_lists_per_image": round(stats.get(f"{AUDIT_SUMS}lists_probed", 0) / queries,
                                           3)}


def percentile_of_counts(values: np.ndarray, counts: np.ndarray, q: float) -> float:
    """np.percentile(q, linear) of the multiset holding values[i] counts[i] times."""
    order = np.argsort(values)
    values, counts = np.asarray(values)[order], np.asarray(counts)[order]
    ends = np.cumsum(counts)
    position = q / 100 * (ends[-1] - 1)
    low, high = int(np.floor(position)), int(np.ceil(position))
    v_low = float(values[np.searchsorted(ends, low, side="right")])
    v_high = float(values[np.searchsorted(ends, high, side="right")])
    return float(np.percentile([v_low, v_high], (position - low) * 100))
