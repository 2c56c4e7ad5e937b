"""The vLLM offline engine is built with automatic prefix caching unless the user says otherwise.
vLLM needs a GPU and is not installed here, so a stand-in `vllm` module records the engine's
arguments: the boundary is the engine's constructor, which is all this checks."""

from __future__ import annotations

import sys
import types

import pytest

from realsyn.models.llm.vllm import VLLMBackend


@pytest.fixture
def engine_arguments(monkeypatch):
    seen: dict = {}

    class LLM:
        def __init__(self, **options):
            seen.update(options)

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM))
    return seen


def test_prefix_caching_is_on_by_default(engine_arguments):
    VLLMBackend("some/model", seed=3, max_num_seqs=256)
    assert engine_arguments == {"model": "some/model", "seed": 3, "max_num_seqs": 256,
                                "enable_prefix_caching": True}


def test_the_users_engine_options_win(engine_arguments):
    VLLMBackend("some/model", enable_prefix_caching=False)
    assert engine_arguments["enable_prefix_caching"] is False
