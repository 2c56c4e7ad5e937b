"""The `retrieved` records built from picked candidates: what the stage's tests do not reach
(found by mutating src/realsyn/retrieve/output.py)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from realsyn.retrieve.output import output_table, retrieved_schema


def _picked(rows, keys, scores):
    return pa.table({"row": pa.array(rows, pa.int64()), "key": pa.array(keys, pa.int64()),
                     "score": pa.array(scores, pa.float32()),
                     "text": [f"t{k}" for k in keys], "sentence_id": [f"s{k}" for k in keys],
                     "doc_id": [f"d{k}" for k in keys]})


def test_records_take_the_schema_whatever_the_image_columns_types():
    # an images table whose position is int64 (the schema says int32)
    images = pa.table({"image_id": ["a", "b"], "doc_id": ["da", "db"],
                       "position": pa.array([4, 7], pa.int64()), "url": ["u", None]})
    picked = _picked([3, 3, 8], [5, 2, 3], [0.9, 0.5, 0.7])
    table = output_table(images, np.array([1, 0]), picked, np.array([3, 8]), 2, 1)
    assert table.schema == retrieved_schema(2)
    assert table.to_pylist() == [
        {"image_id": "a", "doc_id": "da", "position": 4, "url": "u", "image_cluster_id": 1,
         "text1": "t5", "score1": np.float32(0.9).item(), "sentence_id1": "s5",
         "sentence_doc_id1": "d5", "cluster_id1": 5,
         "text2": "t2", "score2": 0.5, "sentence_id2": "s2", "sentence_doc_id2": "d2",
         "cluster_id2": 2},
        {"image_id": "b", "doc_id": "db", "position": 7, "url": None, "image_cluster_id": 0,
         "text1": "t3", "score1": np.float32(0.7).item(), "sentence_id1": "s3",
         "sentence_doc_id1": "d3", "cluster_id1": 3,
         "text2": None, "score2": None, "sentence_id2": None, "sentence_doc_id2": None,
         "cluster_id2": None}]


def test_cluster_ids_are_the_keys_divided_by_the_sentence_rows():
    images = pa.table({"image_id": ["a"], "doc_id": ["da"], "position": pa.array([0], pa.int32()),
                       "url": ["u"]})
    table = output_table(images, np.array([0]), _picked([0], [23], [0.5]), np.array([0]), 1, 10)
    assert table.column("cluster_id1").to_pylist() == [2]
