"""What every executor does once: check inputs, plan, resume, track progress, merge stats,
finalise and commit. A concrete executor only hands out shards (`map_shards`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from realsyn import memory, progress
from realsyn.commit import (
    commit,
    discard_staging,
    folder_identity,
    location_url,
    recover,
    remove_staged_temporaries,
    state_path,
)
from realsyn.config import RealsynConfig
from realsyn.fingerprint import Fingerprint, config_values, flatten
from realsyn.progress import StageProgress, library_bars_silenced, progress_bar
from realsyn.stage import Context, Stage, SteppedStage, StepTasks, WiringError
from realsyn.workspace import remove_temporaries

STARTED = "stages/{stage}/started.json"
WALL = "wall_s"
TASK_MEMORY = "memory"


class StageError(RuntimeError):
    """A shard of a stage failed; finished shards keep their markers, so a rerun resumes."""


class MissingInputError(StageError):
    """A stage's input is not in the workspace; the message names the stage to run first."""


def guarded(stage: Stage, shard: str, call):
    """Run `call`, turning any error into a StageError that names the stage and shard (a
    WiringError names its stage and step already, and is no failure of a shard)."""
    try:
        return call()
    except WiringError:
        raise
    except Exception as error:
        raise StageError(f"stage {stage.name!r} failed on shard {shard!r}: "
                         f"{type(error).__name__}: {error}") from error


def run_one_shard(stage: Stage, ctx: Context, shard: str) -> dict[str, Any]:
    started = time.perf_counter()
    memory.reset_peak()
    with progress.task(shard):  # the records `process` counts go to the driver
        stats = stage.process(ctx, shard)
    # A dict, not a counter: merged stats sum counters, and peaks do not add up.
    stats = {**stats, WALL: round(time.perf_counter() - started, 6),
             TASK_MEMORY: {**stats.get(TASK_MEMORY, {}), "peak_rss_mib": memory.peak_rss_mib()}}
    ctx.workspace.mark_done(stage.name, shard, stats)
    return stats


def input_fingerprint(ctx: Context, location: str) -> str | None:
    return folder_identity(location_url(ctx.workspace.committed, location))


def stage_fingerprint(stage: Stage, ctx: Context,
                      inputs: dict[str, str | None] | None = None) -> Fingerprint:
    """The fingerprint of `stage` under `ctx.config`; input fingerprints are read from the
    workspace unless given (a pipeline predicting the state of stages not yet run)."""
    values = config_values(ctx.config, stage.config_paths)
    extra = stage.fingerprint_extra(ctx.config)
    if extra:
        # as stored (JSON: tuples become lists), so that status compares like with like
        values.update(flatten(json.loads(json.dumps(extra, default=str)), "(stage)"))
    if inputs is None:
        inputs = {location: input_fingerprint(ctx, location)
                  for location in stage.reads(ctx.config)}
    return Fingerprint(stage.name, stage.version, values, inputs)


def declared_beside_outputs(stage: Stage, config: RealsynConfig) -> list[str]:
    """What the running stage may touch besides its outputs (Workspace.staged checks it)."""
    return [*stage.reads(config), *stage.report_reads, *stage.reports, *stage.caches]


def missing_inputs(stage: Stage, ctx: Context) -> list[str]:
    workspace = ctx.workspace.committed
    return [location for location in stage.reads(ctx.config) if not workspace.exists(location)]


def clear_scratch(stage: Stage, ctx: Context) -> list[str]:
    """Remove the scratch folders of `stage` once it is committed (not while an attempt is
    unfinished: a resumed run reuses them), unless `executor.keep_scratch`; returns those
    removed. Also what a run killed between a commit and this removal left."""
    workspace = ctx.workspace.committed
    if ctx.config.executor.keep_scratch or \
            not workspace.read_json(state_path(stage.name), {}).get("committed"):
        return []
    return [folder for folder in stage.scratch(ctx.config) if workspace.remove_folder(folder)]


def scratch_bytes(stage: Stage, ctx: Context) -> int:
    workspace = ctx.workspace.committed
    return sum(workspace.folder_bytes(folder) for folder in stage.scratch(ctx.config))


class Executor:
    """Runs one stage over its unfinished shards and commits its outputs."""

    workers: int = 1
    label: str = ""

    def run(self, stage: Stage, ctx: Context,
            producers: dict[str, str] | None = None) -> dict[str, Any]:
        workspace = ctx.workspace.committed
        if isinstance(stage, SteppedStage):  # the steps' wiring, before anything is touched
            guarded(stage, "(planning)", lambda: stage.check_steps(ctx.config))
        recover(workspace)
        missing = missing_inputs(stage, ctx)
        if missing:
            writer = (producers or {}).get(missing[0])
            hint = f"run stage {writer!r} first" if writer else "run the stage that writes it"
            raise MissingInputError(f"stage {stage.name!r} cannot run: {missing[0]} is missing "
                                    f"in {workspace.url} ({hint})")
        fingerprint = stage_fingerprint(stage, ctx)
        outputs, scratch = stage.writes(ctx.config), stage.scratch(ctx.config)
        started = workspace.read_json(STARTED.format(stage=stage.name), {})
        if started.get("fingerprint") != fingerprint.value:
            # Settings or inputs changed: nothing of an earlier attempt may be reused, nor a
            # kept scratch (steps plan from the partitions they find there). The staging
            # folders of scratch are those of a realsyn that still committed it.
            workspace.reset_stage(stage.name)
            discard_staging(workspace, [*outputs, *scratch])
            for folder in scratch:
                workspace.remove_folder(folder)
            workspace.write_json(STARTED.format(stage=stage.name), fingerprint.record())
        else:  # resuming into the staged outputs and the scratch: a killed writer's go first
            remove_staged_temporaries(workspace, outputs)
            for folder in scratch:
                remove_temporaries(workspace.fs, workspace.path(folder))
        state = workspace.read_json(state_path(stage.name), {})
        if state.get("committed") and state.get("fingerprint") == fingerprint.value:
            clear_scratch(stage, ctx)
            return workspace.stage_stats(stage.name)
        staged = Context(config=ctx.config, workspace=workspace.staged(
            outputs, reads=declared_beside_outputs(stage, ctx.config), stage=stage.name))
        try:
            with library_bars_silenced():
                tasks = self._run_all(stage, staged)
        finally:
            self.release()
        merged = workspace.merge_stats(stage.name)
        stage.finalize(staged, merged)
        commit(workspace, stage.name, outputs, {**fingerprint.record(), "shards": tasks})
        clear_scratch(stage, ctx)  # after the commit: until then a rerun resumes from it
        return merged

    def _run_all(self, stage: Stage, staged: Context) -> int:
        """Run every task of `stage` (of each step in turn); returns how many there are."""
        if isinstance(stage, SteppedStage):
            # Steps in order, a barrier between them: a step plans its tasks from what the
            # steps before it wrote. Each task has its own marker: a rerun resumes mid-step.
            tasks = 0
            for step in guarded(stage, "(planning)", lambda: stage.steps(staged.config)):
                tasks += self._run_tasks(
                    StepTasks(stage, step), staged, f"{stage.name}:{step.name}",
                    lambda s=step: [s.task(shard)
                                    for shard in s.shards(stage.in_step(staged, s))])
            return tasks
        return self._run_tasks(stage, staged, stage.name, lambda: stage.shards(staged))

    def _run_tasks(self, stage: Stage, staged: Context, name: str,
                   plan: Callable[[], list[str]]) -> int:
        """Run the unfinished ones of the shards `plan` gives, with a progress bar; returns
        how many shards there are."""
        workspace = staged.workspace.committed
        shards = guarded(stage, "(planning)", plan)
        pending = [shard for shard in shards if not workspace.is_done(stage.name, shard)]
        label = f"{name} ({self.label})" if self.label else name
        bar = progress_bar(len(shards), len(shards) - len(pending), label, pending=pending)
        try:
            if pending:
                self.map_shards(stage, staged, pending, bar)
        finally:
            bar.close()
        return len(shards)

    def map_shards(self, stage: Stage, ctx: Context, pending: list[str],
                   progress: StageProgress) -> None:
        """Run `run_one_shard` for every pending shard, calling `progress.finish` with each
        result; the workers' record counts (`realsyn.progress.advance`) go to
        `progress.update` (`realsyn.progress.set_sink` in each worker)."""
        raise NotImplementedError

    def release(self) -> None:
        """Called once a stage's shards (all its steps) are done or failed: free workers
        kept between `map_shards` calls of the stage."""
