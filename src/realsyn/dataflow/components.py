"""Groups of duplicates: connected components over an edge list, and the representative rule.

Components come from scipy's `connected_components` on a sparse graph built from the edges
only, so the cost follows the number of edges, not the number of records (items without an
edge are singletons and never enter the graph). Item ids may be any int64 (e.g. global row
ids spread over shards): they are compacted to 0..m-1 first.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def edge_components(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nodes, labels): every id that appears in an edge, ascending, and its component label
    (labels are 0..k-1, equal for ids joined by a chain of edges)."""
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    nodes, compact = np.unique(np.concatenate([left, right]), return_inverse=True)
    if len(nodes) == 0:
        return nodes, np.empty(0, dtype=np.int64)
    count = len(nodes)
    graph = coo_matrix((np.ones(len(left), dtype=np.int8),
                        (compact[:len(left)], compact[len(left):])), shape=(count, count))
    _, labels = connected_components(graph.tocsr(), directed=False)
    return nodes, labels.astype(np.int64)


def component_labels(count: int, *pair_sets: np.ndarray) -> np.ndarray:
    """A label per item 0..count-1: items joined by the given [m, 2] pair arrays share one.
    Items in no pair keep a label of their own (their index, offset past the components)."""
    pairs = [np.asarray(p, dtype=np.int64).reshape(-1, 2) for p in pair_sets]
    edges = np.concatenate(pairs) if pairs else np.empty((0, 2), dtype=np.int64)
    labels = np.arange(count, dtype=np.int64) + count
    nodes, groups = edge_components(edges[:, 0], edges[:, 1])
    labels[nodes] = groups
    return labels


def keep_one_per_group(labels: np.ndarray, priority: np.ndarray,
                       order_key: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask keeping, in each group, the item of highest priority (ties: lowest
    `order_key`, by default the index).

    `priority` is any sortable key per item, e.g. image area: the representative rule of a
    dedup step is expressed by the priority it passes.
    """
    count = len(labels)
    keep = np.zeros(count, dtype=bool)
    if count == 0:
        return keep
    ties = np.arange(count) if order_key is None else np.asarray(order_key)
    # Sort by group, then priority descending, then order ascending; the first of each group wins.
    order = np.lexsort((ties, -np.asarray(priority, dtype=np.float64), labels))
    first = np.ones(count, dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    keep[order[first]] = True
    return keep
