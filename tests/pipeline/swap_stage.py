"""A tiny stage with two outputs (a dataset and a folder of files), to kill during the swap
of its outputs. Run as a script: `swap_stage.py ROOT SHARDS KILL_AFTER_SWAPS EXCHANGE`."""

from __future__ import annotations

import os
import posixpath
import signal
import sys

import fsspec
import pyarrow as pa

from realsyn import commit, datasets
from realsyn.config import RealsynConfig
from realsyn.executors.local import LocalExecutor
from realsyn.stage import RECORDS, Context, Stage
from realsyn.workspace import Workspace


class NumbersStage(Stage):
    name = "numbers"
    config_paths = ("executor.shard_size",)  # the number of shards, for these tests

    def writes(self, config) -> list[str]:
        return [datasets.dataset("numbers"), "listing"]

    def shards(self, ctx: Context) -> list[str]:
        return [f"{i:05d}" for i in range(ctx.config.executor.shard_size)]

    def process(self, ctx: Context, shard: str) -> dict:
        count = ctx.config.executor.shard_size
        ctx.workspace.write_table("numbers", shard, pa.table({"of": [count] * 3}))
        folder = ctx.workspace.staged_url(posixpath.join(ctx.workspace.url, "listing"))
        fs, path = fsspec.core.url_to_fs(folder)
        fs.makedirs(path, exist_ok=True)
        with fs.open(posixpath.join(path, f"{shard}.txt"), "w") as handle:
            handle.write(str(count))
        return {RECORDS: 3}


def run(root: str, shards: int) -> dict:
    config = RealsynConfig(workspace=root, executor={"shard_size": shards})
    return LocalExecutor(1).run(NumbersStage(), Context(config, Workspace(root)))


def kill_after(swaps: int, exchange: bool) -> None:
    """SIGKILL this process once `swaps` output folders have been swapped into place."""
    done = 0
    swap, real_exchange = commit._swap, commit._exchange

    def counting_swap(fs, staged, final):
        nonlocal done
        if done == swaps:
            os.kill(os.getpid(), signal.SIGKILL)
        swap(fs, staged, final)
        done += 1

    commit._swap = counting_swap
    commit._exchange = real_exchange if exchange else (lambda first, second: False)
    real_write_json = Workspace.write_json

    def write_json(self, relpath, obj):  # the state written after the last swap
        if relpath.endswith("state.json") and done == swaps:
            os.kill(os.getpid(), signal.SIGKILL)
        real_write_json(self, relpath, obj)

    Workspace.write_json = write_json


if __name__ == "__main__":
    root, shards, swaps, exchange = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        sys.argv[4] == "1"
    kill_after(swaps, exchange)
    run(root, shards)
