"""Union-find (disjoint sets) over row numbers 0..n-1, used by every dedup step."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class UnionFind:
    def __init__(self, size: int):
        self.parent = np.arange(size, dtype=np.int64)
        self.size = np.ones(size, dtype=np.int64)

    def find(self, item: int) -> int:
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:  # path compression
            self.parent[item], item = root, self.parent[item]
        return int(root)

    def union(self, a: int, b: int) -> bool:
        """Merge the sets of a and b; True if they were apart."""
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return False
        if self.size[root_a] < self.size[root_b]:  # union by size keeps trees shallow
            root_a, root_b = root_b, root_a
        self.parent[root_b] = root_a
        self.size[root_a] += self.size[root_b]
        return True

    def union_pairs(self, pairs: Iterable[tuple[int, int]]) -> int:
        return sum(self.union(int(a), int(b)) for a, b in pairs)

    def labels(self) -> np.ndarray:
        """The root of every item: items with equal labels are in one group."""
        return np.array([self.find(i) for i in range(len(self.parent))], dtype=np.int64)

    def groups(self) -> list[list[int]]:
        """Every group with more than one member, members ascending, groups by first member."""
        members: dict[int, list[int]] = {}
        for item, root in enumerate(self.labels()):
            members.setdefault(int(root), []).append(item)
        return sorted((group for group in members.values() if len(group) > 1),
                      key=lambda group: group[0])


def keep_one_per_group(labels: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Boolean mask keeping, in each group, the item of highest priority (ties: lowest index).

    `priority` is any sortable key per item, e.g. image area: the representative rule of a
    dedup step is expressed by the priority it passes.
    """
    count = len(labels)
    keep = np.zeros(count, dtype=bool)
    if count == 0:
        return keep
    # Sort by group, then priority descending, then index ascending; the first of each group wins.
    order = np.lexsort((np.arange(count), -np.asarray(priority, dtype=np.float64), labels))
    first = np.ones(count, dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    keep[order[first]] = True
    return keep
