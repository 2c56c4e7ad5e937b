"""Where the local executor runs shards, the thread budget of its pool, and the fallback that
ends a worker whose runner died where the kernel cannot be asked to."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import worker_probe
from worker_probe import alive

from realsyn.config import RealsynConfig
from realsyn.executors.local import LocalExecutor, StageError, threads_per_worker
from realsyn.stage import Context
from realsyn.workspace import Workspace

HERE = Path(__file__).parent


def _run(root: Path, workers: int | None, shards: int, failing: str | None = None
         ) -> tuple[dict, set[int]]:
    ctx = Context(config=RealsynConfig(workspace=str(root)), workspace=Workspace(str(root)))
    executor = LocalExecutor() if workers is None else LocalExecutor(workers=workers)
    stats = executor.run(worker_probe.WhereStage(shards, failing), ctx)
    pids = {int(path.read_text()) for path in (root / "pids").iterdir()}
    return stats, pids


def test_by_default_every_shard_runs_here_after_one_setup(tmp_path):
    _, pids = _run(tmp_path, workers=None, shards=3)
    assert pids == {os.getpid()}
    assert [p.name for p in (tmp_path / "setups").iterdir()] == [str(os.getpid())]


def test_a_shard_failing_in_the_pool_names_itself(tmp_path):
    with pytest.raises(StageError, match="stage 'where' failed on shard '00001': ValueError"):
        _run(tmp_path, workers=2, shards=3, failing="00001")


def test_the_pool_never_runs_more_workers_than_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    _, pids = _run(tmp_path, workers=2, shards=4)
    assert 1 <= len(pids) <= 2
    assert len(list((tmp_path / "setups").iterdir())) <= 2  # one setup per worker


def test_an_unknown_core_count_counts_as_one(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert threads_per_worker(1) == 1


def test_a_single_pending_shard_runs_here_even_with_a_pool(tmp_path):
    _, pids = _run(tmp_path, workers=3, shards=1)
    assert pids == {os.getpid()}


def test_the_pool_has_no_more_workers_than_shards_and_they_share_the_cores(tmp_path,
                                                                         monkeypatch):
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    stats, pids = _run(tmp_path, workers=4, shards=2)
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    # two workers (not four), so each gets 4 // 2 threads
    assert stats["omp_threads"] == 2 * 2


def test_pool_workers_start_fresh_instead_of_inheriting_the_runner(tmp_path, monkeypatch):
    # Spawned, not forked: a worker inherits no state of the runner (its threads and locks,
    # the model libraries' thread pools), only what it imports itself.
    monkeypatch.setitem(worker_probe.RUNNER_STATE, "set", 1)
    stats, _ = _run(tmp_path, workers=2, shards=2)
    assert stats["inherited"] == 0


def test_without_prctl_a_worker_still_exits_when_its_runner_is_killed(tmp_path):
    pid_file = tmp_path / "worker.pid"
    runner = subprocess.Popen(
        [sys.executable, str(HERE / "worker_probe.py"), str(pid_file)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])})
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        worker = int(pid_file.read_text())
        runner.kill()
        runner.wait()
        deadline = time.monotonic() + 5
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(worker), "the worker outlived its runner"
    finally:
        runner.kill()
        if worker and alive(worker):
            os.kill(worker, signal.SIGKILL)

