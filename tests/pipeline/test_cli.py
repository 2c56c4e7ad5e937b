"""The command line: status, consistent options and errors, clean exits."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from chained_pipeline import SRC, write_config
from small_pipeline import slice_corpus, small_config
from typer.testing import CliRunner

import realsyn
from realsyn.cli import app
from realsyn.workspace import Workspace


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_status_says_what_is_stale_and_why(copy_finished, tmp_path):
    _, config = copy_finished()
    path = write_config(tmp_path, config)
    result = invoke("status", str(path))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:2] == ["stage", "state"]
    assert all("up to date" in line for line in lines[1:-1])
    assert lines[-1] == "scratch in total: 0 B"  # removed as each stage committed
    # "NAME up to date DONE/TOTAL ...": each stage's shards, all done, as its state says
    workspace = Workspace(config["workspace"])
    for line in lines[1:-1]:
        name, shards = line.split()[0], line.split()[4]
        total = workspace.read_json(f"stages/{name}/state.json")["shards"]
        assert total >= 1 and shards == f"{len(workspace.completed(name))}/{total}" == \
            f"{total}/{total}", line

    result = invoke("status", str(path), "--set", "balance.min_similarity=0.3")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "balance            stale" in text and "write              stale" in text
    assert "balance.min_similarity: -1.0 -> 0.3" in text
    assert "upstream balance is stale or not run" in text
    assert "retrieve           up to date" in text


def test_a_stage_never_completes_on_missing_input(tmp_path):
    corpus = slice_corpus(tmp_path / "corpus")
    path = write_config(tmp_path, small_config(tmp_path / "ws", corpus))
    assert invoke("ingest", str(path)).exit_code == 0
    result = invoke("retrieve", str(path))
    assert result.exit_code == 1
    message = result.output.strip()
    assert "\n" not in message, message
    assert "stage 'retrieve' cannot run" in message and "run stage 'semantic_dedup' first" \
        in message
    assert not (tmp_path / "ws" / "stages" / "retrieve" / "completions").exists()
    assert not (tmp_path / "ws" / "stages" / "retrieve" / "state.json").exists()


def test_version_help_and_config_errors(tmp_path):
    assert invoke("--version").output.strip() == f"realsyn {realsyn.__version__}"
    assert "Usage" in invoke("-h").output and "Usage" in invoke("run", "-h").output
    for bad in (tmp_path, tmp_path / "missing.yaml"):
        result = invoke("run", str(bad))
        assert result.exit_code == 2
        assert len(result.output.strip().splitlines()) == 1, result.output
    result = invoke("stats", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2 and "not found" in result.output


def test_read_only_commands_take_set_and_need_a_workspace(tmp_path):
    path = write_config(tmp_path, {"workspace": str(tmp_path / "nowhere")})
    for command in ("stats", "status", "train"):
        result = invoke(command, str(path))
        assert result.exit_code == 1, (command, result.output)
        assert "does not exist" in result.output
        assert not (tmp_path / "nowhere").exists()
    for command in ("stats", "status", "train", "report", "run", "config show"):
        # --set is applied (and validated) by every command that reads a config.
        result = invoke(*command.split(), str(path), "--set", "balance.cap=0")
        assert result.exit_code == 2 and "balance.cap" in result.output, (command,
                                                                           result.output)


def test_funnel_is_printed_once_and_up_to_date_stages_say_so(copy_finished, tmp_path):
    _, config = copy_finished()
    path = write_config(tmp_path, config)
    result = invoke("extract", str(path), "--rerun")
    assert result.exit_code == 0, result.output
    assert result.output.count("extraction funnel") == 1
    result = invoke("extract", str(path))
    assert [line for line in result.output.splitlines() if line.startswith("[")] == [
        "[extract_images] skipped (up to date)", "[extract_sentences] skipped (up to date)",
        "[dedup] skipped (up to date)"]


def test_thirty_fresh_retrieve_runs_exit_cleanly(copy_finished, tmp_path):
    """`realsyn retrieve` used to abort at exit (status 134, "terminate called without an
    active exception") in about one run of five: pyarrow still closing a Python file object
    on its thread pool while the interpreter shut down."""
    _, config = copy_finished()
    path = write_config(tmp_path, config)
    env = {**os.environ, "PYTHONPATH": SRC}
    codes = []
    for attempt in range(30):
        # Every other run redoes the search (faiss, parquet reads and writes), the others
        # find the stage up to date.
        args = [sys.executable, "-m", "realsyn", "retrieve", str(path)]
        process = subprocess.run(args + (["--rerun"] if attempt % 2 == 0 else []), env=env,
                                 capture_output=True, text=True)
        codes.append(process.returncode)
        assert "terminate called" not in process.stderr
    assert codes == [0] * 30


def test_a_run_without_a_terminal_prints_progress_lines_and_no_library_bars(copy_finished,
                                                                           tmp_path):
    """The embed workers load a sentence-transformers model, whose loader drew a `Loading
    weights` bar per worker into the output of batch jobs (issue #29)."""
    _, config = copy_finished()
    path = write_config(tmp_path, config)
    env = {**os.environ, "PYTHONPATH": SRC}
    process = subprocess.run(
        [sys.executable, "-m", "realsyn", "embed", str(path), "--rerun", "--set",
         "executor.workers=2", "--set", "executor.progress_interval_s=0.5"],
        env=env, capture_output=True, text=True)
    assert process.returncode == 0, process.stderr
    output = process.stdout + process.stderr
    assert re.search(r"^\[embed\] (\d+)/\1 shards, (\d+)/\2 records", output, re.MULTILINE)
    assert "Loading weights" not in output and "it/s]" not in output, output
