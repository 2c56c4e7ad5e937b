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
    assert RetrieveConfig(routing="paper").list_split == 1  # the paper's ~420-sentence lists
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


def test_a_relative_write_output_resolves_against_the_config_not_the_cwd(tmp_path,
                                                                          monkeypatch):
    """Run from another folder, a relative write.output must not land (or be looked for as
    up to date) under that folder: it is where the config says, like the workspace."""
    from realsyn.write.stage import WriteStage

    path = _write(tmp_path, "workspace: ws\nwrite: {output: ../release}\n")
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    config = load_config(path)
    assert config.write.output == str(tmp_path.parent / "release")
    assert WriteStage().writes(config) == [str(tmp_path.parent / "release")]
    assert load_config(path, {"write.output": "s3://bucket/out"}).write.output == \
        "s3://bucket/out"


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


# Fields that used to pass `config check` and fail only when their stage ran.
@pytest.mark.parametrize(("text", "field", "message"), [
    ("ingest: {fetch: {allowed_networks: [not-a-network]}}\n",
     "ingest.fetch.allowed_networks", "not-a-network"),
    ("ingest: {fetch: {user_agent: \"a\\r\\nX-Injected: 1\"}}\n", "ingest.fetch.user_agent",
     "control characters"),
    ("generate: {llm: {backend: openai}}\n", "generate.llm", "needs base_url"),
    ("generate: {llm: {backend: openai, base_url: 'ftp://host/v1'}}\n", "generate.llm.base_url",
     "http(s) URL"),
    ("generate: {llm: {api_key: \"k\\n\"}}\n", "generate.llm.api_key", "control characters"),
    ("generate: {captioner: hf}\n", "generate", "needs captioner_model"),
    ("generate: {captioner: openai_vl}\n", "generate", "captioner_base_url or llm.base_url"),
    ("extract: {sentences: {perplexity_scorer: kenlm}}\n", "extract.sentences",
     "needs perplexity_model"),
    ("embed: {encoder: {device: gpu}}\n", "embed.encoder.device", "'gpu'"),
    ("workspace: 'nosuchfs://bucket/run'\n", "workspace", "unknown storage protocol"),
    ("inputs: [{path: 'nosuchfs://bucket/docs'}]\n", "inputs.0.path", "unknown storage protocol"),
    ("write: {output: 'nosuchfs://out'}\n", "write.output", "unknown storage protocol"),
    ("stages: [ingest, nonsense]\n", "stages", "unknown stage 'nonsense'"),
])
def test_config_check_catches_what_would_fail_mid_run(tmp_path, text, field, message):
    path = _write(tmp_path, text)
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{field}:" in result.output and message in result.output


def test_good_values_of_the_checked_fields_pass(tmp_path):
    path = _write(tmp_path, "ingest: {fetch: {allowed_networks: [10.0.0.0/8, 'fd00::/8', "
                            "192.168.1.7]}}\n"
                            "generate: {llm: {backend: openai, base_url: 'http://h:8000/v1'}}\n"
                            "embed: {encoder: {device: 'cuda:1'}}\nworkspace: 'memory://ws'\n"
                            "stages: [ingest, extract_images]\n")
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", [["config", "check"], ["run"]])
def test_set_into_a_list_names_the_field(tmp_path, command):
    path = _write(tmp_path, f"workspace: {tmp_path / 'ws'}\n"
                            f"inputs: [{{path: {tmp_path / 'docs'}}}]\n")
    result = runner.invoke(app, [*command, str(path), "--set", "inputs.0.format=xml"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "inputs.0.format: Input should be 'auto'" in result.output


@pytest.mark.parametrize(("setting", "message"), [
    ("inputs.3.path=/x", "--set inputs.3.path: '3' is not an index of a list with 1 entries"),
    ("inputs.first.path=/x", "'first' is not an index"),
    ("executor.workers.x=1", "--set executor.workers.x: executor.workers is a value"),
])
def test_set_with_a_bad_path_is_a_clear_error(tmp_path, setting, message):
    path = _write(tmp_path, "executor: {workers: 2}\ninputs: [{path: docs}]\n")
    result = runner.invoke(app, ["config", "check", str(path), "--set", setting])
    assert result.exit_code == 2 and message in result.output, result.output


def test_set_can_edit_and_append_list_entries(tmp_path):
    path = _write(tmp_path, "inputs: [{path: docs}]\n")
    config = load_config(path, {"inputs.0.format": "html", "inputs.1.path": "more"})
    assert [(spec.format, Path(spec.path).name) for spec in config.inputs] == [
        ("html", "docs"), ("auto", "more")]
