"""A stage whose shards report the process and thread budget they ran with, and a runner
whose worker outlives it, for the local executor's mutant tests (imported by the processes
they start, too)."""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from pathlib import Path

import stepped_stage

from realsyn.executors import local
from realsyn.stage import RECORDS, Context, Stage

# Set by a test in the runner: a worker that starts fresh (spawned) never sees it.
RUNNER_STATE = {"set": 0}


class WhereStage(Stage):
    name = "where"

    def __init__(self, shards: int, failing: str | None = None):
        self.count, self.failing = shards, failing

    def setup(self, ctx: Context) -> None:
        # as a model stage would: settings from the config, files through the workspace
        ctx.workspace.write_bytes(f"setups/{os.getpid()}", ctx.config.executor.kind.encode())

    def shards(self, ctx: Context) -> list[str]:
        return [f"{index:05d}" for index in range(self.count)]

    def process(self, ctx: Context, shard: str) -> dict:
        if shard == self.failing:
            raise ValueError("planted failure")
        ctx.workspace.write_bytes(f"pids/{shard}", str(os.getpid()).encode())
        return {RECORDS: 1, "omp_threads": int(os.environ.get("OMP_NUM_THREADS", "0")),
                "inherited": RUNNER_STATE["set"]}


class SteppedThreadsStage(stepped_stage.SteppedSumStage):
    """The stage of steps, its second step reporting the thread budget its task ran with."""

    def reduce(self, ctx: Context, shard: str) -> dict:
        return {**super().reduce(ctx, shard),
                "omp_threads": int(os.environ.get("OMP_NUM_THREADS", "0"))}


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie nobody has reaped yet."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _orphan(pid_file: str) -> None:
    sys.platform = "darwin"  # no prctl: the fallback, a thread watching the parent pid
    local.exit_with_parent(poll_s=0.05)
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(60)


if __name__ == "__main__":  # start a worker, then wait to be killed
    worker = multiprocessing.get_context("spawn").Process(target=_orphan, args=(sys.argv[1],))
    worker.start()
    worker.join()


class WaitingStage(Stage):
    """Shard 00000 ends at once; 00001 waits (up to `wait_s`) for the file `go`, which the
    test writes when the runner reports 00000 done, and says whether it came in time."""

    name = "waiting"

    def __init__(self, wait_s: float):
        self.wait_s = wait_s

    def shards(self, ctx: Context) -> list[str]:
        return ["00000", "00001"]

    def process(self, ctx: Context, shard: str) -> dict:
        if shard == "00000":
            return {RECORDS: 1, "shard": 0}
        deadline = time.monotonic() + self.wait_s
        while not ctx.workspace.exists("go") and time.monotonic() < deadline:
            time.sleep(0.05)
        return {RECORDS: 1, "shard": 1, "saw_go": int(ctx.workspace.exists("go"))}
