"""A small deterministic shard stage for executor tests, slow enough to be killed midway."""

from __future__ import annotations

import os
import re
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc

from realsyn import progress
from realsyn.cli import main
from realsyn.config import RealsynConfig
from realsyn.dataflow.digest import stable_id
from realsyn.executors.local import LocalExecutor
from realsyn.pipeline import STAGES
from realsyn.stage import RECORDS, Context, Stage
from realsyn.workspace import Workspace


class SlowCopyStage(Stage):
    name = "slow_copy"

    def shards(self, ctx: Context) -> list[str]:
        return ctx.workspace.shards("numbers")

    def process(self, ctx: Context, shard: str) -> dict:
        table = ctx.workspace.read_table("numbers", shard)
        keys = [stable_id("n", value) for value in table.column("value").to_pylist()]
        out = table.append_column("key", pa.array(keys)).append_column(
            "square", pc.multiply(table.column("value"), table.column("value")))
        time.sleep(0.3)
        ctx.workspace.write_table("squares", shard, out)
        return {RECORDS: table.num_rows, "odd": sum(v % 2 for v in out.column("value").to_pylist())}


class CountingStage(Stage):
    """Counts its records for the progress lines as it goes, one nap per record: a slow
    model stage in miniature."""

    name = "counting"

    def __init__(self, nap_s: float = 0.2):
        self.nap_s = nap_s

    def shards(self, ctx: Context) -> list[str]:
        return ctx.workspace.shards("numbers")

    def process(self, ctx: Context, shard: str) -> dict:
        table = ctx.workspace.read_table("numbers", shard)
        progress.expect(table.num_rows)
        for _ in range(table.num_rows):
            time.sleep(self.nap_s)
            progress.advance()
        ctx.workspace.write_table("counted", shard, table)
        return {RECORDS: table.num_rows}


# A progress line: "[counting] 0/2 shards, 4/~20 records, ..." (label "counting (ray)" on Ray).
PROGRESS_LINE = re.compile(
    r"\[counting(?: \(ray\))?\] (\d+)/\d+ shards, (\d+)(?:/(~?\d+))? records")


def progress_lines(text: str) -> list[tuple[int, int, str | None]]:
    """(shards done, records done, records expected) of each progress line in `text`."""
    return [(int(match[1]), int(match[2]), match[3])
            for match in map(PROGRESS_LINE.match, text.splitlines()) if match]


class ModelLoadingStage(Stage):
    """Loads a sentence-transformers model in each worker, as the embed stage does (the
    loader draws a "Loading weights" bar unless told not to)."""

    name = "model_loading"

    def shards(self, ctx: Context) -> list[str]:
        return ["00000", "00001"]

    def setup(self, ctx: Context) -> None:
        from realsyn.models.encoders.offline import MiniLMTextEncoder

        self.encoder = MiniLMTextEncoder(torch_cpu())

    def process(self, ctx: Context, shard: str) -> dict:
        return {RECORDS: 1, "dim": self.encoder.dim}


def torch_cpu():
    import torch

    return torch.device("cpu")


class ThreadProbeStage(Stage):
    """Reports the thread pool size torch picks in the worker that runs each shard."""

    name = "thread_probe"

    def shards(self, ctx: Context) -> list[str]:
        return ["00000", "00001"]

    def process(self, ctx: Context, shard: str) -> dict:
        import torch  # imported here, in the worker, as the model stages do

        return {RECORDS: 1, "torch_threads": torch.get_num_threads()}


class BusyStage(Stage):
    """Shards that keep a worker busy for a minute, as model scoring does; each worker first
    records its pid under `busy/`, so a test can see which processes work for the run."""

    name = "busy"

    def shards(self, ctx: Context) -> list[str]:
        return [f"{index:05d}" for index in range(4)]

    def process(self, ctx: Context, shard: str) -> dict:
        ctx.workspace.write_bytes(f"busy/{shard}", str(os.getpid()).encode())
        time.sleep(60)
        return {RECORDS: 1}


class GpuStage(SlowCopyStage):
    """The copy stage on a worker that needs a GPU."""

    name = "gpu_copy"
    num_gpus = 1.0


class DyingOnceStage(SlowCopyStage):
    """The copy stage whose worker process dies on shard 00001 the first time (a lost node)."""

    name = "dying_once"

    def process(self, ctx: Context, shard: str) -> dict:
        if shard == "00001" and not ctx.workspace.exists("died"):
            ctx.workspace.write_bytes("died", str(os.getpid()).encode())
            os._exit(1)
        return super().process(ctx, shard)


class AlwaysDyingStage(SlowCopyStage):
    """The copy stage whose worker process dies on every shard (a cluster losing every node)."""

    name = "always_dying"

    def process(self, ctx: Context, shard: str) -> dict:
        os._exit(1)


class LongShardStage(SlowCopyStage):
    """The copy stage with shards of `seconds` seconds each."""

    name = "long_shard"
    seconds = 6.0

    def process(self, ctx: Context, shard: str) -> dict:
        time.sleep(self.seconds)
        return super().process(ctx, shard)


class FailingSetupStage(SlowCopyStage):
    """The copy stage whose model cannot load in the worker."""

    name = "failing_setup"

    def setup(self, ctx: Context) -> None:
        raise RuntimeError("no model here")


class DyingInSetupOnceStage(SlowCopyStage):
    """The copy stage whose first worker dies while loading its model (its node lost before
    the worker started); the others load normally."""

    name = "dying_in_setup"

    def setup(self, ctx: Context) -> None:
        try:  # exactly one worker creates the marker, and dies
            os.close(os.open(ctx.workspace.path("died"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        os._exit(1)


class PidStage(SlowCopyStage):
    """The copy stage recording the process that ran each shard under `pids/`."""

    name = "pid_copy"

    def process(self, ctx: Context, shard: str) -> dict:
        ctx.workspace.write_bytes(f"pids/{shard}", str(os.getpid()).encode())
        return super().process(ctx, shard)


class NodeProbeStage(Stage):
    """Records the Ray node that ran each shard. A shard waits (up to a minute) until two
    shards have started, so that two workers must be busy at once."""

    name = "node_probe"

    def shards(self, ctx: Context) -> list[str]:
        return [f"{index:05d}" for index in range(4)]

    def process(self, ctx: Context, shard: str) -> dict:
        import ray

        ctx.workspace.write_bytes(f"probe/{shard}", b"")
        deadline = time.monotonic() + 60
        while len(ctx.workspace.list_files("probe")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        return {RECORDS: 1, "node": ray.get_runtime_context().get_node_id()}


class ResourceProbeStage(SlowCopyStage):
    """The copy stage reporting, from its Ray worker, the config it was given (every real
    stage reads it) and the CPUs Ray assigned to the worker."""

    name = "resource_probe"
    num_cpus = 2.0

    def setup(self, ctx: Context) -> None:
        self.workers_seen = ctx.config.executor.workers

    def process(self, ctx: Context, shard: str) -> dict:
        import ray

        assigned = ray.get_runtime_context().get_assigned_resources()
        return {**super().process(ctx, shard), "workers_seen": self.workers_seen,
                "assigned_cpus": assigned.get("CPU", 0.0)}


class FailingShardStage(SlowCopyStage):
    """The copy stage whose shard 00001 raises."""

    name = "failing_shard"

    def process(self, ctx: Context, shard: str) -> dict:
        if shard == "00001":
            raise KeyError("planted")
        return super().process(ctx, shard)


def make_numbers(workspace: Workspace, shards: int, rows: int) -> None:
    for index in range(shards):
        values = list(range(index * rows, (index + 1) * rows))
        workspace.write_table("numbers", f"{index:05d}", pa.table({"value": values}))


def run(root: str, workers: int) -> dict:
    ctx = Context(config=RealsynConfig(workspace=root), workspace=Workspace(root))
    return LocalExecutor(workers=workers).run(SlowCopyStage(), ctx)


if __name__ == "__main__":
    if sys.argv[1] == "cli":  # `realsyn ARGS...` with this module's stages registered
        STAGES["busy"] = "slow_stage:BusyStage"
        sys.argv[1:] = sys.argv[2:]
        main()
    else:
        print(run(sys.argv[1], int(sys.argv[2])))
