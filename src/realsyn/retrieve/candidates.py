"""Candidates of partitioned retrieval: (image row, score, sentence order key) triples from the
partitions, merged into each image's best ones, and the per-sentence cap.

Ties are broken as the single-process search breaks them: by order key (its index position).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from realsyn.config import RetrieveConfig
from realsyn.dataflow.rank import best_per_row, rank_within
from realsyn.retrieve import quality
from realsyn.retrieve.index import ClusterIndex
from realsyn.retrieve.lists import TEXT_COLUMNS
from realsyn.retrieve.queries import ImageRows

AUDIT_COLUMNS = ["image_shard", "row", "score", "key"]


def dense(rows: np.ndarray, picked_rows: np.ndarray, values: np.ndarray, width: int,
          fill) -> np.ndarray:
    """A (len(rows) x width) matrix of `values` laid out by row (in `rows`, sorted) and rank
    (values of one row in order), `fill` where a row has fewer."""
    out = np.full((len(rows), width), fill, dtype=np.asarray(values).dtype)
    where = np.searchsorted(rows, picked_rows)
    out[where, rank_within(picked_rows)] = values
    return out


def cap_uses(keys: np.ndarray, scores: np.ndarray, images: np.ndarray, cap: int) -> np.ndarray:
    """Indices of the pairs that survive a cap of `cap` images per sentence: each sentence
    keeps the images that score it highest (ties: lower global image row first)."""
    order = np.lexsort((images, -scores, keys))
    return np.sort(order[rank_within(keys[order]) < cap])


def cap_uses_top_first(keys: np.ndarray, scores: np.ndarray, images: np.ndarray,
                       ranks: np.ndarray, cap: int, top_k: int) -> np.ndarray:
    """Indices of the pairs that survive a cap of `cap` images per sentence, in two rounds.
    First the pairs within their image's top_k (`ranks`: the pair's rank among its image's
    candidates): each sentence keeps the images that score it highest. Then each sentence's
    capacity left goes to the images that score it highest among the further candidates, where
    an image that lost a text finds its next one. A sentence thus goes first to the images that
    would show it, not to images whose 20th candidate it is (one round over all candidates
    cost the demo 6.3% of its mean text1 score at a cap of 3, two rounds 4.1%)."""
    first = np.flatnonzero(ranks < top_k)
    kept = first[cap_uses(keys[first], scores[first], images[first], cap)]
    used_keys, used = np.unique(keys[kept], return_counts=True)
    rest = np.flatnonzero(ranks >= top_k)
    order = rest[np.lexsort((images[rest], -scores[rest], keys[rest]))]
    # uses of each further candidate's sentence in the first round (none: a partition may hold
    # no pair within its image's top_k at all)
    at = np.searchsorted(used_keys, keys[order])
    known = at < len(used_keys)
    known[known] = used_keys[at[known]] == keys[order][known]
    uses = np.zeros(len(order), dtype=np.int64)
    uses[known] = used[at[known]]
    more = order[rank_within(keys[order]) < cap - uses]
    return np.sort(np.concatenate([kept, more]))


def search_depth(config: RetrieveConfig) -> int:
    """Candidates kept per image: a cap needs more than top_k, so that an image whose best
    sentences are taken still has others."""
    return config.top_k * (quality.CAP_CANDIDATES if config.capped else 1)


def candidate_schema() -> pa.Schema:
    return pa.schema([("image_shard", pa.int64()), ("row", pa.int64()),
                      ("score", pa.float32()), ("key", pa.int64()),
                      *[(name, pa.string()) for name in TEXT_COLUMNS]])


def candidate_table(queries: np.ndarray, images: ImageRows, scores: np.ndarray,
                    positions: np.ndarray, index: ClusterIndex, sentences: pa.Table,
                    meta: dict[str, Any], lo: int) -> pa.Table:
    """The found candidates of a search over one partition (`queries`: global image rows):
    image shard and row, score, order key and the sentence's ids and text."""
    query, slot = np.nonzero(np.isfinite(scores) & (positions >= 0))
    position = positions[query, slot]
    clusters = index.cluster_of_sorted(position) + lo
    keys = clusters * meta["n_rows"] + np.asarray(index.rows)[position]
    image_shard, row = images.locate(queries[query])
    taken = sentences.select(list(TEXT_COLUMNS)).take(pa.array(position))
    return pa.table({"image_shard": pa.array(image_shard, pa.int64()),
                     "row": pa.array(row, pa.int64()),
                     "score": pa.array(scores[query, slot], pa.float32()),
                     "key": pa.array(keys, pa.int64()),
                     **{name: taken.column(name) for name in TEXT_COLUMNS}},
                    schema=candidate_schema())


def pick(candidates: pa.Table, depth: int, min_score: float | None) -> pa.Table:
    """Each image's `depth` best candidates, rows ascending, best first."""
    keep = best_per_row(np.asarray(candidates.column("row")),
                        np.asarray(candidates.column("score")),
                        np.asarray(candidates.column("key")), depth, min_score)
    return candidates.take(pa.array(keep, pa.int64()))


def key_matrix(picked: pa.Table, rows: np.ndarray, width: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Order keys (-1: none) and scores (NaN) of the picked candidates of `rows` (sorted)."""
    picked_rows = np.asarray(picked.column("row"))
    mine = np.isin(picked_rows, rows)
    return (dense(rows, picked_rows[mine], np.asarray(picked.column("key"))[mine], width, -1),
            dense(rows, picked_rows[mine], np.asarray(picked.column("score"))[mine], width,
                  np.float32(np.nan)))
