"""Run a stage's shards with a local process pool, resumably."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from queue import Empty
from typing import Any

from realsyn import progress, runlog
from realsyn.config import RealsynConfig
from realsyn.executors.base import Executor, StageError, guarded, run_one_shard
from realsyn.stage import Context, Stage, SteppedStage
from realsyn.workspace import Workspace

# Thread pools of the numeric libraries (OpenMP: torch, faiss; OpenBLAS/MKL: numpy). Each
# sizes itself to every core by default, so N workers would run N x cores threads.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    return max(1, (cores or os.cpu_count() or 1) // max(1, workers))


@contextmanager
def worker_thread_limits(workers: int) -> Iterator[None]:
    """Share the cores among spawned workers: children inherit these variables and the
    libraries read them when first imported. If the user set any of them, all are left
    alone (torch, for one, reads both OMP_NUM_THREADS and MKL_NUM_THREADS)."""
    threads = str(threads_per_worker(workers))
    user_set = any(name in os.environ for name in THREAD_VARIABLES)
    added = [] if user_set else list(THREAD_VARIABLES)
    os.environ.update({name: threads for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def exit_with_parent(poll_s: float = 1.0) -> None:
    """Make this worker die when the process that started it dies, however it dies (SIGKILL,
    OOM killer, a scheduler's timeout), so that no orphan keeps working for a dead run.

    Linux: the kernel sends SIGKILL on the parent's death (prctl PR_SET_PDEATHSIG). Elsewhere,
    or if prctl fails: a daemon thread polls the parent pid."""
    parent = multiprocessing.parent_process()
    parent_pid = parent.pid if parent is not None else os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent_pid:  # the parent died before prctl took effect
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(1)  # from any thread: the whole process, no cleanup

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


# Per-worker state of the process pool: built once by the initializer.
_worker: dict[str, Any] = {}


def _init_worker(stage: Stage, config: RealsynConfig, workspace: Workspace,
                 messages: multiprocessing.Queue, send_every_s: float) -> None:
    exit_with_parent()
    runlog.attach_worker()
    progress.silence_library_bars()
    # A worker never waits for the driver to read its progress, not even when exiting.
    messages.cancel_join_thread()
    progress.set_sink(lambda *message: messages.put(message), send_every_s)
    ctx = Context(config=config, workspace=workspace)
    stage.setup(ctx)
    _worker.update(stage=stage, ctx=ctx)


def _process_in_worker(shard: str) -> tuple[str, dict[str, Any]]:
    return shard, run_one_shard(_worker["stage"], _worker["ctx"], shard)


class LocalExecutor(Executor):
    """Hands out unfinished shards to a local process pool.

    With one worker (or one pending shard) everything runs in this process; otherwise a
    process pool (spawned, so model libraries never inherit forked threads) where each worker
    calls `stage.setup` once.
    """

    def __init__(self, workers: int = 1):
        self.workers = workers
        # The pool of the running stage, kept across its steps (starting workers costs
        # seconds), with the queue its workers send their record counts to; shut down by
        # `release`.
        self._pool: tuple[Stage, ProcessPoolExecutor, ExitStack,
                          multiprocessing.Queue] | None = None

    def map_shards(self, stage: Stage, ctx: Context, pending: list[str],
                   tracker: progress.StageProgress) -> None:
        if self.workers == 1 or len(pending) <= 1:
            with progress.sending_to(tracker.update):
                stage.setup(ctx)
                for shard in pending:
                    tracker.finish(shard, guarded(
                        stage, shard, lambda s=shard: run_one_shard(stage, ctx, s)))
        else:
            self._run_pool(stage, ctx, pending, tracker)

    def _run_pool(self, stage: Stage, ctx: Context, pending: list[str],
                  tracker: progress.StageProgress) -> None:
        pool, messages = self._pool_for(stage.pooled(), ctx, len(pending))
        futures = {pool.submit(_process_in_worker, shard): shard for shard in pending}
        remaining = set(futures)
        with progress.relayed(lambda timeout: _received(messages, timeout), tracker.update):
            while remaining:
                done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for future in done:
                    shard = futures[future]
                    _, stats = guarded(stage, shard, future.result)
                    tracker.finish(shard, stats)

    def _pool_for(self, stage: Stage, ctx: Context,
                  tasks: int) -> tuple[ProcessPoolExecutor, multiprocessing.Queue]:
        """The kept pool if it serves `stage` (a step of the same stage), else a new one: as
        many workers as tasks for a plain stage, all of them for a stage of steps."""
        if self._pool is not None and self._pool[0] is stage:
            return self._pool[1], self._pool[3]
        self.release()
        workers = self.workers if isinstance(stage, SteppedStage) else min(self.workers, tasks)
        context = multiprocessing.get_context("spawn")
        messages = context.Queue()
        resources = ExitStack()
        resources.callback(messages.close)  # after the pool: no worker writes to it any more
        resources.enter_context(worker_thread_limits(workers))  # while workers may start
        pool = resources.enter_context(ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker,
            initargs=(stage, ctx.config, ctx.workspace, messages, progress.send_every())))
        self._pool = (stage, pool, resources, messages)
        return pool, messages

    def release(self) -> None:
        if self._pool is not None:
            resources = self._pool[2]
            self._pool = None
            resources.close()


def _received(messages: multiprocessing.Queue, timeout: float) -> list[tuple]:
    """The next message of a worker pool's progress queue, if one comes within `timeout`."""
    try:
        return [messages.get(timeout=timeout)]
    except Empty:
        return []


__all__ = ["LocalExecutor", "StageError", "guarded", "run_one_shard", "threads_per_worker"]
