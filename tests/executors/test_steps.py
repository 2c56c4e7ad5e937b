import os
from pathlib import Path

import numpy as np
import pytest
import slow_stage
import stepped_stage

from realsyn.cli import format_size, format_status
from realsyn.config import RealsynConfig
from realsyn.executors.local import LocalExecutor, StageError
from realsyn.pipeline import UP_TO_DATE, Pipeline
from realsyn.stage import Context, Step
from realsyn.workspace import Workspace

SHARDS, ROWS = 4, 10


def _context(root: Path) -> Context:
    return Context(config=RealsynConfig(workspace=str(root)), workspace=Workspace(str(root)))


def _runs(root: Path) -> list[str]:
    folder = root / "control" / "runs"
    return sorted(name.rsplit("-", 1)[0] for name in os.listdir(folder))


def _sums(root: Path) -> dict[str, bytes]:
    folder = root / "datasets" / "sums"
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.parquet"))}


def _scratch_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in (root / "scratch").rglob("*") if path.is_file())


def _expected_values(rest: int) -> list[int]:
    # shard order, then row order within a shard
    return [v for v in range(SHARDS * ROWS) if v % stepped_stage.PARTITIONS == rest]


@pytest.mark.parametrize("workers", [1, 2])
def test_steps_run_in_order_and_partitions_hold_every_shard(tmp_path, workers):
    slow_stage.make_numbers(Workspace(str(tmp_path)), SHARDS, ROWS)
    stats = LocalExecutor(workers=workers).run(stepped_stage.SteppedSumStage(),
                                               _context(tmp_path))
    table = Workspace(str(tmp_path)).read_dataset("sums")
    assert table.column("rest").to_pylist() == [0, 1, 2]
    for rest, values in enumerate(table.column("values").to_pylist()):
        assert values == _expected_values(rest)
    assert stats["records_in"] == SHARDS * ROWS
    assert stats["partitions_reduced"] == 3
    # the scratch is no output: never staged, and removed once the stage commits
    assert not (tmp_path / "scratch").exists() or not any((tmp_path / "scratch").iterdir())


def test_a_failed_task_resumes_mid_step(tmp_path):
    clean, failed = tmp_path / "clean", tmp_path / "failed"
    for root in (clean, failed):
        slow_stage.make_numbers(Workspace(str(root)), SHARDS, ROWS)
    LocalExecutor(workers=1).run(stepped_stage.SteppedSumStage(), _context(clean))

    Workspace(str(failed)).write_bytes(stepped_stage.FAIL, b"")
    with pytest.raises(StageError, match=r"reduce~00001.*planted failure"):
        LocalExecutor(workers=1).run(stepped_stage.SteppedSumStage(), _context(failed))
    assert not (failed / "datasets" / "sums").exists(), "nothing is committed before the end"
    assert _scratch_bytes(failed) > 0, "an unfinished stage keeps its scratch for the rerun"
    (failed / stepped_stage.FAIL).unlink()
    stats = LocalExecutor(workers=1).run(stepped_stage.SteppedSumStage(), _context(failed))
    assert _scratch_bytes(failed) == 0, "the resumed stage committed: its scratch is gone"

    # split ran once per shard; reduce 00000 once, 00001 twice (failed, then resumed)
    runs = _runs(failed)
    assert [r for r in runs if r.startswith("split")] == [f"split-{i:05d}" for i in range(SHARDS)]
    assert [r for r in runs if r.startswith("reduce")] == [
        "reduce-00000", "reduce-00001", "reduce-00001", "reduce-00002"]
    assert _sums(failed) == _sums(clean)
    assert stats["records_in"] == SHARDS * ROWS


def test_kept_scratch_is_shown_and_the_next_run_removes_it_without_rerunning(tmp_path):
    slow_stage.make_numbers(Workspace(str(tmp_path)), SHARDS, ROWS)
    kept = RealsynConfig(workspace=str(tmp_path), executor={"keep_scratch": True})
    pipeline = Pipeline([stepped_stage.SteppedSumStage()])
    pipeline.run(kept, executor=LocalExecutor(workers=1), report=lambda line: None)
    size = _scratch_bytes(tmp_path)
    assert Workspace(str(tmp_path)).partitions(stepped_stage.BY_REST) == [0, 1, 2] and size > 0
    (item,) = pipeline.status(kept)
    assert item.state == UP_TO_DATE and item.scratch_bytes == size
    assert format_status([item]).splitlines()[-1] == f"scratch in total: {format_size(size)}"

    # What a run killed between the commit and the removal leaves: the next run removes it.
    lines: list[str] = []
    pipeline.run(RealsynConfig(workspace=str(tmp_path)), executor=LocalExecutor(workers=1),
                 report=lines.append)
    assert lines == ["removed the scratch of committed stage stepped_sum",
                     "[stepped_sum] skipped (up to date)"]
    assert _scratch_bytes(tmp_path) == 0 and len(_runs(tmp_path)) == SHARDS + 3  # not rerun


def test_a_new_attempt_starts_without_the_kept_scratch(tmp_path):
    clean, kept = tmp_path / "clean", tmp_path / "kept"
    for root in (clean, kept):
        slow_stage.make_numbers(Workspace(str(root)), SHARDS, ROWS)
    LocalExecutor(workers=1).run(stepped_stage.SteppedSumStage(), _context(clean))
    config = RealsynConfig(workspace=str(kept), executor={"keep_scratch": True})
    stage = stepped_stage.SteppedSumStage()
    LocalExecutor(workers=1).run(stage, Context(config=config, workspace=Workspace(str(kept))))
    assert _sums(kept) == _sums(clean), "kept or not, the outputs are the same"
    # A partition no shard of this data writes: a reduce would plan a task for it.
    stray = Workspace(str(kept))
    numbers = stray.read_table("numbers", "00000")
    stray.write_partitioned(stepped_stage.BY_REST, "stray", numbers,
                            np.full(numbers.num_rows, 7), 8)
    Pipeline([stage]).run(config, executor=LocalExecutor(workers=1), rerun=True,
                          report=lambda line: None)
    assert _sums(kept) == _sums(clean)


def test_partitions_round_trip_and_empty_partition(tmp_path):
    import numpy as np
    import pyarrow as pa

    workspace = Workspace(str(tmp_path))
    table = pa.table({"key": ["a", "b", "c", "d"], "x": [1.0, 2.0, 3.0, 4.0]})
    written = workspace.write_partitioned("scratch/t/parts", "00001", table,
                                          np.array([2, 0, 2, 0]), 4)
    workspace.write_partitioned("scratch/t/parts", "00000", table.slice(0, 1), np.array([2]), 4)
    assert written == [0, 2]
    assert workspace.partitions("scratch/t/parts") == [0, 2]
    assert workspace.read_partition("scratch/t/parts", 2).column("key").to_pylist() == [
        "a", "a", "c"]  # shard 00000 first, then 00001 in row order
    empty = workspace.read_partition("scratch/t/parts", 1, columns=["x"])
    assert empty.num_rows == 0 and empty.schema.names == ["x"]
    with pytest.raises(ValueError, match="partition ids"):
        workspace.write_partitioned("scratch/t/parts", "00002", table, np.array([0, 1, 4, 0]), 4)
    with pytest.raises(FileNotFoundError, match="never written"):
        workspace.read_partition("scratch/t/other", 0)


def test_step_names_must_be_plain():
    with pytest.raises(ValueError, match="step name"):
        Step("a~b", lambda ctx: [], lambda ctx, shard: {})


def test_partitions_for_follows_data_and_budget():
    from realsyn.partitioning import MB, hash_partitions, partitions_for

    assert partitions_for(0, 100, MB) == 1
    assert partitions_for(10_000, 1024, 10 * MB) == 1
    assert partitions_for(100_000, 1024, 10 * MB) == 10
    assert partitions_for(100_001, 1024, 10 * MB) == 10
    assert partitions_for(1_000_000, 1024, 10 * MB) == 98
    ids = hash_partitions([f"k{i}" for i in range(1000)], 7, seed=3)
    assert ids.min() >= 0 and ids.max() == 6
    assert (ids == hash_partitions([f"k{i}" for i in range(1000)], 7, seed=3)).all()


def test_one_worker_pool_serves_every_step(tmp_path):
    slow_stage.make_numbers(Workspace(str(tmp_path)), SHARDS, ROWS)
    LocalExecutor(workers=2).run(stepped_stage.SteppedSumStage(), _context(tmp_path))
    runs = tmp_path / "control" / "runs"
    pids = {path.read_text() for path in runs.iterdir()}
    assert len(list(runs.iterdir())) == SHARDS + 3
    assert len(pids) <= 2 and str(os.getpid()) not in pids  # workers started once, not per step
