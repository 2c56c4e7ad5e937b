"""OBELICS-layout readers: parquet, jsonl (plain, blocks, gzip) and saved datasets folders."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pytest

from realsyn.executors.base import StageError
from realsyn.ingest.stage import IngestStage

from .helpers import (
    SAMPLE,
    SAMPLE_DIR,
    expected_documents,
    ingested_documents,
    link_sample_images,
    run_ingest,
    sample_rows,
)


def _in_order(documents: dict, prefix: str) -> list:
    def locator(source: str) -> int:
        return int(source.rsplit("=", 1)[1])

    return [documents[s] for s in sorted(documents, key=locator) if s.startswith(prefix)]


def test_sample_parquet_is_read_whole(tmp_path):
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(SAMPLE)}])
    assert stats["records_in"] == 56
    assert stats["documents_out"] == 56
    assert stats["texts_out"] == 1861
    assert stats["images_out"] == stats["images_ok"] == 431
    documents = ingested_documents(workspace)
    assert _in_order(documents, "sample.parquet#row=") == expected_documents()
    texts = workspace.read_dataset("texts")
    assert texts.num_rows == 1861 and len(set(texts["text_id"].to_pylist())) == 1861


def test_row_blocks_give_the_same_records_and_resume_exactly(tmp_path):
    whole, _ = run_ingest(tmp_path / "whole", [{"path": str(SAMPLE)}])
    blocks, stats = run_ingest(tmp_path / "blocks", [{"path": str(SAMPLE)}], shard_size=20)
    assert blocks.shards("documents") == ["00000", "00001", "00002"]
    for name in ("documents", "images", "texts"):
        assert blocks.read_dataset(name).equals(whole.read_dataset(name))
    # A shard lost by a killed run is redone identically; finished shards are skipped.
    before = blocks.read_bytes("datasets/images/00001.parquet")
    blocks.reset_stage("ingest")
    with pytest.raises(StageError, match="killed"):
        run_ingest(tmp_path / "blocks", [{"path": str(SAMPLE)}], shard_size=20,
                   stage=FailingOnShard1())
    _, again = run_ingest(tmp_path / "blocks", [{"path": str(SAMPLE)}], shard_size=20)
    assert blocks.read_bytes("datasets/images/00001.parquet") == before
    assert {k: v for k, v in again.items() if k != "wall_s"} == \
        {k: v for k, v in stats.items() if k != "wall_s"}


class FailingOnShard1(IngestStage):
    def process(self, ctx, shard):
        if shard == "00001":
            raise RuntimeError("killed")
        return super().process(ctx, shard)


def _link_images(folder: Path) -> None:
    link_sample_images(folder)


def test_jsonl_round_trip_in_blocks_and_gzip(tmp_path):
    corpus = tmp_path / "corpus"
    _link_images(corpus)
    lines = [json.dumps(row) + "\n" for row in sample_rows()]
    (corpus / "sample.jsonl").write_text("".join(lines))
    with gzip.open(corpus / "sample.jsonl.gz", "wt") as handle:
        handle.writelines(lines)
    # Blocks of 20 kB cut lines in the middle: every line must be read exactly once.
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(corpus)}],
                                  jsonl_block_bytes=20_000)
    assert len(workspace.shards("documents")) > 3
    assert stats["documents_out"] == 2 * 56
    documents = ingested_documents(workspace)
    expected = expected_documents()
    assert _in_order(documents, "sample.jsonl#") == expected
    assert _in_order(documents, "sample.jsonl.gz#") == expected


def _write_saved_dataset(folder: Path, rows: list[dict]) -> None:
    """The layout of `datasets.Dataset.save_to_disk`: Arrow stream files + state.json."""
    folder.mkdir(parents=True)
    table = pa.Table.from_pylist(rows)
    halves = [table.slice(0, 30), table.slice(30)]
    for index, part in enumerate(halves):
        with pa.ipc.new_stream(folder / f"data-{index:05d}-of-00002.arrow", part.schema) as out:
            for batch in part.to_batches(max_chunksize=7):
                out.write_batch(batch)
    state = {"_data_files": [{"filename": f"data-{i:05d}-of-00002.arrow"} for i in range(2)]}
    (folder / "state.json").write_text(json.dumps(state))
    (folder / "dataset_info.json").write_text("{}")


def test_saved_dataset_folder(tmp_path):
    # Relative image paths resolve against the folder of the rows' files: the dataset folder.
    saved = tmp_path / "saved"
    _write_saved_dataset(saved, sample_rows())
    link_sample_images(saved)
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(saved), "format": "obelics"}],
                                  shard_size=25)
    assert stats["records_in"] == stats["documents_out"] == 56
    assert len(workspace.shards("documents")) == 4  # 30 rows: 25 + 5; 26 rows: 25 + 1
    assert stats["images_ok"] == 431
    documents = ingested_documents(workspace)
    ordered = [documents[s] for s in sorted(documents, key=lambda s: (s.split("#")[0],
                                                                        int(s.rsplit("=", 1)[1])))]
    assert ordered == expected_documents()


def test_saved_dataset_with_inline_image_bytes(tmp_path):
    rows = []
    for row in sample_rows()[:5]:
        images = [None if p is None else {"bytes": (SAMPLE_DIR / p).read_bytes(), "path": p}
                  for p in row["images"]]
        rows.append({**row, "images": images})
    _write_saved_dataset(tmp_path / "saved", rows)
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(tmp_path / "saved")}])
    assert stats["documents_out"] == 5
    assert stats["images_ok"] == stats["images_out"] == sum(
        p is not None for row in sample_rows()[:5] for p in row["images"])
    documents = ingested_documents(workspace)
    ordered = [documents[s] for s in sorted(documents, key=lambda s: (s.split("#")[0],
                                                                        int(s.rsplit("=", 1)[1])))]
    assert ordered == expected_documents()[:5]


def test_malformed_rows_are_counted_and_good_rows_kept(tmp_path):
    good = sample_rows()[0]
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps([1, 2]),
        json.dumps({**good, "images": good["images"][:-1]}),  # misaligned lists
        json.dumps({"url": "x"}),  # no lists
        json.dumps({**good, "texts": [None, *good["texts"][1:]],
                    "images": [None, *good["images"][1:]]}),  # position 0 is neither
        json.dumps({**good, "metadata": "{broken"}),
        "",
        json.dumps(good),
    ]
    corpus = tmp_path / "corpus"
    _link_images(corpus)
    (corpus / "rows.jsonl").write_text("\n".join(lines) + "\n")
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(corpus / "rows.jsonl")}])
    assert stats["records_in"] == 8
    assert stats["rows_dropped_invalid_json"] == 1
    assert stats["rows_dropped_not_an_object"] == 1
    assert stats["rows_dropped_misaligned_lists"] == 1
    assert stats["rows_dropped_missing_lists"] == 1
    assert stats["items_dropped_not_exactly_one_of_text_image"] == 1
    assert stats["rows_invalid_metadata_json"] == 1
    assert stats["documents_out"] == 4
    documents = list(ingested_documents(workspace).values())
    assert documents.count(expected_documents()[0]) == 3  # the two good rows and the bad meta


def test_saved_dataset_dict_folder(tmp_path):
    """`DatasetDict.save_to_disk`: dataset_dict.json naming split folders, each a Dataset.
    (The `datasets` library itself is not needed, nor used here: in this environment its
    save_to_disk fails to pickle pyarrow 26 types.)"""
    saved = tmp_path / "saved"
    saved.mkdir()
    rows = sample_rows()
    _write_saved_dataset(saved / "train", rows[:40])
    _write_saved_dataset(saved / "test", rows[40:])
    (saved / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    for split in ("train", "test"):
        link_sample_images(saved / split)
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(saved)}])
    assert stats["records_in"] == stats["documents_out"] == 56
    assert stats["images_ok"] == 431
    documents = ingested_documents(workspace)
    train = sorted((s for s in documents if s.startswith("train/")),
                   key=lambda s: (s.split("#")[0], int(s.rsplit("=", 1)[1])))
    assert [documents[s] for s in train] == expected_documents()[:40]


def test_public_image_urls_from_entries_metadata_and_row_url():
    from collections import Counter

    from realsyn.ingest.obelics import row_document

    row = {
        "texts": [None, None, None, None, "text"],
        "images": ["https://cdn.example.org/a.jpg", "images/b.png", "images/c.png",
                   "images/d.png", None],
        "metadata": json.dumps([{}, {"src": "https://docs.example.org/en/images/b.png"},
                                {"unformatted_src": "images/c.png"}, {}, None]),
        "url": "https://docs.example.org/en/page.html",
    }
    document = row_document(row, "corpus/rows.parquet", "row=0", Counter())
    raw = [json.loads(item["image_meta"]).get("raw_url") for item in document["items"][:4]]
    # d.png: a local file whose metadata names no source: no public URL is invented for it.
    assert raw == ["https://cdn.example.org/a.jpg", "https://docs.example.org/en/images/b.png",
                   "https://docs.example.org/en/images/c.png", None]
    assert [item["image_url"] for item in document["items"][1:4]] == [
        "corpus/images/b.png", "corpus/images/c.png", "corpus/images/d.png"]


def test_sample_corpus_images_carry_their_docs_gimp_org_urls(tmp_path):
    workspace, _ = run_ingest(tmp_path / "ws", [{"path": str(SAMPLE_DIR), "format": "obelics"}])
    metas = [json.loads(meta) for meta in workspace.read_dataset("images")["meta"].to_pylist()]
    assert metas and all(meta["raw_url"].startswith("https://docs.gimp.org/2.10/en/images/")
                         for meta in metas)
