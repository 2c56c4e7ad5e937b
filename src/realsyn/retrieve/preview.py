"""The CLI's preview of a retrieve run: a few images spread over the output, with their texts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from realsyn import datasets
from realsyn.workspace import Workspace


def preview(workspace: Workspace, n_images: int, top_k: int, dataset: str = datasets.RETRIEVED
            ) -> list[str]:
    """Human lines: for `n_images` retrieved images spread evenly over the dataset (not just
    its first rows, which often come from one document), their texts with scores."""
    shards = workspace.shards(dataset)
    counts = [workspace.read_table(dataset, shard, columns=[]).num_rows for shard in shards]
    total = sum(counts)
    if total == 0 or n_images == 0:
        return []
    wanted = np.unique(np.linspace(0, total - 1, min(n_images, total)).round().astype(np.int64))
    bounds = np.cumsum([0, *counts])
    rows: list[dict[str, Any]] = []
    for i, shard in enumerate(shards):
        local = wanted[(wanted >= bounds[i]) & (wanted < bounds[i + 1])] - bounds[i]
        if len(local):
            rows += workspace.read_table(dataset, shard).take(pa.array(local)).to_pylist()
    lines = []
    for row in rows:
        lines.append(f"  image {row['image_id']} {row['url']}")
        lines += [f"    {row[f'score{i}']:.3f}  {row[f'text{i}']}"
                  for i in range(1, top_k + 1) if row[f"text{i}"] is not None]
    return lines
