"""The LLM layer: request cache, retries/backoff/timeouts against a misbehaving server,
concurrency, GGUF assembly, and llama.cpp in-process."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import time
from pathlib import Path

import pytest

from realsyn.config import LLMConfig
from realsyn.models.llm import ChatRequest, LLMClient, RequestCache, make_client, request_key
from realsyn.models.llm.gguf import (
    QWEN_GGUF_NAME,
    QWEN_GGUF_SHA256,
    QWEN_GGUF_SIZE,
    qwen_gguf_path,
    remove_stale_joins,
)
from realsyn.models.llm.openai import OpenAIBackend

_spec = importlib.util.spec_from_file_location(
    "fake_openai", Path(__file__).parents[1] / "generate" / "fake_openai.py")
fake_openai = importlib.util.module_from_spec(_spec)
sys.modules["fake_openai"] = fake_openai
_spec.loader.exec_module(fake_openai)
FakeOpenAIServer = fake_openai.FakeOpenAIServer


def ask(text: str, **options) -> ChatRequest:
    return ChatRequest.of([{"role": "user", "content": text}], max_tokens=16, **options)


def client_for(server, tmp_path, *, retries=2, timeout_s=2.0, concurrency=4, cache=True):
    backend = OpenAIBackend(server.base_url, model="test", timeout_s=timeout_s,
                            max_concurrency=concurrency)
    store = RequestCache(tmp_path / "cache.sqlite") if cache else None
    return LLMClient(backend, store, retries=retries, backoff_s=0.01, max_backoff_s=0.05,
                     concurrency=concurrency)


@pytest.fixture
def server():
    with FakeOpenAIServer(hang_s=5.0) as running:
        yield running


def test_answers_are_cached_and_survive_a_new_client(server, tmp_path):
    client = client_for(server, tmp_path)
    first = client.complete_many([ask("Text: A red bus."), ask("Text: A dog.")])
    assert [c.text for c in first] == ["A red bus, shown in a clear photo.",
                                       "A dog, shown in a clear photo."]
    assert client.take_counters() == {"cache_misses": 2, "llm_requests": 2}
    client.close()
    again = client_for(server, tmp_path)  # a new process would open the same file
    second = again.complete_many([ask("Text: A dog."), ask("Text: A red bus.")])
    assert [c.text for c in second] == [first[1].text, first[0].text]
    assert all(c.cached for c in second)
    assert again.take_counters() == {"cache_hits": 2}
    assert len(server.received) == 2
    again.close()


def test_key_covers_content_and_sampling():
    base = request_key("m", ask("hello"))
    assert base == request_key("m", ask("hello"))
    assert base != request_key("m", ask("hello!"))
    assert base != request_key("m", ask("hello", temperature=0.5))
    assert base != request_key("other", ask("hello"))


def test_identical_requests_in_a_batch_are_sent_once(server, tmp_path):
    client = client_for(server, tmp_path, cache=False)
    results = client.complete_many([ask("Text: same.")] * 3)
    assert len({r.text for r in results}) == 1 and all(r.ok for r in results)
    assert len(server.received) == 1
    client.close()


@pytest.mark.parametrize(("marker", "reason"), [
    ("[fault:500]", "http_500"),
    ("[fault:badjson]", "malformed_json"),
    ("[fault:drop]", "connection"),
])
def test_persistent_faults_are_retried_a_bounded_number_of_times(server, tmp_path, marker,
                                                                 reason):
    client = client_for(server, tmp_path, retries=2)
    [result] = client.complete_many([ask(f"Text: broken {marker}")])
    assert not result.ok and result.error == reason and result.attempts == 3
    assert server.seen[f"Text: broken {marker}"] == 3  # 1 try + 2 retries, no more
    counters = client.take_counters()
    assert counters["llm_retries"] == 2 and counters[f"llm_failed_{reason}"] == 1
    # Failures are not cached: the next run asks again.
    assert len(client.cache) == 0
    client.close()


def test_hang_past_the_timeout_is_cut_and_retried(tmp_path):
    # A hang far longer than any delay a loaded machine adds: the run ends well before half
    # of it only if each attempt was cut at its timeout, and lasts at least both timeouts.
    hang_s, timeout_s = 60.0, 0.3
    with FakeOpenAIServer(hang_s=hang_s) as hanging:
        client = client_for(hanging, tmp_path, retries=1, timeout_s=timeout_s)
        started = time.monotonic()
        results = client.complete_many([ask("Text: slow [fault:hang]"), ask("Text: fine.")])
        elapsed = time.monotonic() - started
        client.close()
    assert results[0].error == "timeout" and results[0].attempts == 2
    assert hanging.seen["Text: slow [fault:hang]"] == 2
    assert results[1].text == "fine, shown in a clear photo."
    assert 2 * timeout_s <= elapsed < hang_s / 2


def test_client_errors_are_not_retried(server, tmp_path):
    client = client_for(server, tmp_path, retries=3)
    [result] = client.complete_many([ask("Text: nope [fault:400]")])
    assert result.error == "http_400" and result.attempts == 1
    client.close()


def test_transient_failure_recovers_within_the_retry_budget(server, tmp_path):
    client = client_for(server, tmp_path, retries=2)
    [result] = client.complete_many([ask("Text: wobbly [flaky:2]")])
    assert result.ok and result.attempts == 3
    assert result.text == "wobbly [flaky:2], shown in a clear photo."
    client.close()


def test_concurrency_is_bounded():
    with FakeOpenAIServer(delay_s=0.1) as slow:
        backend = OpenAIBackend(slow.base_url, timeout_s=5, max_concurrency=3)
        client = LLMClient(backend, None, concurrency=3)
        results = client.complete_many([ask(f"Text: item {i}.") for i in range(12)])
        assert all(r.ok for r in results)
        assert slow.max_in_flight == 3
        client.close()


def test_backoff_doubles_and_is_capped():
    client = LLMClient(OpenAIBackend("http://127.0.0.1:9/v1"), None, backoff_s=0.5,
                       max_backoff_s=3.0)
    assert [client.backoff(i) for i in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    client.close()


def test_unreachable_server_fails_every_request_without_raising(tmp_path):
    # Port 9 (discard) is closed on loopback: connection refused.
    backend = OpenAIBackend("http://127.0.0.1:9/v1", timeout_s=1)
    client = LLMClient(backend, None, retries=1, backoff_s=0.01)
    results = client.complete_many([ask("a"), ask("b")])
    assert [r.error for r in results] == ["connection", "connection"]
    client.close()


def test_gguf_is_joined_verified_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("REALSYN_CACHE", str(tmp_path))
    path = qwen_gguf_path()
    assert path.parent == tmp_path and path.stat().st_size == QWEN_GGUF_SIZE
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == QWEN_GGUF_SHA256
    mtime = path.stat().st_mtime_ns
    assert qwen_gguf_path() == path and path.stat().st_mtime_ns == mtime  # not rejoined
    with path.open("r+b") as handle:  # a truncated file is rejoined
        handle.truncate(1000)
    assert qwen_gguf_path().stat().st_size == QWEN_GGUF_SIZE
    path.unlink()  # half a gigabyte: do not leave it in pytest's kept temporary folders


def test_half_joined_copies_left_by_killed_joins_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("REALSYN_CACHE", str(tmp_path))
    target = tmp_path / QWEN_GGUF_NAME
    killed, joining = (tmp_path / f".tmp-{n}-{QWEN_GGUF_NAME}" for n in ("dead", "live"))
    for path in (killed, joining):
        path.write_bytes(b"GGUF" + bytes(1000))
    hour_ago = time.time() - 3600
    os.utime(killed, (hour_ago, hour_ago))
    assert remove_stale_joins(target) == 1
    assert not killed.exists() and joining.exists()  # a join in progress is left alone


@pytest.mark.slow
def test_llamacpp_in_process_answers_and_caches(tmp_path):
    client = make_client(LLMConfig(parallel=1, context_per_slot=512), tmp_path / "c.sqlite")
    request = ChatRequest.of([{"role": "user", "content": "Say hello in one short sentence."}],
                             max_tokens=12)
    [answer] = client.complete_many([request])
    assert answer.ok and answer.text.strip()
    [again] = client.complete_many([request])
    assert again.cached and again.text == answer.text
    client.close()


class ScriptedBatchBackend:
    """A batch engine (the shape vLLM's offline backend has) whose answers are scripted:
    requests containing "fail-once" fail with a retryable error the first time."""

    identity = "scripted"
    max_concurrency = 1

    def __init__(self):
        self.batches: list[list[str]] = []
        self.failed: set[str] = set()

    def chat_batch(self, requests):
        from realsyn.models.llm import LLMError

        texts = [r.payload()["messages"][-1]["content"] for r in requests]
        self.batches.append(texts)
        answers = []
        for text in texts:
            if "never" in text:
                answers.append(LLMError("engine_error"))
            elif "fail-once" in text and text not in self.failed:
                self.failed.add(text)
                answers.append(LLMError("engine_error"))
            else:
                answers.append(text.upper())
        return answers

    async def aclose(self):
        pass


def test_batched_backend_gets_whole_batches_and_retries_only_failures(tmp_path):
    backend = ScriptedBatchBackend()
    client = LLMClient(backend, RequestCache(tmp_path / "c.sqlite"), retries=2, backoff_s=0.0)
    results = client.complete_many([ask("a"), ask("b fail-once"), ask("c never"), ask("a")])
    assert [r.text for r in results] == ["A", "B FAIL-ONCE", None, "A"]
    assert results[2].error == "engine_error" and results[2].attempts == 3
    assert backend.batches == [["a", "b fail-once", "c never"], ["b fail-once", "c never"],
                               ["c never"]]
    again = client.complete_many([ask("a"), ask("b fail-once")])
    assert all(r.cached for r in again) and len(backend.batches) == 3
    client.close()


def test_a_local_model_is_identified_by_its_content_not_its_name_and_size(tmp_path):
    """The answer cache is keyed by the model identity: a fine-tune of the same architecture
    and quantisation (same name, same size, other weights) must not reuse the answers."""
    from realsyn.models.llm.llamacpp import model_identity

    first, second = tmp_path / "a" / "model.gguf", tmp_path / "b" / "model.gguf"
    for path, fill in ((first, b"\1"), (second, b"\2")):
        path.parent.mkdir()
        path.write_bytes(b"GGUF" + fill * 4096)
        os.utime(path, ns=(10**18, 10**18))
    assert model_identity(first) != model_identity(second)
    assert model_identity(first) == model_identity(first)
    renamed = tmp_path / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"  # a name is no proof
    renamed.write_bytes(first.read_bytes())
    assert model_identity(renamed).endswith(model_identity(first).rsplit(":", 1)[1])


def test_a_cache_opened_while_another_connection_writes_waits_for_it(tmp_path):
    """Workers open one new cache at once: SQLite refuses the switch to WAL at once (its busy
    timeout does not apply, to avoid a deadlock) while another connection holds a write lock;
    the cache waits for the lock instead of failing, which killed a worker at start-up."""
    import sqlite3
    import threading

    path = tmp_path / "cache.sqlite"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE held (value)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO held VALUES (1)")
    release = threading.Timer(0.5, writer.execute, ("COMMIT",))
    started = time.monotonic()
    release.start()
    try:
        cache = RequestCache(path)
    finally:
        release.join()
    assert time.monotonic() - started >= 0.4  # it waited for the writer's commit
    request = ChatRequest.of([{"role": "user", "content": "hi"}], max_tokens=8)
    key = request_key("id", request)
    cache.put(key, "id", request, "hello")
    assert cache.get(key) == "hello"
    cache.close()
    writer.close()
