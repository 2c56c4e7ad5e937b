"""The inverted lists of sentence embeddings as the searcher reads them: centres, the rows
sorted by cluster and each cluster's range (`ClusterIndex`), and the document keys of the
own-document filter (`realsyn.dataflow.digest.signed_hashes` of the document ids). The
retrieve stage builds one per list partition (retrieve/lists.py); tests/retrieve/oracle_index.py
builds the single-process one the stage is checked against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ClusterIndex:
    centroids: np.ndarray
    offsets: np.ndarray
    vectors: np.ndarray
    rows: np.ndarray
    doc_keys: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        return len(self.centroids)

    @property
    def dim(self) -> int:
        return self.centroids.shape[1]

    @property
    def ntotal(self) -> int:
        return len(self.rows)

    def list_bounds(self, cluster: int) -> tuple[int, int]:
        return int(self.offsets[cluster]), int(self.offsets[cluster + 1])

    def list_sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def cluster_of_sorted(self, positions: np.ndarray) -> np.ndarray:
        """The cluster owning each sorted row position (-1 for negative positions)."""
        clusters = np.searchsorted(self.offsets, positions, side="right") - 1
        return np.where(positions >= 0, clusters, -1)
