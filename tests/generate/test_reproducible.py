"""Reproducible generation with the default backend (llama.cpp in-process, the shipped Qwen2.5
0.5B GGUF, temperature 0): the same inputs and config give the same `generated` dataset on
every run, whatever the server computed before and whichever order shards are taken in.

The cause this guards against: llama.cpp's floats for a token depended on the size of the
batch it was evaluated in (repacked kernels, CPU flash attention), and that size depended on
how much of the prompt the previous request left cached, or on a request batched beside it in
another slot; greedy decoding then picked another word for a few rows in a hundred."""

from __future__ import annotations

import pytest
from generate_inputs import PHOTOS, photo_rows, write_inputs

from realsyn.config import LLMConfig, parse_config
from realsyn.generate.fusion import fusion_messages
from realsyn.generate.stage import GenerateStage
from realsyn.models.llm import ChatRequest, make_client
from realsyn.models.llm.llamacpp import LlamaCppBackend, LlamaCppServer
from realsyn.models.llm.openai import parse_chat_response
from realsyn.stage import Context
from realsyn.workspace import Workspace

pytestmark = pytest.mark.slow


def fusion_requests() -> list[ChatRequest]:
    """Every photo's three retrieved texts, each fused with one caption and two tags."""
    requests = []
    for name, _, *texts in PHOTOS:
        for text in texts:
            messages = fusion_messages(text, f"a photo of a {name}", [(name, 0.6), ("photo", 0.2)])
            requests.append(ChatRequest.of(messages, max_tokens=32))
    return requests


def test_an_answer_does_not_depend_on_what_the_server_computed_before():
    config = LLMConfig()  # the pipeline's defaults
    server = LlamaCppServer(threads=config.threads, parallel=config.parallel,
                            context_per_slot=config.context_per_slot)
    client = make_client(config, backend=LlamaCppBackend(server))
    requests = fusion_requests()
    try:
        # As one shard's batch: the requests in turn (side by side with parallel slots), each
        # reusing the cached prompt prefix of the one before.
        in_turn = [completion.text for completion in client.complete_many(requests)]
        # As the first request of a new server (a resumed run, another worker): from scratch.
        alone = [server.chat_completions({**request.payload(), "cache_prompt": False})
                 for request in requests]
    finally:
        client.close()
        server.close()
    alone = [parse_chat_response(body) for body in alone]
    assert all(in_turn)
    changed = [(a, b) for a, b in zip(in_turn, alone, strict=True) if a != b]
    assert not changed, f"{len(changed)} of {len(requests)} answers changed: {changed[:3]}"


def _generate(root, shard_order: list[str]) -> dict[str, bytes]:
    """One run from empty caches: a fresh stage (own server) takes the shards in this order."""
    rows = photo_rows()
    for index, shard in enumerate(("00000", "00001")):
        write_inputs(root, rows[index::2], shard=shard)
    config = parse_config({"workspace": str(root), "executor": {"workers": 1},
                           "embed": {"encoder": {"backend": "offline", "device": "cpu"}},
                           "generate": {"batch_size": 4}})
    ctx = Context(config, Workspace(config.workspace))
    stage = GenerateStage()
    stage.setup(ctx)
    try:
        for shard in shard_order:
            stats = stage.process(ctx, shard)
            assert stats.get("cache_hits", 0) == 0 and stats["syn_ok"] >= 1, stats
    finally:
        stage.finalize(ctx, {})
    folder = root / "datasets" / "generated"
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.parquet"))}


def test_generation_twice_from_empty_caches_gives_identical_datasets(tmp_path):
    # Two workers would take the shards in either order: the dataset must not care.
    first = _generate(tmp_path / "first", ["00000", "00001"])
    second = _generate(tmp_path / "second", ["00001", "00000"])
    assert list(first) == ["00000.parquet", "00001.parquet"]
    assert first == second
