"""Progress lines without a terminal, and the run log every run appends."""

import io
import re
import time
import warnings
from pathlib import Path

import pytest
from tqdm import tqdm

from realsyn import progress
from realsyn.config import parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.pipeline import run_pipeline
from realsyn.progress import LineProgress, progress_bar
from realsyn.runlog import run_log
from realsyn.stage import Context, Stage
from realsyn.workspace import Workspace

SAMPLE_PARQUET = (Path(__file__).resolve().parent.parent / "examples" / "sample_corpus"
                  / "sample.parquet")



def test_line_progress_logs_every_interval_while_a_shard_runs():
    stream = io.StringIO()
    bar = LineProgress(total=4, initial=1, desc="embed", interval_s=0.05, stream=stream)
    bar.update(1)
    bar.set_postfix(records=40)
    time.sleep(0.3)  # no update for several intervals: lines keep coming
    bar.update(1)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3
    assert lines[0].startswith("[embed] 2/4 shards") and "records=40" in lines[0]
    assert "ETA" in lines[0] and "records/s" in lines[0]
    assert lines[-1].startswith("[embed] 3/4 shards")


def test_progress_bar_is_tqdm_on_a_terminal_and_lines_elsewhere(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stderr", io.StringIO())
    bar = progress_bar(3, 0, "ingest", interval_s=0)
    assert isinstance(bar, LineProgress)
    bar.close()
    monkeypatch.setattr("sys.stderr", Terminal())
    bar = progress_bar(3, 0, "ingest")
    assert isinstance(bar, tqdm)
    bar.close()


def test_run_log_records_stages_warnings_and_tracebacks(tmp_path):
    config = parse_config({"workspace": str(tmp_path / "ws"),
                           "executor": {"progress_interval_s": 7}})
    workspace = Workspace(config.workspace)
    with pytest.raises(ZeroDivisionError), run_log(config, workspace) as log:
        assert progress.interval() == 7
        started = log.stage_started("toy")
        workspace.mark_done("toy", "00000", {"records_in": 5})
        warnings.warn("a library complains", UserWarning, stacklevel=1)
        log.stage_finished("toy", started, {"records_in": 5, "dropped_bad": 1}, "5 in")
        print(1 / 0)
    assert progress.interval() == progress.DEFAULT_INTERVAL_S  # restored after the run
    [name] = workspace.list_files("logs", ".log")
    text = (tmp_path / "ws" / "logs" / name).read_text()
    assert re.fullmatch(r"\d{8}T\d{6}_\d{6}Z\.log", name)
    assert "stage toy started (0 shards already done)" in text
    assert re.search(r"stage toy finished in \d+\.\d s: 5 in", text)
    assert '"dropped_bad": 1' in text
    assert "UserWarning: a library complains" in text
    assert "run failed" in text and "Traceback" in text and "ZeroDivisionError" in text
    timing = workspace.read_json("stages/toy/timing.json")
    assert timing["shards_run"] == 1 and timing["records_in"] == 5 and timing["wall_s"] >= 0


def test_every_run_appends_a_log_with_its_stages(tmp_path):
    config = parse_config({"workspace": str(tmp_path / "ws"), "stages": ["ingest"],
                           "inputs": [{"path": str(SAMPLE_PARQUET), "format": "obelics"}],
                           "executor": {"workers": 1, "shard_size": 20}})
    run_pipeline(config, report=lambda line: None)
    run_pipeline(config, report=lambda line: None)  # up to date: nothing to do, still logged
    workspace = Workspace(config.workspace)
    logs = workspace.list_files("logs", ".log")
    assert len(logs) == 2
    first = (tmp_path / "ws" / "logs" / logs[0]).read_text()
    second = (tmp_path / "ws" / "logs" / logs[1]).read_text()
    assert "stage ingest started (0 shards already done)" in first
    assert "stage ingest skipped (up to date)" in second
    assert "run finished" in first and "run finished" in second
    # the timing of the run that did the work is kept, not overwritten by the idle rerun
    assert workspace.read_json("stages/ingest/timing.json")["shards_run"] == 3


class WarningStage(Stage):
    """Warns in every shard, as a library would inside a worker process."""

    name = "warner"

    def shards(self, ctx):
        return ["00000", "00001"]

    def process(self, ctx, shard):
        warnings.warn(f"library warning from shard {shard}", RuntimeWarning, stacklevel=1)
        return {"records_in": 1}


def test_warnings_in_worker_processes_reach_the_run_log(tmp_path):
    config = parse_config({"workspace": str(tmp_path / "ws"), "executor": {"workers": 2}})
    workspace = Workspace(config.workspace)
    with run_log(config, workspace):
        LocalExecutor(workers=2).run(WarningStage(), Context(config=config, workspace=workspace))
    [name] = workspace.list_files("logs", ".log")
    text = (tmp_path / "ws" / "logs" / name).read_text()
    assert "RuntimeWarning: library warning from shard 00000" in text
    assert "RuntimeWarning: library warning from shard 00001" in text
    assert "py.warnings[" in text  # written by the worker processes themselves
