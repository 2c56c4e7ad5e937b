"""The `retrieved` records: each image with its top-k sentences, from the picked candidates."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from realsyn.retrieve.candidates import dense

IMAGE_COLUMNS = ["image_id", "doc_id", "position", "url"]


def retrieved_schema(top_k: int) -> pa.Schema:
    fields = [("image_id", pa.string()), ("doc_id", pa.string()), ("position", pa.int32()),
              ("url", pa.string()),
              ("image_cluster_id", pa.int64())]  # the first list the image probed
    for i in range(1, top_k + 1):
        fields += [(f"text{i}", pa.string()),  # text1 = most similar
                   (f"score{i}", pa.float32()),  # cosine image-sentence
                   (f"sentence_id{i}", pa.string()),
                   (f"sentence_doc_id{i}", pa.string()),  # the sentence's source document
                   (f"cluster_id{i}", pa.int64())]  # the cluster the sentence belongs to
    return pa.schema(fields)


def output_table(images: pa.Table, first_probe: np.ndarray, picked: pa.Table,
                 found: np.ndarray, top_k: int, n_rows: int) -> pa.Table:
    """The `retrieved` rows of the images `found` (sorted) from their picked candidates."""
    picked_rows = np.asarray(picked.column("row"))
    cell = dense(found, picked_rows, np.arange(len(picked_rows)), top_k, -1)
    keys = dense(found, picked_rows, np.asarray(picked.column("key")), top_k, -1)
    scores = dense(found, picked_rows, np.asarray(picked.column("score")), top_k,
                   np.float32(np.nan))
    columns: dict[str, Any] = {name: images.column(name) for name in IMAGE_COLUMNS}
    columns["image_cluster_id"] = pa.array(first_probe, pa.int64())
    for j in range(top_k):
        missing = cell[:, j] < 0
        take = pa.array(cell[:, j], pa.int64(), mask=missing)
        columns[f"text{j + 1}"] = picked.column("text").take(take)
        columns[f"score{j + 1}"] = pa.array(scores[:, j], pa.float32(), mask=missing)
        columns[f"sentence_id{j + 1}"] = picked.column("sentence_id").take(take)
        columns[f"sentence_doc_id{j + 1}"] = picked.column("doc_id").take(take)
        columns[f"cluster_id{j + 1}"] = pa.array(keys[:, j] // max(1, n_rows), pa.int64(),
                                                 mask=missing)
    return pa.table(columns, schema=retrieved_schema(top_k))
