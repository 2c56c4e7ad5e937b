import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import slow_stage

from realsyn.executors.local import StageError
from realsyn.stage import Context, Stage
from realsyn.workspace import Workspace

SHARDS, ROWS = 12, 50
HERE = Path(__file__).parent


def _dataset_files(root: Path) -> dict[str, bytes]:
    folder = root / "datasets" / "squares"
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_resume_after_sigkill_is_byte_identical(tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    for root in (clean, killed):
        slow_stage.make_numbers(Workspace(str(root)), SHARDS, ROWS)
    slow_stage.run(str(clean), workers=2)

    command = [sys.executable, str(HERE / "slow_stage.py"), str(killed), "2"]
    process = subprocess.Popen(command, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    markers = killed / "stages" / "slow_copy" / "completions"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if markers.exists() and len(list(markers.iterdir())) >= 3:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the runner and its pool workers, mid-stage
    process.wait()
    finished = len(list(markers.iterdir()))
    assert 3 <= finished < SHARDS, "the kill must land in the middle of the stage"

    stats = slow_stage.run(str(killed), workers=2)
    assert _dataset_files(killed) == _dataset_files(clean)
    table = Workspace(str(killed)).read_dataset("squares")
    assert sorted(table.column("value").to_pylist()) == list(range(SHARDS * ROWS))
    assert stats["records_in"] == SHARDS * ROWS
    assert stats["odd"] == SHARDS * ROWS // 2


def test_finished_shards_are_skipped(tmp_path):
    workspace = Workspace(str(tmp_path))
    slow_stage.make_numbers(workspace, 3, 5)
    slow_stage.run(str(tmp_path), workers=1)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "datasets" / "squares").iterdir()}
    slow_stage.run(str(tmp_path), workers=1)
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "datasets" / "squares").iterdir()}
    assert before == after


class FailingStage(Stage):
    name = "failing"

    def shards(self, ctx):
        return ["00000", "00001"]

    def process(self, ctx, shard):
        if shard == "00001":
            raise ValueError("boom")
        return {"records_in": 1}


def test_a_failing_shard_names_itself_and_keeps_finished_work(tmp_path):
    from realsyn.config import RealsynConfig
    from realsyn.executors.local import LocalExecutor

    workspace = Workspace(str(tmp_path))
    ctx = Context(config=RealsynConfig(workspace=str(tmp_path)), workspace=workspace)
    with pytest.raises(StageError, match=r"'failing' failed on shard '00001'.*boom"):
        LocalExecutor(workers=1).run(FailingStage(), ctx)
    assert workspace.completed("failing") == ["00000"]
