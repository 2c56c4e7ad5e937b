"""Per-item isolation in every reader: one bad URL, row, record, element or image is counted
with its reason, and the rest of its file, row group and shard is kept. Also the input-level
holes: links out of the input root, PDFs without pages, inputs that match nothing, text
limits, and compressed jsonl cut into blocks."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from hostile_corpus import (
    GOOD_SENTENCE,
    bad_sources_page,
    empty_pdf,
    giant_image_pdf,
    hostile_jsonl,
    huge_row_parquet,
    invalid_utf8_parquet,
    punycode_page,
    url_list,
)
from realsyn.executors.local import StageError

from .helpers import run_ingest


def _texts(workspace) -> list[str]:
    return workspace.read_dataset("texts")["text"].to_pylist()


def _folder(tmp_path, files: dict[str, bytes]):
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 90), (200, 20, 20)).save(buffer, "PNG")
    return buffer.getvalue()


def test_url_list_keeps_the_lines_after_a_malformed_url(tmp_path):
    folder = _folder(tmp_path, {"images.urls": url_list()})
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(folder)}])
    assert _texts(workspace) == ["A good caption of a red barn."]
    assert stats["rows_dropped_invalid_url"] == 3 and stats["documents_out"] == 1


def test_parquet_drops_the_bad_row_not_its_row_group(tmp_path):
    folder = _folder(tmp_path, {"utf8.parquet": invalid_utf8_parquet(),
                                "huge.parquet": huge_row_parquet(3_000_000)})
    assert pq.ParquetFile(folder / "utf8.parquet").metadata.num_row_groups == 1
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(folder)}],
                                  max_document_bytes=1_000_000)
    assert sorted(_texts(workspace)) == sorted([GOOD_SENTENCE, "Another fine row."] * 2)
    assert stats["rows_dropped_undecodable"] == 1 and stats["rows_dropped_too_large"] == 1
    assert "rows_dropped_corrupt_row_group" not in stats


def test_jsonl_drops_the_bad_line_not_the_rest_of_the_file(tmp_path):
    folder = _folder(tmp_path, {"rows.jsonl.gz": hostile_jsonl()})
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(folder)}])
    assert _texts(workspace) == [GOOD_SENTENCE, "Its image is", "Another fine row."]
    assert stats["rows_dropped_invalid_json"] == 1  # nested past the recursion limit
    assert stats["items_dropped_unusable_image_entry"] == 1  # bytes that are a string
    assert stats["rows_dropped_misaligned_lists"] == 1


def test_a_row_of_unexpected_shape_loses_itself_only(tmp_path):
    # Item metadata holding binary values cannot be stored as JSON.
    table = pa.table({"texts": [[GOOD_SENTENCE, None], ["Another fine row."]],
                      "images": [[None, "a.png"], [None]],
                      "metadata": [[None, {"blob": b"\x00\x01"}], [None]]})
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(table, folder / "rows.parquet")
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(folder)}])
    assert _texts(workspace) == ["Another fine row."]
    assert stats["rows_dropped_malformed"] == 1


def test_html_drops_the_bad_element_not_the_page(tmp_path):
    folder = _folder(tmp_path, {"page.html": bad_sources_page(), "photo.jpg": _png()})
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(folder)}])
    assert _texts(workspace) == [GOOD_SENTENCE]
    assert stats["items_dropped_invalid_image"] == 1
    images = workspace.read_dataset("images").to_pylist()
    assert [(row["url"], row["status"]) for row in images] == [("photo.jpg", "ok")]


def test_charsets_outside_the_web_allow_list_are_refused(tmp_path):
    folder = _folder(tmp_path, {"page.html": punycode_page()})
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(folder)}])
    assert _texts(workspace)[0] == GOOD_SENTENCE
    assert stats["pages_charset_refused"] == 1


def test_an_image_with_an_invalid_url_does_not_take_the_others(tmp_path):
    rows = [{"texts": [GOOD_SENTENCE, None, None],
             "images": [None, "http://[::1/x.png", "photo.png"]}]
    folder = _folder(tmp_path, {"photo.png": _png(),
                                "rows.jsonl": "".join(json.dumps(r) + "\n"
                                                      for r in rows).encode()})
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(folder)}])
    images = workspace.read_dataset("images").to_pylist()
    assert [row["status"] for row in images] == ["invalid_url", "ok"]
    assert stats["images_failed_invalid_url"] == 1


def test_pdf_pixels_are_checked_before_decoding_and_empty_pdfs_named(tmp_path):
    folder = _folder(tmp_path, {"giant.pdf": giant_image_pdf(), "empty.pdf": empty_pdf()})
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(folder)}])
    assert _texts(workspace) == [GOOD_SENTENCE]
    assert stats["items_dropped_pdf_image_too_many_pixels"] == 1
    assert stats["files_failed_empty_pdf"] == 1 and "files_failed_corrupt_pdf" not in stats
    images = workspace.read_dataset("images").to_pylist()
    assert [row["status"] for row in images] == ["ok"]  # the small image of the same page


def test_text_items_are_bounded_and_must_be_text(tmp_path):
    rows = [{"texts": [GOOD_SENTENCE, "y" * 5_000, "bin\x00\x01\x02ary\x03\x04"],
             "images": [None, None, None]}]
    folder = _folder(tmp_path, {"rows.jsonl": "".join(json.dumps(r) + "\n"
                                                      for r in rows).encode()})
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(folder)}],
                                  max_text_chars=1_000)
    assert _texts(workspace) == [GOOD_SENTENCE]
    assert stats["texts_dropped_too_long"] == 1 and stats["texts_dropped_not_text"] == 1


def test_metadata_fields_are_bounded_too(tmp_path):
    page = (f"<html><head><title>{'t' * 3_000}</title></head><body><p>{GOOD_SENTENCE}</p>"
            f"<img src='photo.png' alt='{'a' * 3_000}'><img src='photo.png' alt='short'>"
            "</body></html>")
    folder = _folder(tmp_path, {"page.html": page.encode(), "photo.png": _png()})
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(folder)}],
                                  max_text_chars=1_000)
    assert _texts(workspace) == [GOOD_SENTENCE]
    metas = [json.loads(row["meta"]) for row in workspace.read_dataset("images").to_pylist()]
    assert [meta.get("alt") for meta in metas] == [None, "short"]
    assert json.loads(workspace.read_dataset("documents")["metadata"][0].as_py()) == {}
    assert stats["images_meta_dropped_too_long"] == 1
    assert stats["documents_metadata_dropped_too_long"] == 1


def test_links_out_of_the_input_root_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(_png())
    (outside / "page.html").write_text(f"<p>{GOOD_SENTENCE} Outside.</p>")
    folder = _folder(tmp_path, {"page.html": f"<p>{GOOD_SENTENCE}</p><img src='in.png'>"
                                .encode()})
    (folder / "in.png").symlink_to(outside / "secret.png")
    (folder / "linked.html").symlink_to(outside / "page.html")
    workspace, _ = run_ingest(tmp_path / "ws", [{"path": str(folder)}])
    assert _texts(workspace) == [GOOD_SENTENCE]  # linked.html is not read
    images = workspace.read_dataset("images").to_pylist()
    assert [row["status"] for row in images] == ["path_outside_input_root"]
    plan = workspace.read_json("stages/ingest/plan.json")
    assert plan["ignored_reasons"]["symbolic link to a file outside the input root"] == 1


def test_inputs_that_match_nothing_are_an_error_listing_what_was_ignored(tmp_path):
    folder = _folder(tmp_path, {"notes.txt": b"x", "photo.png": _png()})
    with pytest.raises(StageError) as error:
        run_ingest(tmp_path / "ws", [{"path": str(folder)}])
    message = str(error.value)
    assert "match no document" in message
    assert "notes.txt: not a document type (.txt)" in message
    assert "photo.png: not a document type (.png)" in message
    with pytest.raises(StageError, match=r"inputs: \[\]"):
        run_ingest(tmp_path / "ws2", [])


def test_compressed_jsonl_is_cut_into_blocks_like_plain_jsonl(tmp_path):
    rows = [{"texts": [f"Row {n} says a dog runs to the door."], "images": [None]}
            for n in range(400)]
    plain = "".join(json.dumps(r) + "\n" for r in rows).encode()
    folder = _folder(tmp_path, {"rows.jsonl.gz": gzip.compress(plain)})
    workspace, _ = run_ingest(tmp_path / "ws", [{"path": str(folder)}],
                              jsonl_block_bytes=len(plain) // 5)
    assert len(workspace.shards("documents")) >= 5
    assert _texts(workspace) == [row["texts"][0] for row in rows]
    (folder / "rows.jsonl.gz").unlink()
    (folder / "rows.jsonl").write_bytes(plain)
    plain_workspace, _ = run_ingest(tmp_path / "ws-plain", [{"path": str(folder)}],
                                    jsonl_block_bytes=len(plain) // 5)
    assert len(plain_workspace.shards("documents")) == len(workspace.shards("documents"))


def test_jsonl_blocks_are_bounded_by_the_task_memory_budget():
    """Small jsonl rows take about 21 times their bytes as documents: a block is at most
    1/40 of executor.task_memory_mb, whatever ingest.jsonl_block_bytes allows."""
    from realsyn.config import parse_config
    from realsyn.ingest.sources import jsonl_block_bytes

    config = parse_config({"executor": {"task_memory_mb": 1024}})
    assert config.ingest.jsonl_block_bytes == 64_000_000
    assert jsonl_block_bytes(config.ingest.jsonl_block_bytes,
                             config.executor.task_memory_mb) == (1024 << 20) // 40
    assert jsonl_block_bytes(1000, 1024) == 1000  # a smaller configured block stays
    assert jsonl_block_bytes(64_000_000, 16) == (16 << 20) // 40


def test_a_jsonl_file_is_planned_in_blocks_the_budget_allows(tmp_path):
    rows = [{"texts": [f"Row {n} says a dog runs to the door."], "images": [None]}
            for n in range(20_000)]
    plain = "".join(json.dumps(r) + "\n" for r in rows).encode()  # about 1.3 MB
    folder = _folder(tmp_path, {"rows.jsonl": plain})
    workspace, _ = run_ingest(tmp_path / "ws", [{"path": str(folder)}], task_memory_mb=16)
    block = (16 << 20) // 40
    assert len(workspace.shards("documents")) == -(-len(plain) // block)
    assert len(_texts(workspace)) == len(rows)
