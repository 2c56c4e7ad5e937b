"""The single-process dedup pair finders, as dedup was before it was partitioned: exact,
near-exact (MinHash-LSH) and semantic (embedding) duplicate pairs over a whole list held in
one process. The partitioned stages (realsyn.extract.dedup_stage, semantic_dedup_stage) must
find the same groups (tests/extract/test_partitioned_dedup.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import faiss
import numpy as np
from datasketch import MinHash, MinHashLSH

from realsyn.extract.dedup import normalize_text, shingles


def exact_pairs(texts: Sequence[str]) -> np.ndarray:
    """Chain pairs joining texts with equal normalised keys."""
    first: dict[str, int] = {}
    pairs = []
    for index, text in enumerate(texts):
        key = normalize_text(text)
        if key in first:
            pairs.append((first[key], index))
        else:
            first[key] = index
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def minhash_pairs(texts: Sequence[str], threshold: float = 0.8, num_perm: int = 128,
                  ngram: int = 5, seed: int = 1) -> np.ndarray:
    """Pairs of texts whose character-shingle Jaccard similarity is about >= threshold.

    LSH proposes candidates; each is confirmed with the MinHash estimate of the Jaccard
    similarity, so a banding false positive never merges two groups.
    """
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    hashes = []
    for index, text in enumerate(texts):
        minhash = MinHash(num_perm=num_perm, seed=seed)
        minhash.update_batch(list(shingles(text, ngram)))
        hashes.append(minhash)
        lsh.insert(index, minhash, check_duplication=False)
    pairs = []
    for index, minhash in enumerate(hashes):
        for other in lsh.query(minhash):
            if other > index and minhash.jaccard(hashes[other]) >= threshold:
                pairs.append((index, other))
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def semantic_pairs(vectors: np.ndarray, threshold: float, partition_size: int = 2000,
                   probes: int = 2, iterations: int = 20, seed: int = 0) -> np.ndarray:
    """Pairs of rows whose cosine similarity is >= threshold (rows L2-normalised).

    Not an all-pairs scan: spherical k-means splits the rows into about n / partition_size
    partitions; each row is searched exhaustively (faiss range search on inner products)
    against the members of its `probes` nearest partitions, so pairs split by a partition
    border are still found when the border is among the nearest ones.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    count, dim = vectors.shape if vectors.ndim == 2 else (0, 0)
    if count < 2:
        return np.empty((0, 2), dtype=np.int64)
    parts = max(1, math.ceil(count / partition_size))
    if parts == 1:
        assignment = np.zeros((count, 1), dtype=np.int64)
    else:
        kmeans = faiss.Kmeans(dim, parts, niter=iterations, seed=seed, spherical=True,
                              max_points_per_centroid=256, verbose=False)
        kmeans.train(vectors)
        _, assignment = kmeans.index.search(vectors, min(probes, parts))
    home = assignment[:, 0]
    radius = float(threshold) - 1e-6  # range search keeps scores strictly above the radius
    pairs = []
    for part in range(parts):
        members = np.flatnonzero(home == part)
        queries = np.flatnonzero((assignment == part).any(axis=1))
        if len(members) == 0 or len(queries) == 0:
            continue
        index = faiss.IndexFlatIP(dim)
        index.add(vectors[members])
        limits, _, found = index.range_search(vectors[queries], radius)
        left = np.repeat(queries, np.diff(limits.astype(np.int64)))
        right = members[found]
        distinct = left != right
        pairs.append(np.stack([left[distinct], right[distinct]], axis=1))
    if not pairs:
        return np.empty((0, 2), dtype=np.int64)
    return np.concatenate(pairs).astype(np.int64)
