"""A small stage made of two steps (partition by key, then one task per partition), for the
executor tests; imported by the tests and by the workers they start."""

from __future__ import annotations

import os
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from realsyn.config import RealsynConfig
from realsyn.stage import RECORDS, Context, Step, SteppedStage

PARTITIONS = 3
BY_REST = "scratch/stepped_sum/by_rest"  # where the steps' scratch dataset "by_rest" lives
FAIL = "control/fail_reduce"  # while this file exists, the task of partition 1 fails


class SteppedSumStage(SteppedStage):
    name = "stepped_sum"

    def reads(self, config: RealsynConfig) -> list[str]:
        return ["datasets/numbers"]

    def writes(self, config: RealsynConfig) -> list[str]:
        return ["datasets/sums"]

    def steps(self, config: RealsynConfig) -> list[Step]:
        return [Step("split", self.split_shards, self.split, writes=("by_rest",)),
                Step("reduce", self.reduce_shards, self.reduce, reads=("by_rest",))]

    def split_shards(self, ctx: Context) -> list[str]:
        return ctx.workspace.shards("numbers")

    def split(self, ctx: Context, shard: str) -> dict:
        record_run(ctx, "split", shard)
        table = ctx.workspace.read_table("numbers", shard)
        rests = np.asarray(table.column("value")) % PARTITIONS
        ctx.workspace.write_partitioned(ctx.scratch_write("by_rest"), shard, table, rests,
                                        PARTITIONS)
        return {RECORDS: table.num_rows}

    def reduce_shards(self, ctx: Context) -> list[str]:
        return [f"{p:05d}" for p in ctx.workspace.partitions(ctx.scratch_read("by_rest"))]

    def reduce(self, ctx: Context, shard: str) -> dict:
        record_run(ctx, "reduce", shard)
        if shard == "00001" and ctx.workspace.committed.exists(FAIL):
            raise RuntimeError("planted failure")
        values = ctx.workspace.read_partition(ctx.scratch_read("by_rest"), int(shard))
        values = values.column("value")
        ctx.workspace.write_table("sums", shard, pa.table({
            "rest": [int(shard)], "total": [pc.sum(values).as_py()],
            "values": [values.to_pylist()]}))
        return {"partitions_reduced": 1}


class RedeclaredSumStage(SteppedSumStage):
    """The same steps with other scratch declarations (the wiring tests); picklable, so that a
    worker pool runs it too."""

    def __init__(self, split_writes: tuple[str, ...] = ("by_rest",),
                 reduce_reads: tuple[str, ...] = ("by_rest",),
                 reversed_steps: bool = False) -> None:
        self.split_writes, self.reduce_reads = split_writes, reduce_reads
        self.reversed_steps = reversed_steps

    def steps(self, config: RealsynConfig) -> list[Step]:
        steps = [Step("split", self.split_shards, self.split, writes=self.split_writes),
                 Step("reduce", self.reduce_shards, self.reduce, reads=self.reduce_reads)]
        return steps[::-1] if self.reversed_steps else steps


def record_run(ctx: Context, step: str, shard: str) -> None:
    """One file per task run (outside the stage's outputs), so a test counts reruns."""
    ctx.workspace.committed.write_bytes(f"control/runs/{step}-{shard}-{uuid.uuid4().hex}",
                                        str(os.getpid()).encode())
