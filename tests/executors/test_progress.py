"""Progress inside a stage: the records of running shards move in the progress lines before
any shard finishes (in the driver's process and in a worker pool), and model libraries draw
no bars of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import slow_stage

import realsyn
from realsyn import progress
from realsyn.config import RealsynConfig
from realsyn.executors.local import LocalExecutor
from realsyn.stage import Context
from realsyn.workspace import Workspace

SHARDS, ROWS = 2, 10


def counting_context(root: str, monkeypatch) -> Context:
    slow_stage.make_numbers(Workspace(root), SHARDS, ROWS)
    monkeypatch.setattr(progress, "_interval_s", 0.2)  # as `executor.progress_interval_s`
    return Context(config=RealsynConfig(workspace=root), workspace=Workspace(root))


def check_records_move_within_shards(lines: list[tuple[int, int, str | None]]) -> None:
    before_first_shard = [records for shards, records, _ in lines if shards == 0]
    # at least two different counts while no shard had finished: records moved inside them
    assert len({records for records in before_first_shard if records > 0}) >= 2, lines
    counts = [records for _, records, _ in lines]
    assert counts == sorted(counts)  # never backwards
    # every shard reports its 10 rows up front: the total is known, or estimated from them
    assert {expected for _, _, expected in lines} <= {None, "20", "~20"}
    assert lines[-1] == (SHARDS, SHARDS * ROWS, "20")  # the final line


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_lines_show_records_moving_before_the_first_shard_finishes(
        tmp_path, monkeypatch, capsys, workers):
    ctx = counting_context(str(tmp_path / "ws"), monkeypatch)
    stats = LocalExecutor(workers=workers).run(slow_stage.CountingStage(nap_s=0.2), ctx)
    assert stats["records_in"] == SHARDS * ROWS
    check_records_move_within_shards(slow_stage.progress_lines(capsys.readouterr().err))


def test_late_counts_are_ignored_and_unknown_totals_are_estimated():
    bar = progress.StageProgress(total=4, initial=1, desc="embed", interval_s=0,
                                 pending=["a", "b", "c"])
    assert bar.records() == (0, None, False)
    bar.update("split~a", 3, 3)  # a late count of the step before, from a kept worker pool
    assert bar.records() == (0, None, False)
    bar.update("a", 5, 10)
    bar.update("b", 2, None)  # started, total not known yet
    assert bar.records() == (7, 30, True)  # a's 10, and 10 each for b and the one not started
    bar.finish("a", {"records_in": 10})
    bar.update("a", 9, 10)  # a worker's message sent before it finished, read after
    assert bar.records() == (12, 30, True)
    bar.update("b", 4, 20)
    bar.update("c", 1, 30)
    assert bar.records() == (15, 60, False)
    line = bar.line()
    assert line.startswith("[embed] 2/4 shards, 15/60 records, ") and ", 2 shards running, " in line
    bar.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_model_loading_bars_of_libraries_stay_out_of_a_run(tmp_path, capfd, workers):
    root = str(tmp_path / "ws")
    ctx = Context(config=RealsynConfig(workspace=root), workspace=Workspace(root))
    stats = LocalExecutor(workers=workers).run(slow_stage.ModelLoadingStage(), ctx)
    assert stats["dim"] == 2 * 384  # the model did load, in every worker
    out, err = capfd.readouterr()  # also what the spawned workers wrote to the terminal
    assert "Loading weights" not in out + err and "it/s]" not in out + err, err


def test_the_model_loader_draws_a_bar_outside_a_run():
    """The check above can fail: loaded outside realsyn's executors, the model draws its bar."""
    code = ("import torch; from realsyn.models.encoders.offline import MiniLMTextEncoder; "
            "MiniLMTextEncoder(torch.device('cpu'))")
    env = {name: value for name, value in os.environ.items()
           if name not in progress.LIBRARY_BAR_SWITCHES}
    env["PYTHONPATH"] = str(Path(realsyn.__file__).parents[1])
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env=env)
    assert "Loading weights" in loaded.stderr
