"""Each task's own peak RSS goes into its stats (realsyn/memory.py): a worker that runs many
tasks must not report an earlier task's peak for a later one."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from realsyn import memory

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="peak reset is Linux-only")

MIB = 1 << 20


def _touch(mib: int) -> None:
    block = np.ones(mib * MIB // 8)  # written, so resident
    del block  # a large block is unmapped at once


def test_peak_is_the_peak_since_the_last_reset():
    assert memory.reset_peak()
    before = memory.peak_rss_mib()
    _touch(200)
    high = memory.peak_rss_mib()
    assert high >= before + 190
    assert memory.reset_peak()
    assert memory.peak_rss_mib() <= high - 190  # back near the current RSS


def test_a_task_reports_its_own_peak(tmp_path):
    from realsyn.config import parse_config
    from realsyn.executors.base import run_one_shard
    from realsyn.stage import Context, Stage
    from realsyn.workspace import Workspace

    class Allocating(Stage):
        name = "allocating"

        def process(self, ctx, shard):
            _touch(int(shard))
            return {}

    ctx = Context(config=parse_config({"workspace": str(tmp_path)}),
                  workspace=Workspace(str(tmp_path)))
    large = run_one_shard(Allocating(), ctx, "300")["memory"]["peak_rss_mib"]
    small = run_one_shard(Allocating(), ctx, "1")["memory"]["peak_rss_mib"]
    assert large - small >= 250
    stored = ctx.workspace.read_json("stages/allocating/stats/1.json")
    assert stored["memory"]["peak_rss_mib"] == small
    assert "memory" not in ctx.workspace.merge_stats("allocating")  # a peak is not a counter
