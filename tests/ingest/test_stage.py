"""The ingest stage end to end: `realsyn ingest CONFIG` on every input kind, plans, resumes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from realsyn.cli import app
from realsyn.ingest.sources import InputError, expand_input, kind_of, make_plan
from realsyn.workspace import Workspace

from .helpers import SAMPLE, link_sample_images, run_ingest, sample_rows
from .test_html import write_pages
from .test_pdf import write_pdf
from .test_warc import write_warc


def _corpus(kind: str, folder: Path) -> tuple[dict, int, int]:
    """An input of `kind` built from the sample; (input spec, documents, images ok)."""
    rows = sample_rows()[:3]
    images = sum(p is not None for row in rows for p in row["images"])
    if kind == "parquet":
        return {"path": str(SAMPLE), "format": "obelics"}, 56, 431
    folder.mkdir()
    if kind == "jsonl":
        link_sample_images(folder)
        with gzip.open(folder / "rows.jsonl.gz", "wt") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
        return {"path": str(folder / "*.jsonl.gz")}, 3, images
    if kind == "html":
        write_pages(folder / "site")
        return {"path": str(folder / "site"), "format": "html"}, 56, 431
    if kind == "warc":
        write_warc(folder / "crawl.warc.gz", rows)
        return {"path": str(folder / "crawl.warc.gz")}, 3, images
    if kind == "pdf":
        for index, row in enumerate(rows):
            write_pdf(folder / f"{index}.pdf", row)
        return {"path": str(folder), "format": "pdf"}, 3, images
    (folder / "list.txt").write_text("https://example.org/a.jpg\tA caption\n")
    return {"path": str(folder / "list.txt"), "format": "urls"}, 1, 0


@pytest.mark.parametrize("kind", ["parquet", "jsonl", "html", "warc", "pdf", "urls"])
def test_realsyn_ingest_command_on_each_input_kind(tmp_path, kind):
    spec, documents, images_ok = _corpus(kind, tmp_path / "corpus")
    config = {"workspace": "ws", "inputs": [spec], "executor": {"workers": 1},
              "ingest": {"fetch": {"enabled": False}}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "run.yaml")])
    assert result.exit_code == 0, result.output
    assert f"{documents} documents" in result.output
    stats = Workspace(str(tmp_path / "ws")).stage_stats("ingest")
    assert stats["documents_out"] == documents
    assert stats.get("images_ok", 0) == images_ok
    if kind == "urls":
        assert stats["images_failed_not_fetched"] == 1


def test_process_pool_gives_the_same_datasets(tmp_path):
    single, _ = run_ingest(tmp_path / "one", [{"path": str(SAMPLE)}], shard_size=10)
    pooled, stats = run_ingest(tmp_path / "two", [{"path": str(SAMPLE)}], shard_size=10,
                               workers=2)
    assert stats["documents_out"] == 56 and len(pooled.shards("documents")) == 6
    for shard in pooled.shards("images"):
        path = f"datasets/images/{shard}.parquet"
        assert pooled.read_bytes(path) == single.read_bytes(path)


def test_changed_inputs_are_ingested_again_as_a_whole(tmp_path):
    corpus = tmp_path / "corpus"
    write_pages(corpus)
    run_ingest(tmp_path / "ws", [{"path": str(corpus)}], files_per_shard=40)
    (corpus / "doc000.html").unlink()
    # The inputs are part of the stage's fingerprint: the next run ingests them again.
    workspace, _ = run_ingest(tmp_path / "ws", [{"path": str(corpus)}],
                              files_per_shard=40)
    assert workspace.count_rows("documents") == 55
    config = {"workspace": str(tmp_path / "ws"), "inputs": [{"path": str(corpus)}],
              "ingest": {"files_per_shard": 40, "fetch": {"enabled": False}}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "run.yaml"), "--rerun"])
    assert result.exit_code == 0, result.output
    assert "55 documents" in result.output
    workspace = Workspace(str(tmp_path / "ws"))
    assert workspace.shards("documents") == ["00000", "00001"]


def test_moved_inputs_resume(tmp_path):
    """Ids and plans use paths under the input root: a corpus mounted elsewhere resumes."""
    first = tmp_path / "a" / "corpus"
    write_pages(first)
    workspace, _ = run_ingest(tmp_path / "ws", [{"path": str(first)}], files_per_shard=40)
    ids = workspace.read_dataset("documents")["doc_id"].to_pylist()
    moved = tmp_path / "b" / "corpus"
    moved.parent.mkdir()
    first.rename(moved)
    workspace.fs.rm(workspace.path("stages/ingest/completions/00001"))
    run_ingest(tmp_path / "ws", [{"path": str(moved)}], files_per_shard=40)
    assert workspace.read_dataset("documents")["doc_id"].to_pylist() == ids


def test_kinds_globs_and_plans(tmp_path):
    assert kind_of("a/b.WARC.GZ", "auto") == "warc"
    assert kind_of("x.jsonl.zst", "auto") == "jsonl"
    assert kind_of("x.jsonl", "html") is None
    assert kind_of("list.txt", "auto") is None and kind_of("list.txt", "urls") == "urls"
    (tmp_path / "d" / "e").mkdir(parents=True)
    for name in ("d/1.html", "d/e/2.htm", "d/e/3.pdf", "d/e/x.png"):
        (tmp_path / name).write_text("<p>x</p>")
    files, ignored = expand_input(str(tmp_path / "d"))
    assert [(f.relpath, f.kind) for f in files] == [("1.html", "html"), ("e/2.htm", "html"),
                                                     ("e/3.pdf", "pdf")]
    assert ignored == [("e/x.png", "not a document type (.png)")]
    files, _ = expand_input(str(tmp_path / "d" / "**" / "*.htm*"))
    assert [f.relpath for f in files] == ["1.html", "e/2.htm"]
    with pytest.raises(InputError):
        expand_input(str(tmp_path / "nothing-here"))
    plan = make_plan([(str(tmp_path / "d"), "auto"), (str(SAMPLE), "auto")], 25, 1, 10**6)
    shards = [[(u["file"]["relpath"], u["start"], u["stop"]) for u in s] for s in plan["shards"]]
    assert shards == [[("1.html", 0, None)], [("e/2.htm", 0, None)], [("e/3.pdf", 0, None)],
                      [("sample.parquet", 0, 25)], [("sample.parquet", 25, 50)],
                      [("sample.parquet", 50, 56)]]
