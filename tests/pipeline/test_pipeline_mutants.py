"""What `Pipeline` decides (selection, wiring, skipping, forced reruns, status, reports), on
three model-free stages so that each check takes milliseconds."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest
import tiny_stages
from tiny_stages import PIPELINE, Audit, Doubled, Numbers, Total

from realsyn import datasets, drops
from realsyn.config import parse_config
from realsyn.executors.base import MissingInputError, StageError
from realsyn.executors.local import LocalExecutor
from realsyn.pipeline import (
    NOT_RUN,
    STALE,
    UP_TO_DATE,
    Pipeline,
    UnknownStageError,
    WiringError,
    build_stage,
    default_stages,
    load_stage,
    make_executor,
    run_pipeline,
    select_stages,
)
from realsyn.registry import STAGES
from realsyn.stage import RECORDS, Context, Stage, Step, SteppedStage
from realsyn.workspace import Workspace


@pytest.fixture
def config(tmp_path):
    tiny_stages.CALLS.clear()
    return parse_config({"workspace": str(tmp_path / "ws"), "pipeline": PIPELINE,
                         "executor": {"workers": 1}})


def run(config, **options):
    lines: list[str] = []
    results = run_pipeline(config, report=lines.append, **options)
    return results, lines


def run_log_messages(config) -> list[str]:
    """The run logger's messages, from every run's log file in the workspace."""
    logs = Path(Workspace(config.workspace).path("logs"))
    return [line.split(" realsyn.run: ", 1)[1]
            for path in sorted(logs.glob("*.log")) for line in path.read_text().splitlines()
            if " realsyn.run: " in line]


def total(config) -> int:
    return Workspace(config.workspace).read_dataset("total").column("sum").to_pylist()[0]


def test_a_run_goes_through_the_stages_in_order_and_a_second_run_skips_them(config):
    results, lines = run(config)
    assert list(results) == ["numbers", "doubled", "total"]
    assert [line.split("]")[0] + "]" for line in lines[:3]] == [
        "[numbers]", "[doubled]", "[total]"]
    assert total(config) == 2 * (0 + 1 + 2 + 3)
    assert results["numbers"]["records_in"] == 4
    assert Workspace(config.workspace).exists("config.yaml")
    results, lines = run(config)
    assert results == {}
    assert lines == [f"[{name}] skipped (up to date)" for name in ("numbers", "doubled", "total")]
    assert tiny_stages.CALLS == {"numbers": 1, "doubled": 1, "total": 1}


def test_closing_reports_follow_the_stages_once_per_kind(tmp_path):
    again = Doubled(source="doubled", output="quadrupled")
    again.name = "quadrupled"
    pipeline = Pipeline([Numbers(), Doubled(), again])
    config = parse_config({"workspace": str(tmp_path / "ws"), "executor": {"workers": 1}})
    lines: list[str] = []
    pipeline.run(config, executor=LocalExecutor(), report=lines.append)
    # Doubled's report comes once, from the latest stage of that kind.
    assert lines[1].startswith("[doubled] (") and lines[1].endswith(") 4 rows")
    assert lines[3:] == ["numbers are ready: 4 rows", "quadrupled closing"]


def test_select_cuts_by_config_only_and_start_in_pipeline_order(config):
    assert select_stages(config) == ["numbers", "doubled", "total"]
    assert select_stages(config, only=["total", "numbers"]) == ["numbers", "total"]
    assert select_stages(config, start="doubled") == ["doubled", "total"]
    assert select_stages(config, only=["numbers", "total"], start="doubled") == ["total"]
    chosen = config.model_copy(update={"stages": ["total", "doubled"]})
    assert select_stages(chosen) == ["doubled", "total"]
    assert select_stages(chosen, start="numbers") == ["doubled", "total"]


@pytest.mark.parametrize("options", [{"only": ["nope"]}, {"start": "nope"}])
def test_unknown_selected_stage_is_named(config, options):
    with pytest.raises(UnknownStageError, match="unknown stage 'nope'; known stages: "
                                                "numbers, doubled, total"):
        select_stages(config, **options)
    with pytest.raises(UnknownStageError, match="'nope'"):
        select_stages(config.model_copy(update={"stages": ["nope"]}))


def test_only_runs_just_that_stage_and_start_runs_from_it(config):
    run(config)
    results, _ = run(config, only=["doubled"], rerun=True)
    assert list(results) == ["doubled"]
    results, _ = run(config, start="doubled", rerun=True)
    assert list(results) == ["doubled", "total"]
    assert tiny_stages.CALLS == {"numbers": 1, "doubled": 3, "total": 2}


def test_rerun_resets_only_the_selected_stages_and_makes_later_ones_stale(config):
    run(config)
    run(config, only=["doubled"], rerun=True)
    assert tiny_stages.CALLS["doubled"] == 2
    states = {item.name: item for item in Pipeline.from_config(config).status(config)}
    assert [states[name].state for name in ("numbers", "doubled", "total")] == [
        UP_TO_DATE, UP_TO_DATE, STALE]
    results, _ = run(config)
    assert list(results) == ["total"]


def test_without_rerun_an_up_to_date_selected_stage_is_skipped(config):
    run(config)
    results, lines = run(config, only=["doubled"])
    assert results == {}
    assert lines == ["[doubled] skipped (up to date)"]


def test_status_before_and_after_runs_and_after_a_change(config, tmp_path):
    pipeline = Pipeline.from_config(config)
    before = pipeline.status(config)
    assert [(item.name, item.state, item.shards_done) for item in before] == [
        ("numbers", NOT_RUN, 0), ("doubled", NOT_RUN, 0), ("total", NOT_RUN, 0)]
    run(config)
    after = pipeline.status(config)
    assert [(item.state, item.shards_done, item.shards_total) for item in after] == [
        (UP_TO_DATE, 1, 1), (UP_TO_DATE, 1, 1), (UP_TO_DATE, 1, 1)]
    assert (after[0].records_in, after[0].records_out) == (4, 4)
    assert all(item.reasons == [] and item.wall_s is not None for item in after)
    five = config.pipeline[0].model_copy(update={"config": {"count": 5}})
    changed = config.model_copy(update={"pipeline": [five, *config.pipeline[1:]]})
    status = Pipeline.from_config(changed).status(changed)
    assert [item.state for item in status] == [STALE, STALE, STALE]
    assert status[0].reasons and not any(r.startswith("upstream") for r in status[0].reasons)
    assert status[1].reasons == ["upstream numbers is stale or not run"]
    assert status[2].reasons == ["upstream doubled is stale or not run"]
    results, _ = run(changed)
    assert list(results) == ["numbers", "doubled", "total"]
    assert total(changed) == 2 * (0 + 1 + 2 + 3 + 4)


def test_a_reader_of_a_folder_without_commit_marker_is_stale_once_its_writer_will_run(
        tmp_path):
    # A folder put in place by hand has no commit marker, so its reader ran with no input
    # identity; the writer's run will commit it, so the reader must not read as up to date.
    config = parse_config({"workspace": str(tmp_path / "ws"), "executor": {"workers": 1}})
    Workspace(config.workspace).write_table("doubled", "00000", pa.table({"n": [2, 4]}))
    Pipeline([Total()]).run(config, executor=LocalExecutor(), report=print)
    assert [item.state for item in Pipeline([Total()]).status(config)] == [UP_TO_DATE]
    status = Pipeline([Numbers(), Doubled(), Total()]).status(config)
    assert [item.state for item in status] == [NOT_RUN, NOT_RUN, STALE]
    assert status[2].reasons == ["upstream doubled is stale or not run"]


def test_config_is_written_only_when_every_stage_matches_it(config):
    run(config, only=["numbers"])
    workspace = Workspace(config.workspace)
    assert not workspace.exists("config.yaml")
    run(config)
    assert workspace.exists("config.yaml")


def test_wiring_is_checked_against_earlier_stages_and_the_workspace(tmp_path):
    config = parse_config({"workspace": str(tmp_path / "ws"), "executor": {"workers": 1}})
    workspace = Workspace(config.workspace)
    with pytest.raises(WiringError, match="stage 'total' reads datasets/doubled"):
        Pipeline([Numbers(), Total(), Doubled()]).check_wiring(config, workspace)
    Pipeline([Numbers(), Doubled(), Total()]).check_wiring(config, workspace)
    Pipeline([Numbers(), Doubled()]).run(config, executor=LocalExecutor(), report=print)
    Pipeline([Total()]).check_wiring(config, workspace)  # the workspace has its input
    # a location the config sets (Total writes where `write.output` says)
    Pipeline([Numbers(), Doubled(), Total(), Audit()]).check_wiring(config, workspace)
    with pytest.raises(WiringError, match="stage 'audit' reads datasets/total"):
        Pipeline([Numbers(), Audit()]).check_wiring(config, workspace)
    moved = config.model_copy(update={"write": config.write.model_copy(
        update={"output": "datasets/moved"})})
    assert Pipeline([Total()]).producers(moved) == {"datasets/moved": "total"}
    assert [item.state for item in Pipeline([Total(), Audit()]).status(moved)] == [
        NOT_RUN, NOT_RUN]


def test_later_stages_run_on_inputs_already_in_the_workspace(tmp_path):
    config = parse_config({"workspace": str(tmp_path / "ws"), "executor": {"workers": 1}})
    Pipeline([Numbers(), Doubled()]).run(config, executor=LocalExecutor(), report=print)
    results = Pipeline([Total()]).run(config, executor=LocalExecutor(), report=print)
    assert list(results) == ["total"]


def test_a_selected_stage_whose_input_was_never_made_names_the_stage_to_run(config):
    with pytest.raises(MissingInputError, match="run stage 'doubled' first"):
        run(config, only=["total"])


def test_a_run_without_rerun_keeps_finished_stages_and_logs_every_decision(config):
    pipeline = Pipeline.from_config(config)
    pipeline.run(config, report=print)
    pipeline.run(config, only=["doubled"], report=print)  # rerun left at its default
    assert tiny_stages.CALLS == {"numbers": 1, "doubled": 1, "total": 1}
    messages = run_log_messages(config)
    assert "stage numbers started (0 shards already done)" in messages
    assert any(m.startswith("stage doubled finished in ") and m.endswith(" s: 4 rows")
               for m in messages)
    assert "stage doubled skipped (up to date)" in messages


def test_a_stage_with_its_own_change_and_a_stale_input_gives_both_reasons(config):
    run(config)
    five = config.pipeline[0].model_copy(update={"config": {"count": 5}})
    triple = config.pipeline[1].model_copy(update={"args": {"factor": 3}})
    changed = config.model_copy(update={"pipeline": [five, triple, *config.pipeline[2:]]})
    doubled = Pipeline.from_config(changed).status(changed)[1]
    assert doubled.reasons == ["upstream numbers is stale or not run", "(stage).factor: 2 -> 3"]


def test_repeated_stage_names_are_refused():
    with pytest.raises(WiringError, match=r"repeated: doubled, numbers$"):
        Pipeline([Numbers(), Doubled(), Numbers(), Doubled(), Total()])


def test_leftover_temporaries_are_removed_and_reported(config):
    run(config)
    workspace = Workspace(config.workspace)
    workspace.fs.makedirs(workspace.path("datasets/total"), exist_ok=True)
    with workspace.fs.open(workspace.path("datasets/total/.tmp-x-all.parquet"), "wb") as handle:
        handle.write(b"half")
    _, lines = run(config)
    assert lines[0] == "removed 1 temporary files of an interrupted run"


def test_stages_are_built_from_names_and_specs(config):
    assert [stage.name for stage in default_stages()] == list(STAGES)
    known = re.escape(f"unknown stage 'nope'; known stages: {', '.join(STAGES)}")
    with pytest.raises(UnknownStageError, match=f"^{known}$"):
        load_stage("nope")
    spec = config.pipeline[1].model_copy(update={"name": "twice", "args": {"output": "x2"}})
    stage = build_stage(spec)
    assert (type(stage), stage.name, stage.output) == (Doubled, "twice", "x2")
    assert build_stage(config.pipeline[0]).name == "numbers"
    builtin = build_stage(spec.model_copy(update={"stage": "balance", "name": None,
                                                  "args": {}}))
    assert builtin.name == "balance"
    writer = build_stage(spec.model_copy(update={"stage": "write", "name": None,
                                                 "args": {"balanced": "mine"}}))
    assert (writer.name, writer.balanced) == ("write", "mine")


def test_the_executor_follows_the_config(config):
    executor = make_executor(config.model_copy(update={
        "executor": config.executor.model_copy(update={"workers": 3})}))
    assert (type(executor), executor.workers) == (LocalExecutor, 3)
    ray = make_executor(config.model_copy(update={
        "executor": config.executor.model_copy(update={"kind": "ray", "workers": 2,
                                                       "ray_address": "auto"})}))
    assert (type(ray).__name__, ray.workers, ray.address) == ("RayExecutor", 2, "auto")
    patient = make_executor(config.model_copy(update={
        "executor": config.executor.model_copy(update={"kind": "ray",
                                                       "placement_timeout_s": 7.5})}))
    assert patient.placement_timeout_s == 7.5  # not the executor's own default


# ------------------------------------------------------------------ drops, steps, scratch
class Evens(Stage):
    """Keeps the even numbers and counts the odd ones as dropped (half of 0..3)."""

    name = "evens"

    def reads(self, config):
        return [datasets.dataset("numbers")]

    def writes(self, config):
        return [datasets.dataset("evens")]

    def process(self, ctx: Context, shard: str) -> dict:
        values = ctx.workspace.read_dataset("numbers").column("n").to_pylist()
        kept = [value for value in values if value % 2 == 0]
        ctx.workspace.write_table("evens", "all", pa.table({"n": kept}))
        return {RECORDS: len(values), "dropped_odd": len(values) - len(kept)}


def test_a_heavy_drop_is_reported_logged_and_stored_under_its_stage(tmp_path):
    config = parse_config({"workspace": str(tmp_path / "ws"), "executor": {"workers": 1},
                           "warn_drop_share": 0.4})
    lines: list[str] = []
    Pipeline([Numbers(), Evens()]).run(config, executor=LocalExecutor(), report=lines.append)
    warning = ("warning: evens dropped 2 of 4 (50%) as odd, more than warn_drop_share=0.4; "
               "decided by the data, not by a setting")
    assert lines[2] == warning  # right after the stage's own line
    assert warning in run_log_messages(config)
    stored = Workspace(config.workspace).read_json(drops.DROP_WARNINGS)
    assert list(stored) == ["evens"] and stored["evens"][0]["line"] == warning


class Scratched(SteppedStage):
    """One step that leaves a scratch file next to its output. Its plan reads the config: with
    more than one worker it cannot be made (a plain error, not a wiring one)."""

    name = "scratched"

    def reads(self, config):
        return [datasets.dataset("numbers")]

    def writes(self, config):
        return [datasets.dataset("copied")]

    def steps(self, config):
        if config.executor.workers > 1:
            raise ValueError(f"one worker only, not {config.executor.workers}")
        return [Step("copy", self.copy_shards, self.copy, writes=("notes",))]

    def copy_shards(self, ctx: Context) -> list[str]:
        return ["all"]

    def copy(self, ctx: Context, shard: str) -> dict:
        table = ctx.workspace.read_dataset("numbers")
        ctx.workspace.write_bytes(ctx.scratch_write("notes", "all.txt"), b"notes of the copy")
        ctx.workspace.write_table("copied", shard, table)
        return {RECORDS: table.num_rows}


def test_a_step_plan_that_fails_names_its_stage_and_the_planning(tmp_path):
    tiny_stages.CALLS.clear()
    config = parse_config({"workspace": str(tmp_path / "ws"), "executor": {"workers": 2}})
    pipeline = Pipeline([Numbers(), Scratched()])
    message = re.escape("stage 'scratched' failed on shard '(planning)': ValueError: one "
                        "worker only, not 2")
    with pytest.raises(StageError, match=f"^{message}$"):
        pipeline.check_wiring(config, Workspace(config.workspace))
    with pytest.raises(StageError, match=f"^{message}$"):
        pipeline.run(config, executor=LocalExecutor(workers=1), report=lambda line: None)
    assert tiny_stages.CALLS == {}  # refused before any stage ran


def test_status_shows_the_bytes_of_kept_scratch_and_a_later_run_removes_it(tmp_path):
    config = parse_config({"workspace": str(tmp_path / "ws"),
                           "executor": {"workers": 1, "keep_scratch": True}})
    pipeline = Pipeline([Numbers(), Scratched()])
    pipeline.run(config, executor=LocalExecutor(), report=lambda line: None)
    sizes = {item.name: item.scratch_bytes for item in pipeline.status(config)}
    assert sizes == {"numbers": 0, "scratched": len(b"notes of the copy")}
    # the next run without keep_scratch removes the committed stage's scratch, and says so
    config = config.model_copy(update={
        "executor": config.executor.model_copy(update={"keep_scratch": False})})
    lines: list[str] = []
    pipeline.run(config, executor=LocalExecutor(), report=lines.append)
    assert lines[0] == "removed the scratch of committed stage scratched"
    assert [item.scratch_bytes for item in pipeline.status(config)] == [0, 0]
