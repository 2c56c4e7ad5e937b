import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realsyn.cli import app
from realsyn.config import (
    PAPER_PERPLEXITY_WINDOW,
    PERPLEXITY_WINDOWS,
    ConfigError,
    RealsynConfig,
    RetrieveConfig,
    load_config,
)

runner = CliRunner()
ROOT = Path(__file__).parent.parent


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_paper_defaults():
    config = RealsynConfig()
    images, sentences = config.extract.images, config.extract.sentences
    assert (images.min_side, images.min_aspect, images.max_aspect) == (100, 1 / 3, 3.0)
    assert (sentences.min_words, sentences.max_words, sentences.min_complexity) == (3, 81, 1)
    assert sentences.min_entropy == 0.3
    # the paper's [30, 200] belongs to its own model; each scorer has a calibrated window
    assert PAPER_PERPLEXITY_WINDOW == (30, 200)
    assert (sentences.min_perplexity, sentences.max_perplexity) == PERPLEXITY_WINDOWS["ngram"]
    assert config.retrieve.top_k == 3
    assert RetrieveConfig(routing="paper").lists_probed == 1
    assert (config.balance.min_similarity, config.balance.max_similarity) == (0.51, 0.61)


@pytest.mark.parametrize(("text", "field"), [
    ("executor: {workerz: 2}\n", "executor.workerz"),
    ("retrieve: {top_k: three}\n", "retrieve.top_k"),
    ("extract: {images: {min_side: -5}}\n", "extract.images.min_side"),
    ("balance: {min_similarity: 0.7, max_similarity: 0.6}\n", "balance"),
])
def test_bad_config_names_field_and_file(tmp_path, text, field):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert field in str(error.value) and str(path) in str(error.value)
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 2
    assert field in result.output


def test_relative_paths_resolve_against_the_config(tmp_path):
    path = _write(tmp_path, "workspace: ws\ninputs: [{path: docs/a.parquet}]\n")
    config = load_config(path)
    assert config.workspace == str(tmp_path / "ws")
    assert config.inputs[0].path == str(tmp_path / "docs" / "a.parquet")


def test_config_show_prints_resolved_defaults():
    result = runner.invoke(app, ["config", "show", str(ROOT / "configs" / "sample.yaml")])
    assert result.exit_code == 0, result.output
    assert "min_side: 100" in result.output and "max_words: 81" in result.output


def test_help_lists_subcommands():
    result = subprocess.run([sys.executable, "-m", "realsyn", "--help"], capture_output=True,
                            text=True, check=True)
    for command in ("run", "config", "ingest", "stats"):
        assert command in result.stdout


def test_unknown_stage_is_a_clear_error(tmp_path):
    path = _write(tmp_path, f"workspace: {tmp_path / 'ws'}\n")
    result = runner.invoke(app, ["run", str(path), "--only", "nonsense"])
    assert result.exit_code == 2
    assert "unknown stage 'nonsense'" in result.output


def test_set_overrides_are_validated(tmp_path):
    path = _write(tmp_path, f"workspace: {tmp_path / 'ws'}\n")
    result = runner.invoke(app, ["run", str(path), "--set", "executor.workerz=3"])
    assert result.exit_code == 2
    assert "executor.workerz" in result.output
    result = runner.invoke(app, ["run", str(path), "--set", "novalue"])
    assert result.exit_code == 2 and "FIELD=VALUE" in result.output
