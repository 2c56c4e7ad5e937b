"""The generate stage's whole output and stats against the rules of its docstring, on real
photos and the local fake OpenAI-compatible server (tests/generate/fake_openai.py: the only
test double, at the network boundary): every row kept, the retrieved columns carried over,
caption / tags / syn_text / syn_status per row, a failure falling back to text1, and
`retry_failed` keeping the finished rows of the last output (scripts/mutation.py mutates
realsyn/generate/stage.py). The expected quality counts come from realsyn.generate.quality,
which the stage calls and does not define."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from generate_inputs import photo_rows, write_inputs

from realsyn.config import parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.generate.quality import load_quality_counter, quality_report, report_lines
from realsyn.generate.stage import GenerateStage
from realsyn.stage import Context
from realsyn.workspace import Workspace

CAPTION = "A close-up photo of an object on a plain background."  # the fake's vision answer
FIELDS = ["caption", "tags", "syn_text", "syn_status"]


def fused(text1: str) -> str:
    """The fake server's fusion answer."""
    return text1.rstrip(". ") + ", shown in a clear photo."


def config_for(root, url, **generate):
    llm = {"backend": "openai", "base_url": url, "model": "test", "timeout_s": 2,
           "retries": 0, "backoff_s": 0.01, "max_backoff_s": 0.02, "concurrency": 2}
    return parse_config({"workspace": str(root), "executor": {"workers": 1},
                         "generate": {"captioner": "openai_vl", "tagger": "none",
                                      "batch_size": 2, "llm": llm, **generate}})


def run(config) -> tuple[dict, Workspace]:
    workspace = Workspace(config.workspace)
    return LocalExecutor(1).run(GenerateStage(), Context(config, workspace)), workspace


@pytest.fixture(scope="module")
def quality(tmp_path_factory):
    config = parse_config({"workspace": str(tmp_path_factory.mktemp("q"))})
    return load_quality_counter(config.extract.sentences.spacy_model)


def expected_quality(quality, text1, out):
    return quality.count(text1, [row["syn_text"] for row in out],
                         [row["caption"] for row in out],
                         [[tag for tag, _ in json.loads(row["tags"])] for row in out])


def test_every_row_gets_its_sentence_or_its_flagged_fallback(tmp_path, fake_server, quality):
    rows = photo_rows(["chelsea", "coffee", "rocket", "astronaut", "flower"])
    by_name = {row["name"]: row for row in rows}
    by_name["coffee"]["text1"] = "   "  # nothing to fuse
    by_name["rocket"]["text1"] = "The rocket caption: a launch at dawn from the coast."
    by_name["astronaut"]["text1"] += " [fault:400]"
    rows.insert(3, {"name": "broken", "bytes": b"not an image", "text1": "A broken file.",
                    "text2": "x", "text3": "y"})
    rows.append({"name": "absent", "bytes": False, "text1": "A missing image.", "text2": "x",
                 "text3": "y"})
    write_inputs(tmp_path, rows)
    stats, ws = run(config_for(tmp_path, fake_server.base_url))

    retrieved = ws.read_table("retrieved", "00000")
    out = ws.read_table("generated", "00000")
    assert out.column_names == retrieved.column_names + FIELDS
    assert out.schema.field("syn_status").type == pa.string()
    status = {"chelsea": "ok", "coffee": "fallback:no_text1",
              "rocket": "fallback:invalid_prompt_echo", "broken": "fallback:bad_image",
              "astronaut": "fallback:llm_http_400", "flower": "ok",
              "absent": "fallback:missing_image"}
    expected = []
    for row, before in zip(rows, retrieved.to_pylist(), strict=True):
        decoded = row["name"] not in ("broken", "absent")
        ok = status[row["name"]] == "ok"
        expected.append(before | {
            "caption": CAPTION if decoded else "", "tags": "[]",
            "syn_text": fused(row["text1"]) if ok else row["text1"],
            "syn_status": status[row["name"]]})
    assert out.to_pylist() == expected

    text1 = [row["text1"] for row in rows]
    ok_rows = [i for i, row in enumerate(rows) if status[row["name"]] == "ok"]
    facts = quality.facts_of([text1[i] for i in ok_rows])
    assert sum(map(len, facts)) > 0
    want = {"records_in": len(rows), "syn_ok": 2, "fallback_no_text1": 1,
            "fallback_invalid_prompt_echo": 1, "fallback_bad_image": 1,
            "fallback_llm_http_400": 1, "fallback_missing_image": 1, "syn_same_as_text1": 0,
            "quality_answers_rewritten": 2, "quality_answer_facts": sum(map(len, facts)),
            "quality_answer_facts_kept": sum(map(len, facts))}
    want |= expected_quality(quality, text1, expected)
    assert {key: stats[key] for key in want} == want
    assert {key for key in stats if key.startswith(("fallback_", "syn_", "quality_"))} == set(
        want) - {"records_in"}
    # the fusion requests sent: the fused rows, the echo and the refused one; every decoded
    # image captioned once (its own client)
    assert stats["cache_misses"] == 4 and stats["caption_cache_misses"] == 5
    assert 0 <= stats["wait_for_tags_s"] < 60
    assert ws.read_json("report/generation.json") == json.loads(json.dumps(
        quality_report(stats)))


def _previous(ws, retrieved: pa.Table, generated: list[dict]) -> None:
    columns = {name: retrieved.column(name) for name in retrieved.column_names}
    for name in FIELDS:
        columns[name] = pa.array([row[name] for row in generated], pa.string())
    ws.write_table("generated", "00000", pa.table(columns))


def test_retry_failed_keeps_the_finished_rows_of_the_last_output(tmp_path, fake_server,
                                                                 quality):
    rows = photo_rows(["chelsea", "coffee", "rocket"])
    ws = write_inputs(tmp_path, rows)
    retrieved = ws.read_table("retrieved", "00000")
    old = [{"caption": "An old caption.", "tags": '[["cat", 0.9]]',
            "syn_text": "  " + rows[0]["text1"].replace(" ", "  "), "syn_status": "ok"},
           {"caption": "x", "tags": "[]", "syn_text": rows[1]["text1"],
            "syn_status": "fallback:llm_timeout"},
           {"caption": "Rocket.", "tags": '[["rocket", 0.5]]', "syn_text": "Old sentence.",
            "syn_status": "ok"}]
    _previous(ws, retrieved, old)
    stats, ws = run(config_for(tmp_path, fake_server.base_url, retry_failed=True))
    out = ws.read_table("generated", "00000").to_pylist()
    redone = {"caption": CAPTION, "tags": "[]", "syn_text": fused(rows[1]["text1"]),
              "syn_status": "ok"}
    expected = [before | fields for before, fields in zip(
        retrieved.to_pylist(), [old[0], redone, old[2]], strict=True)]
    assert out == expected
    assert len(fake_server.received) == 2  # one caption and one fusion: row 1 only
    text1 = [row["text1"] for row in rows]
    want = {"records_in": 3, "syn_ok": 3, "retry_kept": 2, "retry_redone": 1,
            "syn_same_as_text1": 1} | expected_quality(quality, text1, expected)
    assert {key: stats[key] for key in want} == want
    assert "retry_input_changed" not in stats


@pytest.mark.parametrize("change", ["ids", "rows"])
def test_retry_failed_redoes_a_shard_whose_input_moved_on(tmp_path, fake_server, change):
    rows = photo_rows(["chelsea", "coffee"])
    ws = write_inputs(tmp_path, rows)
    retrieved = ws.read_table("retrieved", "00000")
    if change == "ids":
        ids = retrieved.column("image_id").to_pylist()
        retrieved = retrieved.set_column(
            retrieved.column_names.index("image_id"), "image_id", pa.array(ids[::-1]))
    else:
        retrieved = retrieved.slice(0, 1)
    _previous(ws, retrieved, [{"caption": "c", "tags": "[]", "syn_text": "Old.",
                               "syn_status": "ok"}] * retrieved.num_rows)
    stats, ws = run(config_for(tmp_path, fake_server.base_url, retry_failed=True))
    out = ws.read_table("generated", "00000").to_pylist()
    assert [(row["syn_text"], row["syn_status"]) for row in out] == [
        (fused(row["text1"]), "ok") for row in rows]
    assert stats["retry_input_changed"] == 1 and stats["syn_ok"] == 2
    assert "retry_kept" not in stats and "retry_redone" not in stats


def test_without_retry_failed_a_previous_output_is_redone(tmp_path, fake_server):
    rows = photo_rows(["chelsea"])
    ws = write_inputs(tmp_path, rows)
    _previous(ws, ws.read_table("retrieved", "00000"), [
        {"caption": "c", "tags": "[]", "syn_text": "Old.", "syn_status": "ok"}])
    stats, ws = run(config_for(tmp_path, fake_server.base_url))
    assert ws.read_table("generated", "00000").column("syn_text").to_pylist() == [
        fused(rows[0]["text1"])]
    assert not {"retry_kept", "retry_redone", "retry_input_changed"} & set(stats)


def test_the_stage_names_its_inputs_outputs_and_summary(tmp_path):
    ws = Workspace(str(tmp_path / "ws"))
    for shard in ("00002", "00000"):
        ws.write_table("r", shard, pa.table({"image_id": ["a"]}))
    none = parse_config({"workspace": ws.url, "generate": {"tagger": "none"}})
    mined = parse_config({"workspace": ws.url, "generate": {
        "tagger": "zero_shot", "mine_tags": True, "mined_tags_max": 5}})
    stage = GenerateStage("r", "im", "out", "se")
    assert stage.reads(none) == ["datasets/r", "datasets/im"]
    assert stage.reads(mined) == ["datasets/r", "datasets/im", "datasets/se"]
    assert stage.writes(none) == ["datasets/out"]
    assert GenerateStage().reads(mined) == ["datasets/retrieved", "datasets/images_final",
                                            "datasets/sentences_final"]
    assert GenerateStage().writes(none) == ["datasets/generated"]
    assert stage.shards(Context(none, ws)) == ["00000", "00002"]

    stats = {"records_in": 5, "syn_ok": 3, "fallback_llm_http_500": 1,
             "fallback_bad_image": 1, "cache_hits": 2, "cache_misses": 4,
             "quality_rows": 5, "quality_same": 2}
    lines = stage.summary(None, stats).split("\n")
    assert lines[:2] == ["3/5 synthetic sentences generated; fell back to text1: "
                         "bad_image=1, llm_http_500=1", "llm cache hits=2 misses=4"]
    assert "\n".join(lines[2:]) == report_lines(quality_report(stats))
    assert stage.summary(None, {}).split("\n")[:2] == [
        "0/0 synthetic sentences generated", "llm cache hits=0 misses=0"]


def test_an_empty_or_missing_text1_falls_back_to_an_empty_sentence(tmp_path, fake_server):
    rows = photo_rows(["chelsea", "coffee"])
    rows[0]["text1"], rows[1]["text1"] = "", None
    write_inputs(tmp_path, rows)
    stats, ws = run(config_for(tmp_path, fake_server.base_url))
    out = ws.read_table("generated", "00000").to_pylist()
    assert [(row["caption"], row["syn_text"], row["syn_status"]) for row in out] == [
        (CAPTION, "", "fallback:no_text1")] * 2
    assert stats["fallback_no_text1"] == 2 and stats.get("cache_misses", 0) == 0  # none fused


def test_finalize_without_a_shard_run_writes_the_report(tmp_path):
    """A run whose shards were all done already: finalize alone, before any setup."""
    ws = Workspace(str(tmp_path / "ws"))
    config = parse_config({"workspace": ws.url})
    stats = {"records_in": 4, "quality_rows": 4, "quality_same": 1}
    GenerateStage().finalize(Context(config, ws), stats)
    assert ws.read_json("report/generation.json") == json.loads(json.dumps(
        quality_report(stats)))


def test_renamed_datasets_are_the_ones_read_and_written(tmp_path, fake_server):
    rows = photo_rows(["chelsea", "coffee"])
    ws = write_inputs(tmp_path, rows)
    for name, renamed in (("retrieved", "my_retrieved"), ("images_final", "my_images")):
        ws.write_table(renamed, "00000", ws.read_table(name, "00000"))
    broken = ws.read_table("images_final", "00000")  # the default dataset: unreadable images
    ws.write_table("images_final", "00000", broken.set_column(
        broken.column_names.index("bytes"), "bytes",
        pa.array([b"not an image"] * broken.num_rows, pa.binary())))
    config = config_for(tmp_path, fake_server.base_url)
    stats = LocalExecutor(1).run(GenerateStage("my_retrieved", "my_images", "my_out"),
                                 Context(config, ws))
    out = ws.read_table("my_out", "00000").to_pylist()
    assert [(row["caption"], row["syn_text"], row["syn_status"]) for row in out] == [
        (CAPTION, fused(row["text1"]), "ok") for row in rows]
    assert stats["syn_ok"] == 2 and not ws.shards("generated")


def test_one_stage_object_runs_twice(tmp_path, fake_server):
    """finalize closes the models; a second run of the same object sets them up again."""
    rows = photo_rows(["chelsea"])
    ws = write_inputs(tmp_path, rows)
    config = config_for(tmp_path, fake_server.base_url)
    stage = GenerateStage()
    for _ in range(2):
        ws.reset_stage("generate")
        stats = LocalExecutor(1).run(stage, Context(config, ws))
        assert stats["syn_ok"] == 1
        assert stage.models is None
    assert ws.read_table("generated", "00000").column("syn_text").to_pylist() == [
        fused(rows[0]["text1"])]


def test_batches_are_a_short_first_one_then_batch_size_rows(tmp_path, fake_server):
    """batch_size 8 over 12 rows: batches of 2 (a quarter of 8), 8 and 2 rows; a batch's rows
    finish (are fused) in the round after it is prepared. The helper thread's wait is in
    seconds, to the millisecond."""
    from realsyn import progress
    from realsyn.executors.base import run_one_shard

    rows = photo_rows()
    assert len(rows) == 12
    write_inputs(tmp_path, rows)
    config = config_for(tmp_path, fake_server.base_url, batch_size=8)
    sent: list[tuple] = []
    with progress.sending_to(lambda *message: sent.append(message)):
        stats = run_one_shard(GenerateStage(), Context(config, Workspace(config.workspace)),
                              "00000")
    assert stats["syn_ok"] == 12
    assert sorted({done for _, done, _ in sent}) == [0, 2, 10, 12]
    out = Workspace(config.workspace).read_table("generated", "00000")
    assert out.column("syn_text").to_pylist() == [fused(row["text1"]) for row in rows]
    wait = stats["wait_for_tags_s"]
    assert isinstance(wait, float) and wait == round(wait, 3) and 0 <= wait < 60


def test_an_empty_shard_keeps_the_output_schema(tmp_path, fake_server):
    rows = photo_rows(["chelsea"])
    ws = write_inputs(tmp_path, rows)
    write_inputs(tmp_path, rows, shard="00001")
    ws.write_table("retrieved", "00001", ws.read_table("retrieved", "00001").slice(0, 0))
    stats, ws = run(config_for(tmp_path, fake_server.base_url))
    full, empty = (ws.read_table("generated", shard) for shard in ("00000", "00001"))
    assert empty.num_rows == 0 and empty.schema == full.schema
    assert [full.schema.field(name).type for name in FIELDS] == [pa.string()] * 4
    assert stats["records_in"] == 1 and stats["syn_ok"] == 1


def test_a_failed_caption_falls_back_with_its_reason(tmp_path, fake_server):
    """The vision server answers 500 to every caption request (its prompt carries the fake's
    fault marker): each decodable row keeps text1, flagged with the caption's error, with an
    empty caption; nothing is sent for fusion."""
    rows = photo_rows(["chelsea", "coffee"])
    rows.append({"name": "broken", "bytes": b"not an image", "text1": "A broken file.",
                 "text2": "x", "text3": "y"})
    write_inputs(tmp_path, rows)
    config = config_for(tmp_path, fake_server.base_url,
                        captioner_prompt="Describe the photo. [fault:500]")
    stats, ws = run(config)
    out = ws.read_table("generated", "00000").to_pylist()
    assert [(row["caption"], row["tags"], row["syn_text"], row["syn_status"]) for row in out] == [
        ("", "[]", rows[0]["text1"], "fallback:caption_http_500"),
        ("", "[]", rows[1]["text1"], "fallback:caption_http_500"),
        ("", "[]", "A broken file.", "fallback:bad_image")]
    assert stats["fallback_caption_http_500"] == 2 and stats.get("cache_misses", 0) == 0


def test_the_fusion_request_carries_the_caption_and_the_llm_settings(tmp_path, fake_server):
    """One fusion request per row: the prompt of text1, the caption and the tags, with the
    configured max_tokens, temperature and seed. keep_facts off: no fact is counted."""
    from realsyn.generate.fusion import fusion_messages

    rows = photo_rows(["chelsea"])
    write_inputs(tmp_path, rows)
    config = config_for(tmp_path, fake_server.base_url, keep_facts=False,
                        llm={"backend": "openai", "base_url": fake_server.base_url,
                             "model": "test", "timeout_s": 2, "retries": 0,
                             "max_tokens": 77, "temperature": 0.3, "seed": 5})
    stats, _ = run(config)
    fusions = [body for body in fake_server.received
               if body["messages"] == fusion_messages(rows[0]["text1"], CAPTION, [])]
    assert len(fusions) == 1
    assert (fusions[0]["max_tokens"], fusions[0]["temperature"], fusions[0]["seed"]) == (
        77, 0.3, 5)
    assert stats["syn_ok"] == 1 and stats["quality_answers_rewritten"] == 1
    assert stats["quality_answer_facts"] == stats["quality_answer_facts_kept"] == 0
