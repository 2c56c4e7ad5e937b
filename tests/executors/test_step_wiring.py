"""Steps as dataflow: a step declares the scratch datasets it reads and writes, resolves them
through its context (which refuses any other), and the wiring check covers steps as it covers
stages: a step reads only scratch that a step before it writes."""

from pathlib import Path

import pytest
import slow_stage
import stepped_stage

from realsyn.config import RealsynConfig
from realsyn.executors.base import StageError
from realsyn.executors.local import LocalExecutor
from realsyn.pipeline import Pipeline, WiringError
from realsyn.stage import Context, SteppedStage, UndeclaredScratchError
from realsyn.workspace import Workspace

SHARDS, ROWS = 3, 6
STEPPED_STAGES = {"dedup", "semantic_dedup", "retrieve", "balance"}


def _context(root: Path) -> Context:
    slow_stage.make_numbers(Workspace(str(root)), SHARDS, ROWS)
    return Context(config=RealsynConfig(workspace=str(root)), workspace=Workspace(str(root)))


def _nothing_ran(root: Path) -> bool:
    """No task ran and the stage left no trace (markers, start record, scratch, outputs)."""
    return not any((root / folder).exists()
                   for folder in ("control/runs", "stages", "scratch", "datasets/sums"))


# ------------------------------------------------------------------ resolving scratch
def test_a_declared_scratch_dataset_resolves_under_the_stage_scratch_folder(tmp_path):
    stage = stepped_stage.SteppedSumStage()
    split, reduce = stage.steps(RealsynConfig())
    ctx = _context(tmp_path)
    assert stage.in_step(ctx, split).scratch_write("by_rest") == stepped_stage.BY_REST
    assert stage.in_step(ctx, reduce).scratch_read("by_rest", "part-00000") == \
        f"{stepped_stage.BY_REST}/part-00000"
    assert stage.scratch(ctx.config) == ["scratch/stepped_sum"]


def test_an_undeclared_scratch_dataset_is_refused_naming_the_step_and_dataset(tmp_path):
    stage = stepped_stage.SteppedSumStage()
    split, reduce = stage.steps(RealsynConfig())
    ctx = _context(tmp_path)
    with pytest.raises(UndeclaredScratchError) as raised:
        stage.in_step(ctx, reduce).scratch_write("by_rest")  # declared as a read only
    assert str(raised.value) == (
        "step 'reduce' of stage 'stepped_sum' writes scratch dataset 'by_rest', which its "
        "writes do not declare (declared: none)")
    with pytest.raises(UndeclaredScratchError, match="step 'split' of stage 'stepped_sum' "
                       "reads scratch dataset 'other', which its reads and writes do not "
                       "declare "
                       r"\(declared: by_rest\)"):
        stage.in_step(ctx, split).scratch_read("other")
    # a step may read back what it writes
    assert stage.in_step(ctx, split).scratch_read("by_rest") == stepped_stage.BY_REST
    with pytest.raises(UndeclaredScratchError, match="outside a step"):
        ctx.scratch_read("by_rest")


@pytest.mark.parametrize("workers", [1, 2])  # in this process, and in a worker pool
def test_a_step_reading_scratch_it_does_not_declare_fails_clearly(tmp_path, workers):
    # wired (nothing read is undeclared as written), but reduce's tasks read "by_rest"
    stage = stepped_stage.RedeclaredSumStage(reduce_reads=())
    with pytest.raises(StageError) as raised:
        LocalExecutor(workers=workers).run(stage, _context(tmp_path))
    assert "step 'reduce' of stage 'stepped_sum' reads scratch dataset 'by_rest', which its " \
        "reads and writes do not declare (declared: none)" in str(raised.value)
    assert "UndeclaredScratchError" in str(raised.value)


def test_a_step_writing_scratch_it_does_not_declare_fails_clearly(tmp_path):
    stage = stepped_stage.RedeclaredSumStage(split_writes=(), reduce_reads=())
    with pytest.raises(StageError, match="step 'split' of stage 'stepped_sum' writes scratch "
                       "dataset 'by_rest', which its writes do not declare"):
        LocalExecutor(workers=1).run(stage, _context(tmp_path))
    assert not (tmp_path / stepped_stage.BY_REST).exists()


# ------------------------------------------------------------------ the wiring check
@pytest.mark.parametrize("stage", [
    stepped_stage.RedeclaredSumStage(split_writes=("by_key",)),  # no step writes it
    stepped_stage.RedeclaredSumStage(reversed_steps=True),  # written only by a later step
], ids=["unwritten", "written-later"])
def test_a_step_reading_scratch_no_earlier_step_writes_fails_before_anything_runs(
        tmp_path, stage):
    ctx = _context(tmp_path)
    message = ("step 'reduce' of stage 'stepped_sum' reads scratch dataset 'by_rest', which "
               "no step before it writes")
    with pytest.raises(WiringError) as raised:
        stage.check_steps(ctx.config)
    assert str(raised.value) == message
    # the pipeline's wiring check, before any stage runs
    with pytest.raises(WiringError, match=message):
        Pipeline([stage]).check_wiring(ctx.config, ctx.workspace)
    with pytest.raises(WiringError, match=message):
        Pipeline([stage]).run(ctx.config, executor=LocalExecutor(workers=1),
                              report=lambda line: None)
    assert _nothing_ran(tmp_path)
    # and an executor run on its own (local or Ray: the check is in the base executor)
    with pytest.raises(WiringError, match=message):
        LocalExecutor(workers=1).run(stage, ctx)
    assert _nothing_ran(tmp_path)


def test_the_wired_test_stage_passes_and_runs(tmp_path):
    ctx = _context(tmp_path)
    stage = stepped_stage.SteppedSumStage()
    assert [step.name for step in stage.check_steps(ctx.config)] == ["split", "reduce"]
    Pipeline([stage]).check_wiring(ctx.config, ctx.workspace)
    assert LocalExecutor(workers=1).run(stage, ctx)["partitions_reduced"] == 3


# ------------------------------------------------------------------ the built-in stages
def _configs() -> list[RealsynConfig]:
    """The default config, and the retrieve variants whose steps differ (routing, cap)."""
    uncapped = {"max_uses_per_sentence": None, "max_uses_share": None}
    return [RealsynConfig(),
            RealsynConfig.model_validate({"retrieve": {"routing": "paper"}}),
            RealsynConfig.model_validate({"retrieve": uncapped}),
            RealsynConfig.model_validate({"retrieve": {"routing": "paper", **uncapped}})]


@pytest.mark.parametrize("config", _configs(), ids=["default", "paper", "uncapped",
                                                    "paper-uncapped"])
def test_the_built_in_stepped_stages_declare_their_scratch_and_are_wired(config):
    stepped = [stage for stage in Pipeline.from_config(config).stages
               if isinstance(stage, SteppedStage)]
    assert {stage.name for stage in stepped} == STEPPED_STAGES
    for stage in stepped:
        steps = stage.check_steps(config)
        written: set[str] = set()
        for step in steps:
            # every step passes data on through scratch: it declares what it reads or writes
            assert step.reads or step.writes, f"{stage.name}:{step.name} declares nothing"
            assert set(step.reads) <= written | set(step.writes)
            written.update(step.writes)
        # the first step reads nothing of scratch; what the steps write is read by a later one
        assert not steps[0].reads
        read = {name for step in steps for name in step.reads}
        assert read, stage.name
        assert stage.scratch(config) == [f"scratch/{stage.name}"]


def test_a_dropped_declaration_of_a_built_in_stage_fails_the_check():
    config = RealsynConfig()
    for stage in Pipeline.from_config(config).stages:
        if not isinstance(stage, SteppedStage):
            continue
        steps = stage.steps(config)
        first = steps[0]
        stage.steps = lambda config, steps=steps, first=first: [
            type(first)(first.name, first.shards, first.process, reads=first.reads),
            *steps[1:]]
        with pytest.raises(WiringError, match=f"of stage '{stage.name}' reads scratch "
                           "dataset"):
            stage.check_steps(config)
