import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import slow_stage
from worker_probe import alive as _alive

from realsyn.config import RealsynConfig
from realsyn.executors.local import LocalExecutor, StageError, threads_per_worker
from realsyn.stage import Context, Stage
from realsyn.workspace import TEMPORARY_PREFIX, Workspace

SHARDS, ROWS = 12, 50
HERE = Path(__file__).parent


def _dataset_files(root: Path) -> dict[str, bytes]:
    """The finished files of `squares`. This stage declares no outputs, so it writes in place:
    a writer killed mid-file leaves a temporary that no resume can attribute to it, and that
    every reader skips (Workspace.list_files). The executor alone, run here, does not sweep
    the workspace; a pipeline run removes such leftovers when it starts
    (tests/pipeline/test_pipeline_mutants.py::test_leftover_temporaries_are_removed_and_reported)."""
    folder = root / "datasets" / "squares"
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())
            if not path.name.startswith(TEMPORARY_PREFIX)}


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


def test_threads_per_worker_share_the_cores():
    assert threads_per_worker(1, cores=8) == 8
    assert threads_per_worker(2, cores=8) == 4
    assert threads_per_worker(3, cores=8) == 2
    assert threads_per_worker(16, cores=8) == 1


def test_pool_workers_share_the_cores_instead_of_each_taking_all(tmp_path, monkeypatch):
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    ctx = Context(config=RealsynConfig(workspace=str(tmp_path)), workspace=Workspace(str(tmp_path)))
    stats = LocalExecutor(workers=2).run(slow_stage.ThreadProbeStage(), ctx)
    # Two shards, each in a worker with 2 // 2 threads; uncapped, torch takes 2 in each.
    assert stats["torch_threads"] == 2 * 1
    assert "OMP_NUM_THREADS" not in os.environ  # the parent's environment is restored


def test_a_thread_count_the_user_set_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    ctx = Context(config=RealsynConfig(workspace=str(tmp_path)), workspace=Workspace(str(tmp_path)))
    stats = LocalExecutor(workers=2).run(slow_stage.ThreadProbeStage(), ctx)
    assert stats["torch_threads"] == 2 * 2


# Ray ties its actors to the driver's job itself; its raylet notices the death a little later.
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(("kind", "grace_s"), [
    ("local", 5),
    pytest.param("ray", 15, marks=pytest.mark.skipif(
        importlib.util.find_spec("ray") is None, reason="ray is not installed")),
])
def test_workers_exit_when_the_runner_is_killed_alone(tmp_path, kind, grace_s):
    config = tmp_path / "run.yaml"
    config.write_text(f"workspace: {tmp_path / 'ws'}\nexecutor: {{workers: 2, kind: {kind}}}\n")
    runner = subprocess.Popen(
        [sys.executable, str(HERE / "slow_stage.py"), "cli", "run", str(config), "--only", "busy"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])})
    busy = tmp_path / "ws" / "busy"
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            workers = [int(p.read_text()) for p in busy.glob("0*")] if busy.exists() else []
        assert len(workers) == 2, "both workers must be busy with a shard"
        assert all(_alive(pid) for pid in workers)
        runner.kill()  # SIGKILL to the runner only, not its process group
        runner.wait()
        deadline = time.monotonic() + grace_s
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if _alive(pid)], "workers outlived the runner"
    finally:
        runner.kill()
        for pid in workers:  # never leave a test's orphans behind, even when it fails
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_every_shard_records_its_wall_time_and_the_merge_sums_it(tmp_path):
    import json

    workspace = Workspace(str(tmp_path))
    slow_stage.make_numbers(workspace, 3, 5)
    merged = slow_stage.run(str(tmp_path), workers=1)
    per_shard = [json.loads(path.read_text())["wall_s"]
                 for path in sorted((tmp_path / "stages" / "slow_copy" / "stats").iterdir())]
    assert len(per_shard) == 3 and all(value >= 0.3 for value in per_shard)  # sleeps 0.3 s
    assert abs(merged["wall_s"] - sum(per_shard)) < 1e-6
