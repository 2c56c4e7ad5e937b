"""What every executor does around a stage's shards: refuse missing inputs, name a failing
shard, record each shard's stats, resume, skip a committed stage, start over when its settings
change, report progress, and count every task of a stage of steps; ask every declaration
with the run's config, check a stage's steps first, and clean a resumed stage's scratch."""

from __future__ import annotations

import re
import time
from pathlib import PurePosixPath

import pyarrow as pa
import pytest
import slow_stage
import stepped_stage

from realsyn import progress as progress_module
from realsyn.config import RealsynConfig
from realsyn.embed.stage import EmbedStage
from realsyn.executors.base import (
    TASK_MEMORY,
    WALL,
    Executor,
    MissingInputError,
    StageError,
    guarded,
    input_fingerprint,
    run_one_shard,
    scratch_bytes,
    stage_fingerprint,
)
from realsyn.executors.local import LocalExecutor
from realsyn.fingerprint import Fingerprint, config_values
from realsyn.stage import RECORDS, Context, Stage, WiringError
from realsyn.workspace import Workspace

SHARDS = 3


class Doubler(Stage):
    """Doubles every number shard; remembers which shards it processed (in this process)."""

    name = "doubler"
    config_paths = ("executor.shard_size",)

    def __init__(self, failing: str | None = None, nap_s: float = 0.0):
        self.failing, self.nap_s, self.processed = failing, nap_s, []

    def reads(self, config):
        return ["datasets/numbers"]

    def writes(self, config):
        return ["datasets/doubled"]

    def fingerprint_extra(self, config):
        # a tuple, a value JSON cannot hold, and a setting read from the config
        return {"factor": (2, "x"), "root": PurePosixPath("/data"),
                "rows": config.executor.shard_size // 10}

    def shards(self, ctx):
        return ctx.workspace.shards("numbers")

    def process(self, ctx, shard):
        self.processed.append(shard)
        time.sleep(self.nap_s)
        if shard == self.failing:
            raise ValueError("planted failure")
        values = ctx.workspace.read_table("numbers", shard).column("value").to_pylist()
        ctx.workspace.write_table("doubled", shard, pa.table({"value": [2 * v for v in values]}))
        return {RECORDS: len(values), "doubled": len(values)}

    def finalize(self, ctx, stats):
        # once, with every shard's stats merged, written with the outputs
        ctx.workspace.write_json("datasets/doubled/summary.json", {"doubled": stats["doubled"]})


class LabelledExecutor(LocalExecutor):
    label = "probe"


def _ctx(root, shard_size: int = 1000) -> Context:
    config = RealsynConfig(workspace=str(root))
    config.executor.shard_size = shard_size
    return Context(config=config, workspace=Workspace(str(root)))


@pytest.fixture
def ctx(tmp_path) -> Context:
    context = _ctx(tmp_path)
    slow_stage.make_numbers(context.workspace, SHARDS, 2)
    return context


def test_a_failing_call_becomes_a_stage_error_naming_stage_and_shard():
    stage = Doubler()
    assert guarded(stage, "00001", lambda: 7) == 7
    error = ValueError("bad value")

    def fail():
        raise error

    with pytest.raises(StageError) as raised:
        guarded(stage, "00001", fail)
    assert str(raised.value) == "stage 'doubler' failed on shard '00001': ValueError: bad value"
    assert raised.value.__cause__ is error


def test_one_shard_stores_its_stats_and_wall_time_before_its_marker(ctx):
    started = time.perf_counter()
    stats = run_one_shard(Doubler(nap_s=0.2), ctx, "00001")
    outside = time.perf_counter() - started
    assert set(stats) == {RECORDS, "doubled", WALL, TASK_MEMORY} and stats[RECORDS] == 2
    assert set(stats[TASK_MEMORY]) == {"peak_rss_mib"} and stats[TASK_MEMORY]["peak_rss_mib"] > 0
    assert isinstance(stats[WALL], float) and 0.2 <= stats[WALL] <= outside + 1e-6
    assert stats[WALL] == round(stats[WALL], 6)
    assert ctx.workspace.read_json("stages/doubler/stats/00001.json") == stats
    assert ctx.workspace.completed("doubler") == ["00001"]


def test_a_missing_input_names_the_stage_that_writes_it(tmp_path):
    ctx = _ctx(tmp_path)
    url = ctx.workspace.url
    cases = [({"datasets/numbers": "numbers_maker"}, "run stage 'numbers_maker' first"),
             ({"datasets/other": "other_maker"}, "run the stage that writes it"),
             (None, "run the stage that writes it")]
    for producers, hint in cases:
        with pytest.raises(MissingInputError) as raised:
            LocalExecutor().run(Doubler(), ctx, producers)
        assert str(raised.value) == (f"stage 'doubler' cannot run: datasets/numbers is missing "
                                     f"in {url} ({hint})")
    assert not ctx.workspace.exists("stages/doubler")
    # which inputs a stage reads follows its constructor
    with pytest.raises(MissingInputError, match="cannot run: datasets/sentences is missing"):
        LocalExecutor().run(EmbedStage(["sentences"]), ctx)


def test_a_run_commits_then_a_second_run_only_returns_the_stats(ctx, capsys):
    stage = Doubler()
    stats = LabelledExecutor().run(stage, ctx)
    assert sorted(stage.processed) == ["00000", "00001", "00002"]
    assert {key: stats[key] for key in (RECORDS, "doubled")} == {RECORDS: 6, "doubled": 6}
    assert ctx.workspace.read_dataset("doubled").column("value").to_pylist() == [
        2 * v for v in range(SHARDS * 2)]
    assert ctx.workspace.read_json("datasets/doubled/summary.json") == {"doubled": 6}
    state = ctx.workspace.read_json("stages/doubler/state.json")
    assert state["shards"] == SHARDS and state["committed"]
    assert state["fingerprint"] == stage_fingerprint(stage, ctx).value
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith("[doubler (probe)] 3/3 shards")
    assert ", 6/6 records, " in lines[-1]

    # the second run neither processes nor commits again: what later stages read of the
    # output (its fingerprint and commit) is unchanged, so they stay up to date
    output = input_fingerprint(ctx, "datasets/doubled")
    assert output is not None
    again = Doubler()
    assert LabelledExecutor().run(again, ctx) == stats == ctx.workspace.stage_stats("doubler")
    assert again.processed == []
    assert input_fingerprint(ctx, "datasets/doubled") == output


def test_a_failed_run_resumes_its_unfinished_shards_and_counts_all(ctx, capsys):
    with pytest.raises(StageError, match="failed on shard '00001'"):
        LocalExecutor().run(Doubler(failing="00001"), ctx)
    assert not ctx.workspace.exists("datasets/doubled"), "nothing committed before the end"
    capsys.readouterr()
    resumed = Doubler()
    stats = LocalExecutor().run(resumed, ctx)
    done_before = 3 - len(resumed.processed)
    assert "00001" in resumed.processed and done_before >= 1
    assert stats[RECORDS] == 6  # the shards of the first attempt still count
    line = capsys.readouterr().err.splitlines()[-1]
    records = 2 * len(resumed.processed)  # of this run: not those of the shards done before
    assert line.startswith(f"[doubler] 3/3 shards, {records}/{records} records")


def test_changed_settings_start_the_stage_over(ctx):
    with pytest.raises(StageError):
        LocalExecutor().run(Doubler(failing="00002"), ctx)
    changed = _ctx(ctx.workspace.url, shard_size=7)
    stage = Doubler()
    stats = LocalExecutor().run(stage, changed)
    assert sorted(stage.processed) == ["00000", "00001", "00002"]  # no marker reused
    assert stats[RECORDS] == 6
    # and a committed stage whose settings changed runs again
    again = Doubler()
    LocalExecutor().run(again, ctx)
    assert sorted(again.processed) == ["00000", "00001", "00002"]


def test_the_fingerprint_holds_config_extra_and_inputs(ctx):
    stage = Doubler()
    fingerprint = stage_fingerprint(stage, ctx)
    values = config_values(ctx.config, stage.config_paths)
    assert values == {"executor.shard_size": 1000}
    # the stage's own settings as stored in JSON: a tuple becomes a list, a path its text
    assert fingerprint.config == {**values, "(stage).factor": [2, "x"],
                                  "(stage).root": "/data", "(stage).rows": 100}
    assert fingerprint.inputs == {"datasets/numbers": None}  # never committed by a stage
    given = stage_fingerprint(stage, ctx, {"datasets/numbers": "f@g"})
    assert given == Fingerprint("doubler", "1", fingerprint.config, {"datasets/numbers": "f@g"})
    assert given.value != fingerprint.value


def test_a_stage_of_steps_commits_the_count_of_all_its_tasks(tmp_path, capsys):
    ctx = _ctx(tmp_path)
    slow_stage.make_numbers(ctx.workspace, 2, 6)
    stage = ConfiguredSteps()
    stats = LabelledExecutor().run(stage, ctx)
    assert stage.planned_with is ctx.config
    state = ctx.workspace.read_json("stages/stepped_sum/state.json")
    assert state["shards"] == 2 + stepped_stage.PARTITIONS
    assert stats[RECORDS] == 12 and stats["partitions_reduced"] == stepped_stage.PARTITIONS
    lines = capsys.readouterr().err.splitlines()
    assert [re.match(r"\[(.*?)\] (\d+/\d+) shards, (\d+)(?:/\d+)? records", line).groups()
            for line in lines] == [("stepped_sum:split (probe)", "2/2", "12"),
                                   ("stepped_sum:reduce (probe)", "3/3", "0")]


class PlanningFails(Doubler):
    def shards(self, ctx):
        raise OSError("listing refused")


class ConfiguredSteps(stepped_stage.SteppedSumStage):
    """Plans its steps from the config it is given (as the partitioned stages do)."""

    def steps(self, config):
        self.planned_with = config
        return super().steps(config)


class StepsFail(stepped_stage.SteppedSumStage):
    def steps(self, config):
        raise KeyError("no such step")


def test_a_stage_that_cannot_plan_its_shards_or_steps_says_so(ctx):
    with pytest.raises(StageError) as raised:
        LocalExecutor().run(PlanningFails(), ctx)
    assert str(raised.value) == (
        "stage 'doubler' failed on shard '(planning)': OSError: listing refused")
    with pytest.raises(StageError) as raised:
        LocalExecutor().run(StepsFail(), ctx)
    assert str(raised.value) == (
        "stage 'stepped_sum' failed on shard '(planning)': KeyError: 'no such step'")


class Peeker(Doubler):
    """Doubles its numbers, and peeks at a dataset it does not declare."""

    name = "peeker"

    def process(self, ctx, shard):
        ctx.workspace.read_dataset("secret")
        return super().process(ctx, shard)


class SetupPeeker(Doubler):
    """Reads an undeclared array while it loads, and writes nothing else."""

    name = "setup_peeker"

    def setup(self, ctx):
        ctx.workspace.array_shards("secret")


def test_a_stage_that_reads_a_dataset_it_did_not_declare_fails_naming_it(ctx):
    ctx.workspace.write_table("secret", "00000", pa.table({"value": [1]}))
    with pytest.raises(StageError, match=r"'peeker' touched datasets/secret, which its reads\(\),"
                                          r" writes\(\), reports, report_reads and caches do "
                                          r"not declare"):
        LocalExecutor().run(Peeker(), ctx)
    assert not ctx.workspace.exists("datasets/doubled")
    with pytest.raises(Exception, match="'setup_peeker' touched arrays/secret"):
        LocalExecutor().run(SetupPeeker(), ctx)
    # declared reads and writes, and a stage's own folders, are open to it
    stats = LocalExecutor().run(Doubler(), ctx)
    assert stats[RECORDS] == SHARDS * 2
    # outside a stage (CLI, report, tests) the workspace reads anything
    assert ctx.workspace.read_dataset("secret").num_rows == 1


class Reporter(Doubler):
    """Doubles its numbers, writes a report and a cache, and reads an earlier stage's report
    (each of which a subclass leaves undeclared)."""

    name = "reporter"
    reports = ("report/reporter.json",)
    report_reads = ("report/funnel.json",)
    caches = ("index/reporter",)

    def finalize(self, ctx, stats):
        ctx.workspace.read_json("report/funnel.json")
        ctx.workspace.write_json("index/reporter/meta.json", {"kept": True})
        ctx.workspace.write_json("report/reporter.json", {"records": stats[RECORDS]})


class UndeclaredReport(Reporter):
    reports = ()


class UndeclaredReportRead(Reporter):
    report_reads = ()


class UndeclaredCache(Reporter):
    caches = ()


@pytest.mark.parametrize("stage, folder", [(UndeclaredReport(), "report/reporter.json"),
                                           (UndeclaredReportRead(), "report/funnel.json"),
                                           (UndeclaredCache(), "index/reporter")])
def test_reports_and_caches_are_declared_like_outputs(ctx, stage, folder):
    """A stage's reports, the reports it reads and its caches are declared like its datasets:
    one it leaves out is refused, naming it; declared, they are open to it."""
    ctx.workspace.write_json("report/funnel.json", {"images": {}})
    with pytest.raises(Exception, match=f"'reporter' touched {folder}, which its reads"):
        LocalExecutor().run(stage, ctx)
    LocalExecutor().run(Reporter(), ctx)
    assert ctx.workspace.read_json("report/reporter.json") == {"records": SHARDS * 2}
    assert ctx.workspace.read_json("index/reporter/meta.json") == {"kept": True}


class ConfigPlanned(stepped_stage.SteppedSumStage):
    """Declarations that follow the config, as real stages' do (generate reads sentences only
    when it mines tags, retrieve's steps follow its routing): its scratch folder is named by a
    setting, and it records the config every declaration is asked with."""

    def __init__(self) -> None:
        self.asked: dict[str, list] = {"reads": [], "scratch": [], "steps": []}

    def reads(self, config):
        self.asked["reads"].append(config)
        return super().reads(config)

    def scratch_folder(self, config):
        self.asked["scratch"].append(config)
        return f"scratch/{self.name}/rows{config.executor.shard_size}"

    def steps(self, config):
        self.asked["steps"].append(config)
        return super().steps(config)


def _numbers_ctx(root, keep_scratch: bool = False) -> Context:
    ctx = _ctx(root)
    ctx.config.executor.keep_scratch = keep_scratch
    slow_stage.make_numbers(ctx.workspace, 2, 6)
    return ctx


def test_every_declaration_is_asked_with_the_runs_config(tmp_path):
    ctx = _numbers_ctx(tmp_path)
    stage = ConfigPlanned()
    stats = LocalExecutor().run(stage, ctx)
    assert stats[RECORDS] == 12
    assert all(stage.asked.values())
    assert all(config is ctx.config for asked in stage.asked.values() for config in asked)
    # the committed stage's scratch, in the folder its settings name, is gone
    assert not ctx.workspace.exists("scratch/stepped_sum/rows1000")


def test_the_scratch_of_an_unfinished_stage_is_measured_and_its_temporaries_go_on_resume(
        tmp_path):
    ctx = _numbers_ctx(tmp_path, keep_scratch=True)
    ctx.workspace.write_bytes(stepped_stage.FAIL, b"")
    with pytest.raises(StageError, match="failed on shard 'reduce~00001'"):
        LocalExecutor().run(ConfigPlanned(), ctx)
    folder = "scratch/stepped_sum/rows1000"
    assert scratch_bytes(ConfigPlanned(), ctx) == ctx.workspace.folder_bytes(folder) > 0
    # what a writer killed in the scratch left goes before the resumed run reuses it
    killed = f"{folder}/by_rest/.tmp-killed"
    ctx.workspace.write_bytes(killed, b"half written")
    ctx.workspace.fs.rm(ctx.workspace.path(stepped_stage.FAIL))
    assert LocalExecutor().run(ConfigPlanned(), ctx)[RECORDS] == 12
    assert ctx.workspace.exists(f"{folder}/by_rest"), "kept: executor.keep_scratch"
    assert not ctx.workspace.exists(killed)


def test_a_stage_of_steps_is_checked_before_its_inputs_or_workspace_are_touched(tmp_path):
    ctx = _ctx(tmp_path)  # no numbers: the wiring error comes first
    stage = stepped_stage.RedeclaredSumStage(reduce_reads=("by_key",))
    with pytest.raises(WiringError, match="reads scratch dataset 'by_key', which no step"):
        LocalExecutor().run(stage, ctx)
    assert not ctx.workspace.exists("stages")


class StepsFailWhenRun(stepped_stage.SteppedSumStage):
    """Steps that pass the wiring check, then fail when planned for running (a listing that
    went away between the two)."""

    def __init__(self) -> None:
        self.planned = 0

    def steps(self, config):
        self.planned += 1
        if self.planned > 1:
            raise OSError("listing refused")
        return super().steps(config)


def test_steps_that_fail_when_planned_for_running_name_the_planning(tmp_path):
    ctx = _numbers_ctx(tmp_path)
    with pytest.raises(StageError) as raised:
        LocalExecutor().run(StepsFailWhenRun(), ctx)
    assert str(raised.value) == (
        "stage 'stepped_sum' failed on shard '(planning)': OSError: listing refused")


class LateCountExecutor(Executor):
    """Runs the shards in this process; before them, a count of the step before arrives late
    (as from a worker pool kept between the steps of a stage)."""

    def map_shards(self, stage, ctx, pending, progress):
        progress.update("split~00000", 5, 5)
        for shard in pending:
            progress.finish(shard, run_one_shard(stage, ctx, shard))


def test_a_late_count_of_a_shard_not_of_this_step_is_not_shown(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(progress_module, "_interval_s", 3600.0)  # only the final lines
    ctx = _numbers_ctx(tmp_path)
    LateCountExecutor().run(stepped_stage.SteppedSumStage(), ctx)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("[stepped_sum:split] 2/2 shards, 12/12 records")
    assert lines[1].startswith("[stepped_sum:reduce] 3/3 shards, 0 records")
    assert "running" not in lines[1]


def test_a_task_keeps_the_memory_figures_its_stage_reports(ctx):
    class Reading(Stage):
        name = "reading"

        def process(self, ctx, shard):
            return {RECORDS: 1, TASK_MEMORY: {"reader_peak_rss_mib": 12.5}}

    stats = run_one_shard(Reading(), ctx, "00000")
    assert set(stats[TASK_MEMORY]) == {"reader_peak_rss_mib", "peak_rss_mib"}
    assert stats[TASK_MEMORY]["reader_peak_rss_mib"] == 12.5


def test_a_committed_state_of_other_settings_is_not_taken_for_this_run(ctx):
    """Only a commit of this run's settings ends a run at once: one of other settings (a run
    racing on the same workspace committed it after this one started) is committed again."""
    LocalExecutor().run(Doubler(), ctx)
    changed = _ctx(ctx.workspace.url, shard_size=7)
    fingerprint = stage_fingerprint(Doubler(), changed)
    ctx.workspace.write_json("stages/doubler/started.json", fingerprint.record())
    LocalExecutor().run(Doubler(), changed)
    state = ctx.workspace.read_json("stages/doubler/state.json")
    assert state["committed"] and state["fingerprint"] == fingerprint.value
