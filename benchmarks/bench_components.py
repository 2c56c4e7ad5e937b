"""Grouping duplicate pairs: a Python union-find loop versus scipy's connected_components.

The dedup stages close candidate edges into groups with scipy (`union_find.edge_components`);
the single-process version joined them with a per-pair Python union-find. Both run here on
the same random edge list (sparse global ids, as the partitioned stages produce), the groups
are checked equal, and the best of `--repeat` wall times is printed.

    .venv/bin/python benchmarks/bench_components.py [--pairs 200000] [--items 1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from realsyn.dataflow.components import edge_components


def python_union_find(count: int, pairs: np.ndarray) -> np.ndarray:
    """The baseline: union by size with path compression, one Python call per pair."""
    parent = np.arange(count, dtype=np.int64)
    size = np.ones(count, dtype=np.int64)

    def find(item: int) -> int:
        root = item
        while parent[root] != root:
            root = parent[root]
        while parent[item] != root:
            parent[item], item = root, parent[item]
        return int(root)

    for a, b in pairs:
        root_a, root_b = find(int(a)), find(int(b))
        if root_a != root_b:
            if size[root_a] < size[root_b]:
                root_a, root_b = root_b, root_a
            parent[root_b] = root_a
            size[root_a] += size[root_b]
    return np.array([find(i) for i in range(count)], dtype=np.int64)


def best_time(function, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, args.items, size=(args.pairs, 2))
    # The Python loop needs dense ids 0..m-1 (its arrays are per item): compact them outside
    # the timed part, which favours the baseline.
    nodes, compact = np.unique(pairs, return_inverse=True)
    compact = compact.reshape(-1, 2)
    loop_s, roots = best_time(lambda: python_union_find(len(nodes), compact), args.repeat)
    scipy_s, (found_nodes, labels) = best_time(
        lambda: edge_components(pairs[:, 0], pairs[:, 1]), args.repeat)
    assert np.array_equal(found_nodes, nodes)
    # Same partition of the ids: roots and labels correspond one to one.
    same = len(set(zip(roots.tolist(), labels.tolist(), strict=True))) == len(
        np.unique(roots)) == len(np.unique(labels))
    print(f"{args.pairs:,} pairs over {len(nodes):,} ids: python union-find {loop_s:.3f} s, "
          f"scipy connected_components {scipy_s:.3f} s ({loop_s / scipy_s:.1f}x); "
          f"same groups: {same}")


if __name__ == "__main__":
    main()
