"""Reproducible generation with the default backend (llama.cpp in-process, the shipped Qwen2.5
0.5B GGUF, temperature 0): the same inputs and config give the same `generated` dataset on
every run, whatever the server computed before and whichever order shards are taken in.

The cause this guards against: llama.cpp's floats for a token depended on the size of the
batch it was evaluated in (repacked kernels, CPU flash attention), and that size depended on
how much of the prompt the previous request left cached, or on a request batched beside it in
another slot; greedy decoding then picked another word for a few rows in a hundred."""

from __future__ import annotations

import re

import pytest
from generate_inputs import PHOTOS, photo_rows, write_inputs

from realsyn.config import LLMConfig, parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.generate.fusion import fusion_messages
from realsyn.generate.stage import GenerateStage
from realsyn.models.captioners import TagsLLMCaptioner
from realsyn.models.llm import ChatRequest, make_backend, make_client
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


def caption_and_fusion_requests() -> list[ChatRequest]:
    """Caption and fusion requests taking turns, as the stage sends a batch's."""
    captioner = TagsLLMCaptioner(client=None)
    requests = []
    for index, fusion in enumerate(fusion_requests()):
        if index % 3 == 0:
            name = PHOTOS[index // 3][0]
            requests += captioner.requests([[(name, 0.7), ("photo", 0.2)]])
        requests.append(fusion)
    return requests


def test_an_answer_does_not_depend_on_what_the_server_computed_before():
    config = LLMConfig()  # the pipeline's defaults: one request at a time, a slot per prefix
    backend = make_backend(config)
    server = backend.server
    assert server.parallel == config.prefix_slots == 2 and backend.max_concurrency == 1
    client = make_client(config, backend=backend)
    requests = caption_and_fusion_requests()
    try:
        # As one shard's batch: the requests in turn, each reusing the cached prompt prefix its
        # slot holds (the caption prompt's or the fusion prompt's).
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


def _config(root, workers: int = 1, prefix_slots: int = 2, captioner: str = "tags_llm"):
    rows = photo_rows()
    for index, shard in enumerate(("00000", "00001")):
        write_inputs(root, rows[index::2], shard=shard)
    return parse_config({"workspace": str(root), "executor": {"workers": workers},
                         "embed": {"encoder": {"backend": "offline", "device": "cpu"}},
                         "generate": {"batch_size": 4, "captioner": captioner,
                                      "llm": {"prefix_slots": prefix_slots}}})


def _generated(root) -> dict[str, bytes]:
    folder = root / "datasets" / "generated"
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.parquet"))}


def _generate(root, shard_order: list[str], prefix_slots: int = 2,
              captioner: str = "tags_llm") -> dict[str, bytes]:
    """One run from empty caches: a fresh stage (own server) takes the shards in this order."""
    config = _config(root, prefix_slots=prefix_slots, captioner=captioner)
    ctx = Context(config, Workspace(config.workspace))
    stage = GenerateStage()
    stage.setup(ctx)
    try:
        for shard in shard_order:
            stats = stage.process(ctx, shard)
            assert stats.get("cache_hits", 0) == 0 and stats["syn_ok"] >= 1, stats
            # A fusion request per image, and a caption request with the LLM captioner only.
            assert stats["llm_requests"] == stats["records_in"] * (
                2 if captioner == "tags_llm" else 1), stats
    finally:
        stage.finalize(ctx, {})
    return _generated(root)


def test_generation_twice_from_empty_caches_gives_identical_datasets(tmp_path):
    # Two workers would take the shards in either order: the dataset must not care.
    first = _generate(tmp_path / "first", ["00000", "00001"])
    second = _generate(tmp_path / "second", ["00001", "00000"])
    assert list(first) == ["00000.parquet", "00001.parquet"]
    assert first == second


def test_two_workers_and_prefix_slots_off_write_the_same_datasets(tmp_path):
    """Prefix reuse on (the default) with one worker taking the shards in turn, against two
    workers (each its own server, the shards side by side) and against prefix slots off."""
    one_worker = _generate(tmp_path / "one", ["00000", "00001"])
    config = _config(tmp_path / "two", workers=2)
    LocalExecutor(2).run(GenerateStage(), Context(config, Workspace(config.workspace)))
    assert _generated(tmp_path / "two") == one_worker
    assert _generate(tmp_path / "off", ["00001", "00000"], prefix_slots=1) == one_worker


def test_labels_captions_give_identical_datasets_without_caption_requests(tmp_path):
    first = _generate(tmp_path / "first", ["00000", "00001"], captioner="labels")
    second = _generate(tmp_path / "second", ["00001", "00000"], captioner="labels")
    assert first == second
    import pyarrow.parquet as pq

    captions = pq.read_table(tmp_path / "first" / "datasets" / "generated" / "00000.parquet",
                             columns=["caption"]).column("caption").to_pylist()
    assert captions and all(re.fullmatch(r"An? [^.]+\.", caption) for caption in captions)
