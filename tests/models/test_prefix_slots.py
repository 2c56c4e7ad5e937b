"""Each fixed prompt prefix keeps a llama.cpp slot of its own, so a worker evaluates it once,
not whenever caption and fusion requests take turns; answers do not change with it."""

from __future__ import annotations

import asyncio

import pytest

from realsyn.config import LLMConfig
from realsyn.generate.fusion import fusion_messages
from realsyn.models.captioners import TagsLLMCaptioner
from realsyn.models.llm import ChatRequest, make_backend
from realsyn.models.llm.llamacpp import PrefixSlots


def test_a_prefix_keeps_its_slot_and_a_new_one_takes_the_least_recently_used():
    slots = PrefixSlots(2)
    assert [slots.slot_for(p) for p in ("caption", "fusion", "caption", "fusion")] == [0, 1, 0, 1]
    slots.slot_for("caption")  # fusion is now the least recently used
    assert slots.slot_for("other") == 1
    assert slots.slot_for("caption") == 0
    assert slots.slot_for("fusion") == 1  # took other's slot, the least recently used


def test_one_slot_serves_every_prefix():
    slots = PrefixSlots(1)
    assert {slots.slot_for(p) for p in ("a", "b", "c", "a")} == {0}


def alternating_requests() -> list[ChatRequest]:
    """Caption and fusion requests taking turns, as the stage sends them for a batch."""
    captioner = TagsLLMCaptioner(client=None)
    requests = []
    for name, fact in (("lighthouse", "The lighthouse at Hook Head was built in 1172."),
                       ("bicycle", "A bicycle has two wheels and is moved by pedals."),
                       ("teapot", "Green tea is brewed at about 80 degrees Celsius.")):
        requests += captioner.requests([[(name, 0.8), ("sky", 0.1)]])
        requests.append(ChatRequest.of(fusion_messages(fact, f"A {name}.", [(name, 0.8)]),
                                       max_tokens=24))
    return requests


def run_recording_reuse(prefix_slots: int) -> tuple[list[str], list[int]]:
    """The answers, and the prompt tokens each request found cached in its slot (the server's
    own `timings.cache_n`)."""
    backend = make_backend(LLMConfig(prefix_slots=prefix_slots, context_per_slot=1024))
    server = backend.server
    cached: list[int] = []
    answer_with = server.chat_completions

    def recording(payload):
        body = answer_with(payload)
        cached.append(body["timings"]["cache_n"])
        return body

    server.chat_completions = recording

    async def in_turn():
        return [await backend.chat(request) for request in alternating_requests()]

    try:
        answers = asyncio.run(in_turn())
    finally:
        server.close()
    return answers, cached


@pytest.mark.slow
def test_alternating_prompts_reuse_their_own_prefix_and_answer_the_same():
    pinned_answers, pinned_cached = run_recording_reuse(prefix_slots=2)
    shared_answers, shared_cached = run_recording_reuse(prefix_slots=1)
    assert pinned_answers == shared_answers
    # From the second request of each kind on, the whole instructions and examples are cached:
    # the caption prompt's are about 110 tokens, the fusion prompt's about 250.
    assert pinned_cached[:2] == [0, 0]
    assert all(tokens >= 100 for tokens in pinned_cached[2:]), pinned_cached
    # One slot: each kind finds the other's prompt cached, which shares only the chat template.
    assert all(tokens < 20 for tokens in shared_cached[1:]), shared_cached
