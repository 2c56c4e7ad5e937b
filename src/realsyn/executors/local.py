"""Run a stage's shards with a local process pool, resumably."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from realsyn.config import RealsynConfig
from realsyn.progress import progress_bar
from realsyn.stage import RECORDS, Context, Stage
from realsyn.workspace import Workspace


class StageError(RuntimeError):
    """A shard of a stage failed; finished shards keep their markers, so a rerun resumes."""


def run_one_shard(stage: Stage, ctx: Context, shard: str) -> dict[str, Any]:
    stats = stage.process(ctx, shard)
    ctx.workspace.mark_done(stage.name, shard, stats)
    return stats


def guarded(stage: Stage, shard: str, call):
    """Run `call`, turning any error into a StageError that names the stage and shard."""
    try:
        return call()
    except Exception as error:
        raise StageError(f"stage {stage.name!r} failed on shard {shard!r}: "
                         f"{type(error).__name__}: {error}") from error


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


# Per-worker state of the process pool: built once by the initializer.
_worker: dict[str, Any] = {}


def _init_worker(stage: Stage, config: RealsynConfig, workspace_url: str) -> None:
    ctx = Context(config=config, workspace=Workspace(workspace_url))
    stage.setup(ctx)
    _worker.update(stage=stage, ctx=ctx)


def _process_in_worker(shard: str) -> tuple[str, dict[str, Any]]:
    return shard, run_one_shard(_worker["stage"], _worker["ctx"], shard)


class LocalExecutor:
    """Maps `stage.process` over unfinished shards.

    With one worker (or one pending shard) everything runs in this process; otherwise a
    process pool (spawned, so model libraries never inherit forked threads) where each worker
    calls `stage.setup` once.
    """

    def __init__(self, workers: int = 1):
        self.workers = workers

    def run(self, stage: Stage, ctx: Context) -> dict[str, Any]:
        workspace = ctx.workspace
        shards = guarded(stage, "(planning)", lambda: stage.shards(ctx))
        pending = [shard for shard in shards if not workspace.is_done(stage.name, shard)]
        bar = progress_bar(len(shards), len(shards) - len(pending), stage.name)
        records = 0

        def advance(stats: dict[str, Any]) -> None:
            nonlocal records
            records += int(stats.get(RECORDS, 0))
            bar.update(1)
            bar.set_postfix(records=records)

        try:
            if self.workers == 1 or len(pending) <= 1:
                if pending:
                    stage.setup(ctx)
                for shard in pending:
                    advance(guarded(stage, shard, lambda s=shard: run_one_shard(
                        stage, ctx, s)))
            else:
                self._run_pool(stage, ctx, pending, advance)
        finally:
            bar.close()
        merged = workspace.merge_stats(stage.name)
        stage.finalize(ctx, merged)
        return merged

    def _run_pool(self, stage: Stage, ctx: Context, pending: list[str], advance) -> None:
        spawn = multiprocessing.get_context("spawn")
        workers = min(self.workers, len(pending))
        with worker_thread_limits(workers), ProcessPoolExecutor(
                workers, mp_context=spawn, initializer=_init_worker,
                initargs=(stage, ctx.config, ctx.workspace.url)) as pool:
            futures = {pool.submit(_process_in_worker, shard): shard for shard in pending}
            remaining = set(futures)
            while remaining:
                done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for future in done:
                    shard = futures[future]
                    _, stats = guarded(stage, shard, future.result)
                    advance(stats)

