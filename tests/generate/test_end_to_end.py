"""End to end with real models: a llama.cpp server (xllamacpp, the shipped Qwen2.5 0.5B GGUF)
listening on 127.0.0.1, reached through the OpenAI-compatible backend; the offline classifier
and joint encoder for captions-from-labels and tags; a dozen real photos with retrieved-like
texts. Every synthetic sentence must pass validation."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from generate_inputs import PHOTOS, photo_rows, write_inputs

from realsyn.config import parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.generate.fusion import SentenceValidator
from realsyn.generate.stage import GenerateStage
from realsyn.models.llm.llamacpp import LlamaCppServer
from realsyn.stage import Context
from realsyn.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llama_server():
    # Two slots so caption and fusion requests overlap; small per-slot context is plenty.
    with LlamaCppServer(parallel=2, context_per_slot=1024) as server:
        yield server


def test_twelve_photos_through_a_local_llamacpp_server(tmp_path, llama_server):
    assert llama_server.base_url.startswith("http://127.0.0.1:")
    write_inputs(tmp_path, photo_rows())
    config = parse_config({
        "workspace": str(tmp_path), "executor": {"workers": 1},
        "embed": {"encoder": {"backend": "offline", "device": "cpu"}},
        "generate": {"captioner": "tags_llm", "tagger": "combined", "batch_size": 12,
                     "llm": {"backend": "openai", "base_url": llama_server.base_url,
                             "model": "qwen2.5-coder-0.5b", "concurrency": 2,
                             "timeout_s": 120, "max_tokens": 48}}})
    workspace = Workspace(config.workspace)
    stats = LocalExecutor(1).run(GenerateStage(), Context(config, workspace))
    out = workspace.read_table("generated", "00000").to_pylist()
    print(json.dumps([{k: r[k] for k in ("text1", "caption", "tags", "syn_text",
                                         "syn_status")} for r in out], indent=1))
    assert len(out) == len(PHOTOS) == 12
    # An answer is valid, or it dropped a name or number of text1 (generate.keep_facts) and the
    # row fell back to text1, flagged.
    assert stats["syn_ok"] + stats.get("fallback_invalid_lost_fact", 0) == 12, stats
    validator = SentenceValidator()
    for row in out:
        assert row["syn_status"] in ("ok", "fallback:invalid_lost_fact")
        assert row["caption"] and len(row["caption"].split()) >= 2
        tags = json.loads(row["tags"])
        assert tags and all(0 < score <= 1 for _, score in tags)
        assert validator.check(row["syn_text"], row["caption"], tags) is None
    # Fusion must rewrite, not echo: the LLM's valid answers differ from text1 (some then fall
    # back because they dropped a name, measured 7 of 12 on these fact-heavy texts).
    rewritten = sum(row["syn_text"] != row["text1"] for row in out)
    assert rewritten == stats["syn_ok"] - stats.get("syn_same_as_text1", 0)
    assert stats["cache_misses"] == 24 and stats.get("cache_hits", 0) == 0
    # The quality report of the run: sane bounds on 12 photos whose texts are full of names,
    # dates and numbers (the demo's targets are measured in the README).
    quality = workspace.read_json("report/generation.json")
    print(json.dumps(quality, indent=1))
    assert quality["rows"] == 12
    assert quality["answers_rewritten"] >= 9
    assert quality["same_as_text1"] == round((12 - quality["rewritten_rows"]) / 12, 4)
    assert quality["text1_facts_in_rewritten_rows"] >= 6
    assert quality["entity_retention"] == 1.0  # what keep_facts guarantees
    assert quality["answer_entity_retention"] >= 0.6
    assert quality["visual_mention"] >= 0.4
    assert 0.8 <= quality["length_ratio"] <= 3
    by_name = {name: row for (name, *_), row in zip(PHOTOS, out, strict=True)}
    assert any("cat" in tag for tag, _ in json.loads(by_name["chelsea"]["tags"]))
    assert "espresso" in by_name["coffee"]["tags"]

    # Rerun from scratch: every answer comes from the request cache.
    workspace.reset_stage("generate")
    again = LocalExecutor(1).run(GenerateStage(), Context(config, workspace))
    assert again["cache_hits"] == 24 and again.get("llm_requests", 0) == 0
    assert workspace.read_table("generated", "00000").to_pylist() == out


def test_the_generate_benchmark_reads_tokens_from_an_openai_compatible_server(llama_server):
    """`bench_generate.py --backend openai` replays the stage's requests against any server and
    prices them in tokens from the server's own `usage` answers."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_generate.py"
    spec = importlib.util.spec_from_file_location("bench_generate", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    payloads = [{"messages": [{"role": "user", "content": f"Name a colour. Answer {n}."}],
                 "max_tokens": 8, "temperature": 0.0, "seed": 0} for n in range(3)]
    seconds, answered, prompt_tokens, completion_tokens = bench.run_bare(
        llama_server.base_url, "qwen2.5-coder-0.5b", payloads, concurrency=2)
    assert answered == 3
    assert prompt_tokens >= 3 * 5  # every prompt holds the chat template and the question
    assert 3 <= completion_tokens <= 3 * 8  # at least a token each, never above max_tokens
    assert seconds > 0
