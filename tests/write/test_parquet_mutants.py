"""The release and extended parquet tested alone (scripts/mutation.py mutates
realsyn/write/parquet.py)."""

from __future__ import annotations

import json

import fsspec
import fsspec.implementations.local
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from realsyn.write.parquet import (
    RELEASE_SCHEMA,
    extended_table,
    release_table,
    release_url,
    write_parquet,
)

PAGE_URL = "https://example.com/a.png"


@pytest.mark.parametrize(("location", "meta", "expected"), [
    ("/data/a.png", json.dumps({"raw_url": PAGE_URL}), (PAGE_URL, False)),
    ("/data/a.png", {"raw_url": PAGE_URL}, (PAGE_URL, False)),
    ("/data/a.png", "{not json", ("/data/a.png", True)),
    ("/data/a.png", json.dumps([PAGE_URL]), ("/data/a.png", True)),
    ("/data/a.png", {"raw_url": "/elsewhere/a.png"}, ("/data/a.png", True)),
    ("/data/a.png", {"RAW_URL": PAGE_URL}, ("/data/a.png", True)),
    ("http://cdn.example.com/a.png", None, ("http://cdn.example.com/a.png", False)),
    ("http://cdn.example.com/a.png", {"raw_url": PAGE_URL}, (PAGE_URL, False)),
    (None, None, (None, True)),
])
def test_the_release_url_is_the_documents_url_else_the_location(location, meta, expected):
    assert release_url(location, meta) == expected


def test_the_release_table_has_exactly_the_published_columns():
    table = release_table([
        {"raw_image_url": PAGE_URL, "text1": "a", "text2": "b", "text3": "c", "syn_text": "s",
         "url": "/data/a.png", "score": 0.5},
        {"raw_image_url": "/data/b.png", "text1": "d"},
    ])
    assert table.schema == RELEASE_SCHEMA
    assert table.to_pylist() == [
        {"raw_image_url": PAGE_URL, "text1": "a", "text2": "b", "text3": "c", "syn_text": "s"},
        {"raw_image_url": "/data/b.png", "text1": "d", "text2": None, "text3": None,
         "syn_text": None}]


def test_the_extended_table_drops_pixels_and_appends_the_writers_columns():
    rows = pa.table({"id": [1, 2], "bytes": [b"x", b"y"], "image_bytes": [b"x", b"y"],
                     "score": [0.1, 0.2]})
    table = extended_table(rows, {"key": pa.array(["0", "1"]), "shard": pa.array([0, 0])})
    assert table.column_names == ["id", "score", "key", "shard"]
    assert table.to_pydict() == {"id": [1, 2], "score": [0.1, 0.2], "key": ["0", "1"],
                                 "shard": [0, 0]}


@pytest.mark.parametrize("local", [True, False])
def test_parquet_is_written_whole_zstd_compressed_into_a_new_folder(tmp_path, local):
    root = str(tmp_path) if local else "memory://realsyn-parquet-unit"
    url = f"{root}/new/folder/out.parquet"
    table = pa.table({"a": list(range(1000))})
    write_parquet(table, url)
    write_parquet(table, url)  # replaces
    fs, path = fsspec.core.url_to_fs(url)
    assert fs.ls(path.rsplit("/", 1)[0], detail=False) == [path]  # no temporary left
    with fs.open(path, "rb") as handle:
        data = pq.read_table(handle)
        handle.seek(0)
        meta = pq.ParquetFile(handle).metadata
    assert data.equals(table)
    assert meta.row_group(0).column(0).compression == "ZSTD"
    if not local:
        fs.rm(path.split("/new/", 1)[0], recursive=True)


def test_an_empty_release_table_keeps_the_published_schema():
    assert release_table([]).schema == RELEASE_SCHEMA
    assert release_table([{"raw_image_url": None}]).schema == RELEASE_SCHEMA


def test_the_temporary_is_written_beside_the_final_file(tmp_path, monkeypatch):
    """So that the final rename stays within one folder (one filesystem), and what a killed
    writer leaves is a `.tmp-*` file in the output folder, which readers and cleanups know."""
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    def killed(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fsspec.implementations.local.LocalFileSystem, "mv", killed)
    with pytest.raises(KeyboardInterrupt):
        write_parquet(pa.table({"a": [1]}), str(tmp_path / "out" / "x.parquet"))
    left = [p.name for p in (tmp_path / "out").iterdir()]
    assert len(left) == 1 and left[0].startswith(".tmp-") and left[0].endswith("-x.parquet")
    assert list(elsewhere.iterdir()) == []
