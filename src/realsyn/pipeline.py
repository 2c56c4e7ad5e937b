"""A pipeline: an ordered list of stage instances, checked, fingerprinted and run.

    Pipeline([IngestStage(), ExtractImagesStage(), ..., WriteStage()]).run(config)

Before anything runs the wiring is checked: every dataset a stage reads must be written by a
stage before it or already be in the workspace, and every scratch dataset a step reads must be
written by a step of its stage before it. `run` then goes through the selected stages in
order; a stage whose fingerprint matches its committed outputs is skipped (up to date), any other
is run (resuming finished shards of the same fingerprint) and its outputs replace the old ones as
a whole; its scratch goes once it commits (`realsyn.executors.base.clear_scratch`). `status`
predicts the same decisions without running anything, and says how much scratch is on disk.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from realsyn import drops
from realsyn.commit import recover, state_path
from realsyn.config import RealsynConfig, StageSpec, dump_config
from realsyn.executors.base import (
    Executor,
    clear_scratch,
    guarded,
    scratch_bytes,
    stage_fingerprint,
)
from realsyn.fingerprint import differences
from realsyn.plugins import instantiate
from realsyn.registry import STAGES
from realsyn.runlog import run_log
from realsyn.stage import RECORDS, Context, Stage, SteppedStage, WiringError
from realsyn.workspace import Workspace

UP_TO_DATE, STALE, NOT_RUN = "up to date", "stale", "not run"


class UnknownStageError(ValueError):
    pass


def load_stage(name: str, **args: Any) -> Stage:
    """A built-in stage by name, built with `args` (e.g. other dataset names)."""
    try:
        module_name, class_name = STAGES[name].split(":")
    except KeyError:
        raise UnknownStageError(
            f"unknown stage {name!r}; known stages: {', '.join(STAGES)}") from None
    return getattr(importlib.import_module(module_name), class_name)(**args)


def build_stage(spec: StageSpec) -> Stage:
    """The stage a config's `pipeline` entry names (built-in or 'package.module:Class')."""
    if spec.stage in STAGES:
        stage = load_stage(spec.stage, **spec.args)
    else:
        stage = instantiate(spec.stage, spec.config, **spec.args)
    if spec.name:
        stage.name = spec.name
    return stage


def default_stages() -> list[Stage]:
    return [load_stage(name) for name in STAGES]


def stages_from_config(config: RealsynConfig) -> list[Stage]:
    if config.pipeline is None:
        return default_stages()
    return [build_stage(spec) for spec in config.pipeline]


def make_executor(config: RealsynConfig) -> Executor:
    if config.executor.kind == "ray":
        from realsyn.executors.ray import RayExecutor

        return RayExecutor(address=config.executor.ray_address, workers=config.executor.workers,
                           placement_timeout_s=config.executor.placement_timeout_s)
    from realsyn.executors.local import LocalExecutor

    return LocalExecutor(workers=config.executor.workers)


@dataclass
class StageStatus:
    name: str
    state: str  # UP_TO_DATE, STALE or NOT_RUN
    reasons: list[str] = field(default_factory=list)
    shards_done: int = 0
    shards_total: int | None = None
    records_in: int | None = None
    records_out: int | None = None
    wall_s: float | None = None
    scratch_bytes: int = 0  # on disk now: an unfinished attempt's, or kept (keep_scratch)


class Pipeline:
    def __init__(self, stages: list[Stage]):
        names = [stage.name for stage in stages]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise WiringError(f"stage names must be unique; repeated: {', '.join(duplicates)}")
        self.stages = list(stages)

    @classmethod
    def from_config(cls, config: RealsynConfig) -> Pipeline:
        return cls(stages_from_config(config))

    @property
    def names(self) -> list[str]:
        return [stage.name for stage in self.stages]

    def producers(self, config: RealsynConfig) -> dict[str, str]:
        """Output folder -> the stage that writes it."""
        return {location: stage.name for stage in self.stages
                for location in stage.writes(config)}

    def check_wiring(self, config: RealsynConfig, workspace: Workspace) -> None:
        written: set[str] = set()
        for stage in self.stages:
            for location in stage.reads(config):
                if location not in written and not workspace.exists(location):
                    raise WiringError(
                        f"stage {stage.name!r} reads {location}, which no stage before it "
                        f"writes and workspace {workspace.url} does not have")
            written.update(stage.writes(config))
            if isinstance(stage, SteppedStage):  # its steps' scratch, wired the same way
                guarded(stage, "(planning)", lambda s=stage: s.check_steps(config))

    def select(self, config: RealsynConfig, only: list[str] | None = None,
               start: str | None = None) -> list[Stage]:
        """The stages to run, in pipeline order: the config's `stages` (default all), cut to
        `only`, or to `start` and after."""
        names = self.names
        chosen = config.stages if config.stages is not None else names
        for name in [*chosen, *(only or []), *([start] if start else [])]:
            if name not in names:
                raise UnknownStageError(
                    f"unknown stage {name!r}; known stages: {', '.join(names)}")
        selected = [stage for stage in self.stages if stage.name in chosen]
        if only:
            selected = [stage for stage in selected if stage.name in only]
        if start:
            selected = [stage for stage in selected
                        if names.index(stage.name) >= names.index(start)]
        return selected

    # ------------------------------------------------------------------ status
    def status(self, config: RealsynConfig) -> list[StageStatus]:
        """Each stage's state as `run` would find it, predicting what upstream runs change."""
        workspace = Workspace(config.workspace)
        recover(workspace)
        ctx = Context(config=config, workspace=workspace)
        # output folder -> what it will carry once its stale writer has run
        predicted: dict[str, str] = {}
        upstream_stale: dict[str, str] = {}  # output folder -> stale stage writing it
        report = []
        for stage in self.stages:
            reads = stage.reads(config)
            current = stage_fingerprint(stage, ctx)
            inputs = {location: predicted.get(location, current.inputs.get(location))
                      for location in reads}
            expected = stage_fingerprint(stage, ctx, inputs)
            stored = workspace.read_json(state_path(stage.name), {})
            stats = workspace.stage_stats(stage.name)
            item = StageStatus(stage.name, NOT_RUN,
                               shards_done=len(workspace.completed(stage.name)),
                               shards_total=stored.get("shards"),
                               records_in=stats.get(RECORDS), records_out=stats.get(
                                   "records_out"), wall_s=stats.get("wall_s"),
                               scratch_bytes=scratch_bytes(stage, ctx))
            if stored.get("committed"):
                if stored.get("fingerprint") == expected.value:
                    item.state = UP_TO_DATE
                else:
                    item.state = STALE
                    causes = sorted({upstream_stale[loc] for loc in reads
                                     if loc in upstream_stale})
                    item.reasons = [f"upstream {name} is stale or not run" for name in causes]
                    own = [reason for reason in differences(stored, expected)
                           if not reason.startswith("input ") or not causes]
                    item.reasons += own
            if item.state != UP_TO_DATE:
                for location in stage.writes(config):
                    predicted[location] = f"(rebuilt by {stage.name})"
                    upstream_stale[location] = stage.name
            report.append(item)
        return report

    # ------------------------------------------------------------------ run
    def run(self, config: RealsynConfig, executor: Executor | None = None,
            only: list[str] | None = None, start: str | None = None, rerun: bool = False,
            report: Callable[[str], None] = print) -> dict[str, dict]:
        """Run the selected stages in order; returns the stats of each stage that ran."""
        workspace = Workspace(config.workspace)
        recover(workspace)
        if removed := workspace.remove_temporaries():  # left by a killed run; this run owns it
            report(f"removed {removed} temporary files of an interrupted run")
        selected = self.select(config, only, start)
        self.check_wiring(config, workspace)
        executor = executor or make_executor(config)
        ctx = Context(config=config, workspace=workspace)
        for stage in self.stages:  # a run killed between a commit and its scratch's removal
            if clear_scratch(stage, ctx):
                report(f"removed the scratch of committed stage {stage.name}")
        if rerun:
            # Forced: redone from scratch. Later stages then read a new commit of their
            # inputs, which makes them stale (see commit.folder_identity).
            for stage in selected:
                workspace.reset_stage(stage.name)
        producers = self.producers(config)
        results: dict[str, dict] = {}
        closing: dict[Any, str] = {}  # one text per kind of report: the latest
        with run_log(config, workspace) as log:
            for stage in selected:
                stored = workspace.read_json(state_path(stage.name), {})
                if stored.get("committed") and \
                        stored.get("fingerprint") == stage_fingerprint(stage, ctx).value:
                    report(f"[{stage.name}] skipped (up to date)")
                    log.logger.info("stage %s skipped (up to date)", stage.name)
                    continue
                started = log.stage_started(stage.name)
                stats = executor.run(stage, ctx, producers=producers)
                results[stage.name] = stats
                summary = stage.summary(ctx, stats)
                elapsed = log.stage_finished(stage.name, started, stats, summary)
                report(f"[{stage.name}] ({elapsed:.1f} s) {summary}")
                for line in drops.check(stage.name, stage.drops(ctx, stats),
                                        config.warn_drop_share, workspace):
                    report(line)
                    log.logger.warning(line)
                text = stage.closing_report(ctx)
                if text:
                    closing[type(stage).closing_report] = text
        for text in closing.values():
            report(text)
        if all(item.state == UP_TO_DATE for item in self.status(config)):
            # Only a config that every stage's data matches describes the workspace.
            workspace.write_bytes("config.yaml", dump_config(config).encode())
        return results


def select_stages(config: RealsynConfig, only: list[str] | None = None,
                  start: str | None = None) -> list[str]:
    """The names of the stages `run_pipeline` would run."""
    return [stage.name for stage in Pipeline.from_config(config).select(config, only, start)]


def run_pipeline(config: RealsynConfig, only: list[str] | None = None, start: str | None = None,
                 rerun: bool = False,
                 report: Callable[[str], None] = print) -> dict[str, dict]:
    """Run the config's pipeline (see `Pipeline.run`)."""
    return Pipeline.from_config(config).run(config, only=only, start=start, rerun=rerun,
                                            report=report)
