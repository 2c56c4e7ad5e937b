"""The generated hostile corpus, ingested in one run: every bad file or item is counted with
its reason, every good item beside it is kept, and every task stays within
executor.task_memory_mb (memory.peak_rss_mib of the worker and of its reader child)."""

from __future__ import annotations

from collections import Counter

from hostile_corpus import GOOD_SENTENCE, write_corpus
from realsyn.config import parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.ingest.stage import IngestStage
from realsyn.stage import Context
from realsyn.workspace import Workspace


def test_hostile_corpus_is_counted_and_good_items_kept(tmp_path):
    expected = write_corpus(tmp_path / "in")
    config = parse_config({"workspace": str(tmp_path / "ws"),
                           "inputs": [{"path": str(tmp_path / "in")}],
                           "ingest": {"fetch": {"enabled": False},
                                      "max_document_bytes": 20_000_000}})
    ctx = Context(config=config, workspace=Workspace(config.workspace))
    # Two workers: spawned processes, so each task's peak is its own and not that of the test
    # process (one worker runs in-process, where earlier tests' models count in the peak).
    stats = LocalExecutor(2).run(IngestStage(), ctx)
    assert {key: stats.get(key, 0) for key in expected} == expected
    assert not [key for key in stats if key.startswith("files_failed_")
                and key != "files_failed_empty_pdf"]
    texts = Counter(ctx.workspace.read_dataset("texts")["text"].to_pylist())
    # The PDF, the WARC, both parquet files, the jsonl and the three pages keep theirs.
    assert texts[GOOD_SENTENCE] == 8, texts.most_common(12)
    assert texts["Another fine row."] == 3
    assert all("\ufffd" not in text and "\x00" not in text for text in texts)
    images = ctx.workspace.read_dataset("images").to_pylist()
    kept = [row for row in images if row["status"] == "ok"]
    assert {row["url"] for row in kept} == {None, "photo.jpg"}  # the PDF's small image
    # Each task within its budget (ingest loads no model): the worker, and the reader child
    # where the files are parsed.
    budget = config.executor.task_memory_mb
    peaks = {shard: ctx.workspace.read_json(f"stages/ingest/stats/{shard}.json")["memory"]
             for shard in ctx.workspace.completed("ingest")}
    assert len(peaks) > 1
    assert all(peak["reader_peak_rss_mib"] > 0 for peak in peaks.values()), peaks
    assert {shard: peak for shard, peak in peaks.items()
            if max(peak["peak_rss_mib"], peak["reader_peak_rss_mib"]) > budget} == {}
