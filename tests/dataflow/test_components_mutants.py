"""Edge cases of the dedup stage's components and representative rule that its stage tests do
not reach (found by mutating src/realsyn/dataflow/components.py)."""

from __future__ import annotations

import numpy as np

from realsyn.dataflow.components import component_labels, edge_components, keep_one_per_group


def test_no_pairs_leave_every_item_its_own_label_past_the_components():
    labels = component_labels(3)
    assert labels.tolist() == [3, 4, 5] and labels.dtype == np.int64


def test_a_self_loop_is_one_node_in_one_component():
    nodes, labels = edge_components(np.array([5]), np.array([5]))
    assert nodes.tolist() == [5] and labels.tolist() == [0]


def test_ids_and_labels_are_int64_whatever_the_input():
    for left, right in ((np.array([1.0, 4.0]), np.array([2, 3])),
                        (np.array([1, 4]), np.array([2.0, 3.0]))):
        nodes, labels = edge_components(left, right)
        assert nodes.dtype == np.int64 and labels.dtype == np.int64
        assert nodes.tolist() == [1, 2, 3, 4] and labels.tolist() == [0, 0, 1, 1]
    nodes, labels = edge_components(np.array([]), np.array([]))
    assert nodes.dtype == np.int64 and labels.dtype == np.int64 and len(labels) == 0


def test_one_item_is_kept():
    assert keep_one_per_group(np.array([0]), np.array([1])).tolist() == [True]


def test_a_boolean_priority_keeps_the_flagged_item():
    # e.g. "has a caption": True wins over False within a group.
    keep = keep_one_per_group(np.array([0, 0, 1]), np.array([False, True, False]))
    assert keep.tolist() == [False, True, True]
