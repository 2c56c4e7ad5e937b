"""Brute-force oracles of the single-process dedup rules, independent of the code under test:
every pair scored, groups closed by min-label propagation (not scipy, not the code's
components), representatives chosen by a plain loop."""

from __future__ import annotations

import numpy as np
from datasketch import MinHash, MinHashLSH

from realsyn.extract.dedup import normalize_text, shingles


def closure(count: int, pairs: list[tuple[int, int]] | np.ndarray) -> np.ndarray:
    """Labels (the lowest member of each group) of `count` items joined by `pairs`."""
    labels = np.arange(count)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    while True:
        low = np.minimum(labels[pairs[:, 0]], labels[pairs[:, 1]])
        before = labels.copy()
        np.minimum.at(labels, pairs[:, 0], low)
        np.minimum.at(labels, pairs[:, 1], low)
        labels = labels[labels]  # jump to the label's label
        if np.array_equal(labels, before):
            return labels


def kept(labels: np.ndarray, priority: np.ndarray | None = None) -> list[int]:
    """The representative of each group: highest priority, ties the first index."""
    best: dict[int, int] = {}
    for item, label in enumerate(labels.tolist()):
        if label not in best or (priority is not None and priority[item] > priority[best[label]]):
            best[label] = item
    return sorted(best.values())


def hamming_pairs(hashes: np.ndarray, radius: int) -> np.ndarray:
    values = np.asarray(hashes, dtype=np.int64).view(np.uint64)
    pairs = []
    for start in range(0, len(values), 1024):  # row blocks: bounded memory
        distance = np.bitwise_count(values[start:start + 1024, None] ^ values[None, :])
        rows, columns = np.nonzero(distance <= radius)
        later = columns > rows + start
        pairs.append(np.stack([rows[later] + start, columns[later]], axis=1))
    return np.concatenate(pairs) if pairs else np.empty((0, 2), dtype=np.int64)


def sentence_pairs(texts: list[str], threshold: float, num_perm: int, ngram: int
                   ) -> np.ndarray:
    """Today's sentence rule, written out plainly: equal normalised texts, plus every two
    first occurrences of distinct texts that share an LSH band (a dict of band values) and
    whose MinHash Jaccard estimate is >= threshold."""
    keys = [normalize_text(text) for text in texts]
    first: dict[str, int] = {}
    pairs = []
    for index, key in enumerate(keys):
        if key in first:
            pairs.append((first[key], index))
        else:
            first[key] = index
    firsts = sorted(first.values())
    values = []
    for index in firsts:
        minhash = MinHash(num_perm=num_perm, seed=1)
        minhash.update_batch(list(shingles(texts[index], ngram)))
        values.append(minhash.hashvalues)
    values = np.array(values).reshape(len(firsts), num_perm)
    buckets: dict[tuple[int, bytes], list[int]] = {}  # (band, its values) -> firsts in it
    for band, (low, high) in enumerate(MinHashLSH(threshold=threshold,
                                                  num_perm=num_perm).hashranges):
        for row in range(len(firsts)):
            buckets.setdefault((band, values[row, low:high].tobytes()), []).append(row)
    candidates = {(a, b) for rows in buckets.values() for i, a in enumerate(rows)
                  for b in rows[i + 1:]}
    left, right = [], []
    for a, b in sorted(candidates):  # confirmed by the Jaccard estimate, as MinHash.jaccard
        if np.count_nonzero(values[a] == values[b]) / num_perm >= threshold:
            left.append(a)
            right.append(b)
    pairs += [(firsts[a], firsts[b]) for a, b in zip(left, right, strict=True)]
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def cosine_pairs(vectors: np.ndarray, threshold: float) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    left, right = np.nonzero(np.triu(vectors @ vectors.T >= threshold, k=1))
    return np.stack([left, right], axis=1)
