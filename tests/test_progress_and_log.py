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
from realsyn.progress import StageProgress
from realsyn.runlog import run_log
from realsyn.stage import Context, Stage
from realsyn.workspace import Workspace

SAMPLE_PARQUET = (Path(__file__).resolve().parent.parent / "examples" / "sample_corpus"
                  / "sample.parquet")



def test_progress_lines_come_every_interval_while_a_shard_runs():
    stream = io.StringIO()
    bar = StageProgress(total=4, initial=1, desc="embed", interval_s=0.05, stream=stream)
    bar.finish("00001", {"records_in": 40})
    time.sleep(0.3)  # no news for several intervals: lines keep coming
    bar.finish("00002", {"records_in": 40})
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3
    # records of 2 of the 3 shards of this run known: the third estimated as their mean
    assert lines[0].startswith("[embed] 2/4 shards, 40/~120 records, ")
    assert "ETA" in lines[0] and "records/s" in lines[0] and "elapsed 0:00" in lines[0]
    assert lines[-1].startswith("[embed] 3/4 shards, 80/~120 records, ")
    assert lines[-2] != lines[-1]  # the final line is not a repeat of the last tick


def test_progress_is_a_tqdm_bar_on_a_terminal_and_lines_elsewhere():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    bar = StageProgress(3, 0, "ingest", interval_s=0, stream=io.StringIO())
    assert bar.bar is None and bar._thread is None  # no terminal, interval 0: nothing
    bar.close()
    terminal = Terminal()
    bar = StageProgress(3, 0, "ingest", interval_s=0, stream=terminal)
    assert isinstance(bar.bar, tqdm)
    bar.update("00000", 5, 10)
    bar.emit()
    bar.close()
    assert "5/~30 records" in terminal.getvalue()


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
