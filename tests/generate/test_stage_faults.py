"""The generate stage against a misbehaving OpenAI-compatible server: it finishes, retries
are bounded, no row is lost, failures are flagged; `retry_failed` redoes only flagged rows;
a killed run resumes without re-sending answered requests."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time

import pytest
from generate_inputs import photo_rows, write_inputs

from realsyn import progress
from realsyn.config import parse_config
from realsyn.executors.base import run_one_shard
from realsyn.executors.local import LocalExecutor
from realsyn.generate.stage import GenerateStage
from realsyn.models.llm import ChatRequest, RequestCache, request_key
from realsyn.stage import Context
from realsyn.workspace import Workspace


def config_for(root, url, **generate):
    llm = {"backend": "openai", "base_url": url, "model": "test", "timeout_s": 0.5,
           "retries": 1, "backoff_s": 0.01, "max_backoff_s": 0.02, "concurrency": 4}
    llm.update(generate.pop("llm", {}))
    return {"workspace": str(root), "executor": {"workers": 1},
            "generate": {"captioner": "openai_vl", "tagger": "none", "batch_size": 4,
                         "llm": llm, **generate}}


def run_stage(data: dict) -> tuple[dict, Workspace]:
    config = parse_config(data)
    workspace = Workspace(config.workspace)
    stats = LocalExecutor(1).run(GenerateStage(), Context(config, workspace))
    return stats, workspace



def test_faults_are_bounded_flagged_and_lose_nothing(tmp_path, fake_server):
    rows = photo_rows(["chelsea", "coffee", "rocket", "astronaut", "china", "flower"])
    markers = {"rocket": "[fault:500]", "astronaut": "[fault:hang]",
               "china": "[fault:badjson]", "flower": "[fault:drop]"}
    for row in rows:
        if row["name"] in markers:
            row["text1"] = row["text1"].rstrip(".") + " " + markers[row["name"]] + "."
    rows.append({"name": "broken", "bytes": b"this is not an image", "text1": "A broken file.",
                 "text2": "x", "text3": "y"})
    rows.append({"name": "absent", "bytes": False, "text1": "A missing image.", "text2": "x",
                 "text3": "y"})
    write_inputs(tmp_path, rows)
    started = time.monotonic()
    stats, workspace = run_stage(config_for(tmp_path, fake_server.base_url))
    elapsed = time.monotonic() - started

    out = workspace.read_table("generated", "00000")
    retrieved = workspace.read_table("retrieved", "00000")
    assert out.num_rows == len(rows)  # nothing lost
    assert out.column("image_id").to_pylist() == retrieved.column("image_id").to_pylist()
    assert set(retrieved.column_names) < set(out.column_names)
    status = dict(zip([r["name"] for r in rows], out.column("syn_status").to_pylist(),
                      strict=True))
    assert status == {"chelsea": "ok", "coffee": "ok",
                      "rocket": "fallback:llm_http_500", "astronaut": "fallback:llm_timeout",
                      "china": "fallback:llm_malformed_json",
                      "flower": "fallback:llm_connection",
                      "broken": "fallback:bad_image", "absent": "fallback:missing_image"}
    syn = out.column("syn_text").to_pylist()
    for i, row in enumerate(rows):
        if status[row["name"]] != "ok":
            assert syn[i] == row["text1"]  # the fallback is text1, flagged
    cat = [r["name"] for r in rows].index("chelsea")
    assert syn[cat] == rows[cat]["text1"].rstrip(". ") + ", shown in a clear photo."
    assert out.column("caption").to_pylist()[cat].startswith("A close-up photo")

    # Retries are bounded: 1 try + 1 retry for each failing fusion request.
    for name in markers:
        text1 = next(r["text1"] for r in rows if r["name"] == name)
        sent = [t for t in fake_server.seen if t.startswith("Text: " + text1)]
        assert len(sent) == 1 and fake_server.seen[sent[0]] == 2, name
    assert stats["records_in"] == 8 and stats["syn_ok"] == 2
    for reason in ("llm_http_500", "llm_timeout", "llm_malformed_json", "llm_connection",
                   "bad_image", "missing_image"):
        assert stats[f"fallback_{reason}"] == 1
    assert stats["llm_retries"] == 4
    assert elapsed < 8  # the 10 s hang was cut by the 0.5 s timeout


def test_retry_failed_redoes_only_flagged_rows(tmp_path, fake_server):
    rows = photo_rows(["chelsea", "coffee", "grace_hopper"])
    rows[2]["text1"] = "Grace Hopper wrote one of the first compilers [flaky:2]."
    write_inputs(tmp_path, rows)
    data = config_for(tmp_path, fake_server.base_url)
    first, workspace = run_stage(data)
    assert first["syn_ok"] == 2 and first["fallback_llm_http_500"] == 1
    before = workspace.read_table("generated", "00000").to_pylist()
    sent_before = len(fake_server.received)

    workspace.reset_stage("generate")  # what `realsyn generate --retry-failed` does
    data["generate"]["retry_failed"] = True
    second, workspace = run_stage(data)
    after = workspace.read_table("generated", "00000").to_pylist()
    assert [r["syn_status"] for r in after] == ["ok", "ok", "ok"]
    assert after[:2] == before[:2]  # kept as they were
    assert second["retry_kept"] == 2 and second["retry_redone"] == 1
    # Only the flagged row's fusion went out again (its caption came from the cache).
    assert len(fake_server.received) - sent_before == 1
    assert second["caption_cache_hits"] == 1


def test_shards_run_in_a_process_pool(tmp_path, fake_server):
    rows = photo_rows(["chelsea", "coffee", "rocket", "china"])
    write_inputs(tmp_path, rows[:2], shard="00000")
    write_inputs(tmp_path, rows[2:], shard="00001")
    data = config_for(tmp_path, fake_server.base_url)
    data["executor"]["workers"] = 2
    stats, workspace = run_stage(data)
    assert workspace.completed("generate") == ["00000", "00001"]
    assert stats["records_in"] == 4 and stats["syn_ok"] == 4
    for shard, part in (("00000", rows[:2]), ("00001", rows[2:])):
        out = workspace.read_table("generated", shard).to_pylist()
        assert [r["text1"] for r in out] == [r["text1"] for r in part]
        assert all(r["syn_status"] == "ok" for r in out)


RUNNER = """
import json, sys
from realsyn.config import parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.generate.stage import GenerateStage
from realsyn.stage import Context
from realsyn.workspace import Workspace
config = parse_config(json.loads(sys.argv[1]))
workspace = Workspace(config.workspace)
print(json.dumps(LocalExecutor(1).run(GenerateStage(), Context(config, workspace))))
"""


def cached_rows(path) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


@pytest.fixture
def slow_server():
    from fake_openai import FakeOpenAIServer

    with FakeOpenAIServer(delay_s=0.15) as server:
        yield server


def test_killed_run_resumes_without_resending_answered_requests(tmp_path, slow_server):
    write_inputs(tmp_path, photo_rows())  # 12 photos: 12 captions + 12 fusions
    data = config_for(tmp_path, slow_server.base_url, llm={"concurrency": 1, "timeout_s": 5})
    cache_path = tmp_path / "generate" / "llm-cache.sqlite"
    process = subprocess.Popen([sys.executable, "-c", RUNNER, json.dumps(data)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while cached_rows(cache_path) < 8:
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.02)
    finally:
        process.kill()
        process.wait()
    cache = RequestCache(cache_path)
    answered = cache.keys()
    cache.close()
    assert 8 <= len(answered) < 24  # killed mid-run
    workspace = Workspace(str(tmp_path))
    assert not workspace.completed("generate")
    sent_before = len(slow_server.received)

    stats, workspace = run_stage(data)
    resent = [body for body in slow_server.received[sent_before:]]
    keys = {request_key("openai:test", ChatRequest.of(
        body["messages"], max_tokens=body["max_tokens"], temperature=body["temperature"],
        seed=body["seed"])) for body in resent}
    assert not keys & answered  # nothing answered before the kill was asked again
    assert len(resent) == 24 - len(answered)
    assert stats["cache_hits"] + stats.get("caption_cache_hits", 0) == len(answered)
    out = workspace.read_table("generated", "00000")
    assert out.column("syn_status").to_pylist() == ["ok"] * 12


def test_a_shard_counts_its_rows_for_the_progress_lines_as_batches_finish(tmp_path,
                                                                         fake_server):
    write_inputs(tmp_path, photo_rows(["chelsea", "coffee", "rocket", "astronaut", "china",
                                       "flower"]))
    config = parse_config(config_for(tmp_path, fake_server.base_url, batch_size=2))
    sent: list[tuple] = []
    with progress.sending_to(lambda *message: sent.append(message)):
        stats = run_one_shard(GenerateStage(), Context(config, Workspace(config.workspace)),
                              "00000")
    assert stats["syn_ok"] == 6
    assert {(key, total) for key, _, total in sent} == {("00000", None), ("00000", 6)}
    # Batches of 1 (the short first one), 2, 2, 1 rows; a batch is fused in the round after
    # its captions, so its rows count one round later.
    counts = [done for _, done, _ in sent]
    assert sorted(set(counts)) == [0, 1, 3, 5, 6] and counts == sorted(counts)
