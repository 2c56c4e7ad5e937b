"""Pairs semantic_dedup's capped routing loses, on real sentence embeddings.

semantic_dedup searches a vector in the partitions that may hold a pair within the threshold,
at most `extract.partition_max_probes` of them, nearest first (extract/semantic_partition.py).
This measures, for each cap, the share of the exact pairs (cosine >= threshold, found by an
exhaustive faiss range search) whose two vectors still meet: a pair is found when either vector
is routed to the other's home partition. It also prints how many partitions the exact bound
admits per vector (the cost of `partition_max_probes: null`).

The vectors are the real documentation sentences the retrieval benchmark embeds with the
offline encoder (all-MiniLM-L6-v2): run `python benchmarks/bench_retrieval.py real` once.

    python benchmarks/bench_semantic_routing.py [--partition-sizes 2000 500] [--probes 1 2 4 8]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import faiss
import numpy as np

from realsyn.config import ExtractConfig, SentenceFilterConfig
from realsyn.extract import semantic_partition as sp

CACHE = Path(__file__).resolve().parent / "results" / "real" / "sentence_embeddings.npy"


def exact_pairs(vectors: np.ndarray, threshold: float) -> np.ndarray:
    """[m, 2] (i < j) pairs with cosine >= threshold, by exhaustive range search."""
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    limits, _, neighbours = index.range_search(vectors, threshold - 1e-6)
    rows = np.repeat(np.arange(len(vectors)), np.diff(limits).astype(np.int64))
    keep = rows < neighbours
    return np.stack([rows[keep], neighbours[keep]], axis=1)


def found_share(pairs: np.ndarray, home: np.ndarray, rows: np.ndarray, parts: np.ndarray,
                partitions: int) -> float:
    """Share of `pairs` where one vector is routed to the other's home partition."""
    routed = set((rows * partitions + parts).tolist())
    left, right = pairs[:, 0], pairs[:, 1]
    found = [a * partitions + home[b] in routed or b * partitions + home[a] in routed
             for a, b in zip(left.tolist(), right.tolist(), strict=True)]
    return float(np.mean(found)) if found else 1.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=Path, default=CACHE)
    parser.add_argument("--threshold", type=float,
                        default=SentenceFilterConfig().paraphrase_threshold)
    parser.add_argument("--partition-sizes", type=int, nargs="+",
                        default=[ExtractConfig().partition_size, 500])
    parser.add_argument("--probes", type=int, nargs="+", default=[1, 2, 3, 4, 6, 8])
    args = parser.parse_args(argv)
    if not args.vectors.exists():
        raise SystemExit(f"{args.vectors} is missing: run "
                         "`python benchmarks/bench_retrieval.py real` first")
    vectors = np.asarray(np.load(args.vectors), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pairs = exact_pairs(vectors, args.threshold)
    print(f"{len(vectors):,} sentences, {len(pairs):,} pairs at cosine >= {args.threshold}")
    defaults = ExtractConfig()
    print("| partitions | exact bound: partitions per vector | "
          + " | ".join(f"pairs found, {k} probes" for k in args.probes) + " |")
    print("|---" * (2 + len(args.probes)) + "|")
    for size in args.partition_sizes:
        count = sp.partition_count(len(vectors), size)
        sample = vectors[np.random.default_rng(defaults.seed).choice(
            len(vectors), min(len(vectors), defaults.max_training_points), replace=False)]
        centroids = sp.train_centroids(sample, count, defaults.kmeans_iterations, defaults.seed)
        home, similarity = sp.assign(vectors, centroids)
        caps = sp.partition_caps(home, similarity, len(centroids))
        exact_rows, _, _ = sp.route(vectors, centroids, caps, args.threshold)
        shares = []
        for probes in args.probes:
            rows, parts, _ = sp.route(vectors, centroids, caps, args.threshold, 1, probes)
            shares.append(found_share(pairs, home, rows, parts, len(centroids)))
        print(f"| {len(centroids)} | {len(exact_rows) / len(vectors):.1f} | "
              + " | ".join(f"{share:.4f}" for share in shares) + " |", flush=True)


if __name__ == "__main__":
    main()
