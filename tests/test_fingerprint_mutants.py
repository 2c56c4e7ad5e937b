"""Fingerprints of stages, tested alone (scripts/mutation.py mutates realsyn/fingerprint.py):
the flattened config a stage reads, the record stored at commit, and the reasons `realsyn
status` gives for a stale stage."""

from __future__ import annotations

import json

from realsyn.config import RealsynConfig
from realsyn.fingerprint import Fingerprint, config_values, differences, flatten


def stored(fingerprint: Fingerprint) -> dict:
    """The record as a commit stores it and status reads it back (JSON)."""
    return json.loads(json.dumps(fingerprint.record()))


def test_flatten_joins_keys_with_dots_and_keeps_leaves():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x"}) == {"a.b": 1, "a.c": [1, 2], "d": "x"}
    assert flatten({3: {"b": None}}) == {"3.b": None}
    assert flatten({"b": 1}, "top") == {"top.b": 1}
    assert flatten(7) == {"": 7}


def test_config_values_are_as_json_stores_them_so_status_compares_like_with_like():
    # a tuple set from Python code: JSON (the stored state) holds it as a list
    config = RealsynConfig(generate={"llm": {"vllm_options": {"shape": (1, 2)}}})
    values = config_values(config, ["generate.llm.vllm_options"])
    assert values == {"generate.llm.vllm_options.shape": [1, 2]}
    current = Fingerprint("generate", "1", values)
    assert differences(stored(current), current) == []


def test_the_record_holds_every_part_under_its_name():
    fingerprint = Fingerprint("embed", "3", {"embed.x": 1}, {"datasets/a": "f1"})
    assert fingerprint.record() == {"fingerprint": fingerprint.value, "stage": "embed",
                                    "version": "3", "config": {"embed.x": 1},
                                    "inputs": {"datasets/a": "f1"}}


def test_an_unchanged_stage_has_no_differences():
    current = Fingerprint("s", "1", {"a": 1}, {"datasets/in": "f1", "datasets/gone": None})
    assert differences(stored(current), current) == []


def test_every_kind_of_difference_is_named():
    old = Fingerprint("s", "1", {"kept": 1, "changed": 1, "dropped": 1},
                      {"datasets/same": "f1", "datasets/changed": "f1", "datasets/dropped": "f1"})
    new = Fingerprint("s", "2", {"kept": 1, "changed": 2, "added": "x"},
                      {"datasets/same": "f1", "datasets/changed": "f2", "datasets/added": "f3"})
    assert differences(stored(old), new) == [
        "stage version 1 -> 2",
        "added: None -> 'x'", "changed: 1 -> 2", "dropped: 1 -> None",
        "input datasets/added changed", "input datasets/changed changed",
        "input datasets/dropped changed",
    ]


def test_a_state_without_config_or_inputs_differs_in_all_of_them():
    new = Fingerprint("s", "1", {"a": 1}, {"datasets/in": "f1"})
    assert differences({"version": "1"}, new) == ["a: None -> 1", "input datasets/in changed"]
    assert differences({}, new) == ["stage version None -> 1", "a: None -> 1",
                                    "input datasets/in changed"]
