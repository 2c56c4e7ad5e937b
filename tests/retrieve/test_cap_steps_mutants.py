"""The retrieve stage's cap: what its other tests do not reach (found by mutating
src/realsyn/retrieve/cap_steps.py): the cap's stats against the records it changed, and the
routing it keeps."""

from __future__ import annotations

import pytest
from test_partitioned_retrieve import _run

from realsyn.retrieve.stage import RetrieveStage

TOP_K = 3


def _texts(workspace):
    return {row["image_id"]: row for row in workspace.read_dataset("retrieved").to_pylist()}


@pytest.mark.parametrize("min_score", [None, 0.85])
def test_the_cap_counts_the_texts_it_changed_and_lost_and_keeps_the_routing(tmp_path, min_score):
    # the stats compare with the texts an uncapped run writes: above the floor only
    retrieve = {"n_clusters": 4, "nprobe": 2, "partitions": 2, "routing": "paper",
                "min_score": min_score}
    free, free_stats = _run(tmp_path, "free", RetrieveStage(), retrieve)
    capped, stats = _run(tmp_path, "capped", RetrieveStage(),
                         {**retrieve, "max_uses_per_sentence": 1})
    before, after = _texts(free), _texts(capped)
    if min_score is not None:  # the floor at work
        assert any(row[f"sentence_id{TOP_K}"] is None for row in before.values())
    changed = lost = 0
    for image, row in before.items():
        kept = after.get(image)
        for k in range(1, TOP_K + 1):
            if row[f"sentence_id{k}"] is None:
                continue
            now = kept and kept[f"sentence_id{k}"]
            changed += now != row[f"sentence_id{k}"]
            lost += now is None or now is False
        if kept:  # the cap changes texts, never the lists an image probed
            assert kept["image_cluster_id"] == row["image_cluster_id"], image
    assert changed > lost > 0  # both at work
    assert stats["texts_changed_by_cap"] == changed
    assert stats["texts_lost_by_cap"] == lost
    assert stats["retrieved"] == len(after)
    assert stats["dropped_sentence_cap"] == free_stats["retrieved"] - len(after)
