"""`realsyn init PATH`: formats detected as `format: auto` would, the matching example config,
a workspace beside the written config, and a config that `realsyn config check` accepts."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from tests.ingest.helpers import SAMPLE_DIR, sample_rows
from tests.ingest.test_html import write_pages
from tests.ingest.test_warc import write_warc
from typer.testing import CliRunner

from realsyn.cli import app
from realsyn.config import load_config


def init(path: Path, output: Path, *extra: str):
    return CliRunner().invoke(app, ["init", str(path), "--output", str(output), *extra])


def check(config: Path) -> None:
    result = CliRunner().invoke(app, ["config", "check", str(config)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{config}: ok"


def test_init_on_the_sample_corpus(tmp_path):
    output = tmp_path / "run" / "realsyn.yaml"
    result = init(SAMPLE_DIR, output)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "  1 parquet file" in lines
    # The page images, the licence and the README are reported as ignored, with the reason.
    assert any(line.startswith("  1 not a document type (.md): README.md") for line in lines)
    assert any("not a document type (.png)" in line for line in lines)
    assert "from configs/obelics.yaml, format: obelics" in result.output
    assert lines[-1] == f"next: realsyn run {output} --dry-run"
    written = yaml.safe_load(output.read_text())
    assert written["inputs"] == [{"path": str(SAMPLE_DIR.resolve()), "format": "obelics"}]
    assert load_config(output).workspace == str(output.parent / "workspace")
    check(output)


def test_init_on_a_mixed_folder(tmp_path):
    corpus = tmp_path / "mixed"
    write_pages(corpus / "site")
    (corpus / "crawl").mkdir()
    write_warc(corpus / "crawl" / "part.warc.gz", sample_rows()[:3])
    shutil.copy(SAMPLE_DIR / "sample.parquet", corpus / "rows.parquet")
    (corpus / "notes.txt").write_text("not input")
    output = tmp_path / "realsyn.yaml"
    result = init(corpus, output)
    assert result.exit_code == 0, result.output
    pages = len(list((corpus / "site").glob("*.html")))
    assert f"  {pages} html files" in result.output
    assert "  1 warc file\n" in result.output and "  1 parquet file\n" in result.output
    assert "not a document type (.txt): notes.txt" in result.output
    assert "format: auto" in result.output
    config = load_config(output)
    assert [(spec.path, spec.format) for spec in config.inputs] == [(str(corpus), "auto")]
    check(output)


def test_init_keeps_an_existing_config_and_reports_an_empty_folder(tmp_path):
    output = tmp_path / "realsyn.yaml"
    output.write_text("mine")
    result = init(SAMPLE_DIR, output)
    assert result.exit_code == 2 and "--force" in result.output
    assert output.read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "photo.jpg").write_bytes(b"")
    result = init(empty, output, "--force")
    assert result.exit_code == 2
    assert "photo.jpg" in result.output
