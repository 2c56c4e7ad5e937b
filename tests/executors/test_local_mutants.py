"""Where the local executor runs shards, the thread budget of its pool, and the fallback that
ends a worker whose runner died where the kernel cannot be asked to."""

from __future__ import annotations

import ctypes
import multiprocessing
import operator
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import slow_stage
import stepped_stage
import worker_probe
from worker_probe import alive

from realsyn import progress, runlog
from realsyn.config import RealsynConfig
from realsyn.executors import local
from realsyn.executors.local import LocalExecutor, StageError, threads_per_worker
from realsyn.stage import RECORDS, Context
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


def test_the_pool_reports_each_shard_as_it_finishes(tmp_path):
    # Progress must move when a shard ends, not when the last one does: shard 00001 waits
    # for the file written when 00000 is reported.
    workspace = Workspace(str(tmp_path))
    ctx = Context(config=RealsynConfig(workspace=str(tmp_path)), workspace=workspace)
    reported: list[dict] = []

    class Tracker:  # the executor's side of realsyn.progress.StageProgress
        def update(self, *message) -> None:
            """Counts from inside running shards: not what this test watches."""

        def finish(self, shard: str, stats: dict) -> None:
            reported.append(stats)
            workspace.write_bytes("go", b"")

    executor = LocalExecutor(workers=2)
    try:
        executor.map_shards(worker_probe.WaitingStage(wait_s=30), ctx, ["00000", "00001"],
                            Tracker())
    finally:
        executor.release()
    assert [stats["shard"] for stats in reported] == [0, 1]
    assert reported[1]["saw_go"] == 1



def test_release_shuts_the_kept_pool_down_and_its_workers_end(tmp_path):
    ctx = Context(config=RealsynConfig(workspace=str(tmp_path)), workspace=Workspace(str(tmp_path)))
    tracker = SimpleNamespace(update=lambda *message: None, finish=lambda shard, stats: None)
    executor = LocalExecutor(workers=2)
    try:
        executor.map_shards(worker_probe.WhereStage(2), ctx, ["00000", "00001"], tracker)
        workers = {int(path.read_text()) for path in (tmp_path / "pids").iterdir()}
        assert workers and all(alive(pid) for pid in workers)  # kept for the next step
    finally:
        executor.release()
    # release waits for the pool's shutdown: no worker is left running behind the runner
    assert not any(alive(pid) for pid in workers)

def test_the_pool_never_runs_more_workers_than_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    _, pids = _run(tmp_path, workers=2, shards=4)
    assert 1 <= len(pids) <= 2
    assert len(list((tmp_path / "setups").iterdir())) <= 2  # one setup per worker


def test_an_unknown_core_count_counts_as_one(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert threads_per_worker(1) == 1


def test_one_executor_runs_stage_after_stage_each_with_its_own_pool(tmp_path):
    # A pool is set up with its stage's context: one kept from the stage before would write
    # this stage's shards into the other workspace.
    executor = LocalExecutor(workers=2)
    for name in ("first", "second"):
        root = tmp_path / name
        ctx = Context(config=RealsynConfig(workspace=str(root)), workspace=Workspace(str(root)))
        assert executor.run(worker_probe.WhereStage(3), ctx)[RECORDS] == 3
        assert sorted(path.name for path in (root / "pids").iterdir()) == [
            "00000", "00001", "00002"]
        assert os.getpid() not in {int(path.name) for path in (root / "setups").iterdir()}


def test_the_pool_kept_for_every_step_shares_the_cores_among_all_its_workers(tmp_path,
                                                                          monkeypatch):
    # The first step has two tasks, the second three: the pool kept for both is sized for
    # the workers asked for, not for the first step, and its thread budget with it.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    workspace = Workspace(str(tmp_path))
    slow_stage.make_numbers(workspace, 2, 6)
    ctx = Context(config=RealsynConfig(workspace=str(tmp_path)), workspace=workspace)
    stats = LocalExecutor(workers=3).run(worker_probe.SteppedThreadsStage(), ctx)
    assert stats["partitions_reduced"] == stepped_stage.PARTITIONS == 3
    assert stats["omp_threads"] == 3 * (6 // 3)


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



# The worker-side functions below run here, in the test process (where a mutation tester sees
# them), instead of in a spawned worker.
PR_GET_PDEATHSIG = 2  # linux/prctl.h


def _death_signal() -> int:
    signal_number = ctypes.c_int(-1)
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_GET_PDEATHSIG, ctypes.byref(signal_number), 0, 0, 0) == 0
    return signal_number.value


@pytest.fixture
def disarmed():
    """Leaves the test process as it was: no death signal, no worker state."""
    yield
    ctypes.CDLL(None).prctl(local.PR_SET_PDEATHSIG, 0, 0, 0, 0)
    local._worker.clear()


def _record_exit(monkeypatch) -> list[int]:
    """The exit codes os._exit is called with (it returns instead of ending the process, but
    like os._exit refuses a code that is not an integer)."""
    codes: list[int] = []
    monkeypatch.setattr(os, "_exit", lambda code: codes.append(operator.index(code)))
    return codes


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only")
def test_on_linux_the_kernel_kills_a_worker_with_its_runner_and_no_thread_polls(disarmed):
    assert _death_signal() == 0
    threads = threading.active_count()
    local.exit_with_parent()
    assert _death_signal() == signal.SIGKILL
    assert threading.active_count() == threads  # the kernel's promise needs no watcher


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only")
def test_a_worker_whose_runner_died_before_it_armed_the_signal_exits_at_once(disarmed,
                                                                             monkeypatch):
    # The runner that spawned it is gone: the worker was adopted by another process.
    monkeypatch.setattr(multiprocessing, "parent_process",
                        lambda: SimpleNamespace(pid=os.getppid() + 100_000))
    codes = _record_exit(monkeypatch)
    local.exit_with_parent()
    assert codes


def test_where_the_kernel_cannot_be_asked_a_thread_ends_the_worker_within_a_second(
        disarmed, monkeypatch):
    def no_prctl(*args, **kwargs):
        raise OSError("no libc here")

    monkeypatch.setattr(ctypes, "CDLL", no_prctl)
    runner, died, looked, naps = os.getppid(), threading.Event(), threading.Event(), []

    def nap(seconds):  # the runner dies during the first nap, which lasts until we looked
        naps.append(seconds)
        died.set()
        looked.wait(5)

    monkeypatch.setattr(os, "getppid", lambda: 1 if died.is_set() else runner)
    monkeypatch.setattr(time, "sleep", nap)
    codes = _record_exit(monkeypatch)
    before = set(threading.enumerate())
    local.exit_with_parent()
    started = set(threading.enumerate()) - before
    daemons = [thread.daemon for thread in started]
    looked.set()
    for thread in started:  # ended before asserting: a failed test leaves no thread behind
        thread.join(5)
    assert daemons == [True]  # one watcher, which never keeps a finished worker from exiting
    assert codes
    assert naps and max(naps) <= 1.0


def test_a_pool_worker_sets_the_stage_up_once_with_the_runs_settings_and_works_with_them(
        tmp_path, disarmed, monkeypatch):
    monkeypatch.delenv(runlog.LOG_ENV, raising=False)
    config = RealsynConfig(workspace=str(tmp_path))
    workspace = Workspace(str(tmp_path))
    # What a worker sets for good stays in copies: the environment, the progress sink.
    monkeypatch.setattr(os, "environ", {**os.environ})
    monkeypatch.setattr(progress, "_sink", None)
    monkeypatch.setattr(progress, "_every_s", progress.SEND_EVERY_S)
    messages = multiprocessing.get_context("spawn").Queue()
    local._init_worker(worker_probe.WhereStage(2), config, workspace, messages, 0.0)
    assert (tmp_path / "setups" / str(os.getpid())).read_text() == config.executor.kind
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"  # no model loading bars
    shard, stats = local._process_in_worker("00001")
    assert shard == "00001" and stats[RECORDS] == 1
    assert messages.get(timeout=10) == ("00001", 0, None)  # the shard's start, for the driver
    assert workspace.is_done("where", "00001") and not workspace.is_done("where", "00000")
