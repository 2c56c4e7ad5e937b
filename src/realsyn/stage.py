"""What a pipeline stage is.

A *shard stage* maps each input shard to output shards independently: the executor runs
`process(ctx, shard)` for every unfinished shard, in any order, on any worker, and records a
completion marker with its stats. A stage whose `shards` is the default ``[GLOBAL_SHARD]`` runs
`process` once, on one node, with the same marker; the stages over whole datasets (dedup
grouping, k-means, balancing) are `SteppedStage`s instead: steps of parallel tasks.

`process` must write its outputs through the workspace (atomic) and be deterministic: the same
input shard gives byte-identical outputs, whichever worker runs it and however often.

A stage declares what it reads and writes (`reads` / `writes`: workspace folders such as
`datasets/images_final`, built from the names in `realsyn.datasets`), so a pipeline can check its
wiring before running, refuse to run on missing inputs, replace outputs as a whole, and decide
what is stale from fingerprints (`config_paths`, `version`; see `realsyn.fingerprint`). Its
transient intermediate data (`scratch`) is declared apart: it is not an output. The steps of a
`SteppedStage` declare in turn which scratch datasets each reads and writes (`Step.reads` /
`Step.writes`), resolve them through `Context.scratch_read` / `scratch_write`, and are checked
like stages: every scratch dataset a step reads is written by a step before it (`check_steps`).
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from realsyn.config import RealsynConfig
from realsyn.drops import DROPPED, Drop, counted_drops
from realsyn.workspace import Workspace, add_counters

GLOBAL_SHARD = "all"
# Completion markers of a step's tasks are named "<step>~<shard>" in the stage's markers, so a
# stage's resume, stats merge and reset cover its steps without knowing about them.
STEP_SEPARATOR = "~"
# Stats key that progress bars count as records; every stage should report it.
RECORDS = "records_in"


class WiringError(ValueError):
    """A stage reads a dataset that no stage before it writes and the workspace lacks, or a
    step reads a scratch dataset that no step before it writes."""


class UndeclaredScratchError(RuntimeError):
    """A step resolved a scratch dataset that its `reads`/`writes` do not declare."""


@dataclass
class Context:
    config: RealsynConfig
    workspace: Workspace
    # The running step of a SteppedStage (its tasks and its planning); None outside steps.
    step: StepScope | None = None

    def scratch_read(self, name: str, *parts: str) -> str:
        """The path of scratch dataset `name` (a folder or file directly under the stage's
        scratch folder, e.g. "edges" or "meta.json") or of `parts` inside it, for reading: the
        running step must declare it in its reads (or writes: it may read back its own)."""
        scope = self._scope(name)
        declared = (*scope.step.reads, *scope.step.writes)
        if name not in declared:
            raise scope.undeclared("reads", name, "reads and writes", declared)
        return posixpath.join(scope.folder, name, *parts)

    def scratch_write(self, name: str, *parts: str) -> str:
        """The path of scratch dataset `name` (or of `parts` inside it), for writing: the
        running step must declare it in its writes."""
        scope = self._scope(name)
        if name not in scope.step.writes:
            raise scope.undeclared("writes", name, "writes", scope.step.writes)
        return posixpath.join(scope.folder, name, *parts)

    def _scope(self, name: str) -> StepScope:
        if self.step is None:
            raise UndeclaredScratchError(
                f"scratch dataset {name!r} resolved outside a step: only the steps of a "
                f"SteppedStage have scratch")
        return self.step


@dataclass(frozen=True)
class StepScope:
    """Which step of which stage runs, and where its stage's scratch lives."""

    stage: str
    step: Step
    folder: str

    def undeclared(self, verb: str, name: str, lists: str,
                   declared: tuple[str, ...]) -> UndeclaredScratchError:
        return UndeclaredScratchError(
            f"step {self.step.name!r} of stage {self.stage!r} {verb} scratch dataset {name!r}, "
            f"which its {lists} do not declare (declared: {', '.join(declared) or 'none'})")


class Stage:
    name: str
    description: ClassVar[str] = ""
    # Bump when the stage's output format or logic changes: its outputs become stale.
    version: ClassVar[str] = "1"
    # The config sections or fields (dotted) whose values the outputs depend on.
    config_paths: ClassVar[tuple[str, ...]] = ()
    # Resources one worker of this stage needs (for schedulers such as Ray).
    num_cpus: ClassVar[float] = 1.0
    num_gpus: ClassVar[float] = 0.0
    # What a stage leaves beside its outputs, declared like them (the workspace refuses the
    # rest while it runs): files under report/ it writes for people, the HTML report and the
    # card (rewritten by every run, not committed with the outputs); reports of earlier
    # stages it reads when they are there (the writer's card shows the extraction funnel);
    # paths it keeps across runs for its own reuse (not outputs: a rerun with other
    # settings may reuse them).
    reports: ClassVar[tuple[str, ...]] = ()
    report_reads: ClassVar[tuple[str, ...]] = ()
    caches: ClassVar[tuple[str, ...]] = ()

    def reads(self, config: RealsynConfig) -> list[str]:
        """Workspace folders this stage reads (`realsyn.datasets.dataset(...)` / `array(...)`)."""
        return []

    def writes(self, config: RealsynConfig) -> list[str]:
        """Folders this stage writes and replaces as a whole when it completes: workspace
        folders, or a URL outside the workspace (the writer's output)."""
        return []

    def scratch(self, config: RealsynConfig) -> list[str]:
        """Workspace folders of intermediate data only this stage's own steps read (e.g.
        `scratch/<stage>`): written in place, not committed, kept while the stage is
        unfinished (a resumed run reuses them) and removed once it commits, unless
        `executor.keep_scratch`. A later stage must never read them."""
        return []

    def fingerprint_extra(self, config: RealsynConfig) -> dict[str, Any]:
        """What else, beyond `config_paths`, changes this stage's outputs: settings of the
        instance (a user stage's own config, filters given in Python) or of its inputs."""
        return {}

    def setup(self, ctx: Context) -> None:
        """Load models and other heavy state; called once per worker before any shard."""

    def pooled(self) -> Stage:
        """The stage a worker pool is set up with; a pool may be kept for the next call with
        the same one (the steps of one stage)."""
        return self

    def shards(self, ctx: Context) -> list[str]:
        """The shard keys this stage must produce."""
        return [GLOBAL_SHARD]

    def process(self, ctx: Context, shard: str) -> dict[str, Any]:
        """Produce the outputs of one shard and return its stats (counters)."""
        raise NotImplementedError

    def finalize(self, ctx: Context, stats: dict[str, Any]) -> None:
        """Called once after every shard is done, with the merged stats."""

    def summary(self, ctx: Context, stats: dict[str, Any]) -> str:
        """A few human lines about the finished stage, printed by the CLI."""
        return ", ".join(f"{key}={value}" for key, value in stats.items())

    def drop_settings(self, config: RealsynConfig) -> dict[str, tuple[str, Any]]:
        """The setting that decides each drop reason: reason -> (dotted field, value)."""
        return {}

    def drops(self, ctx: Context, stats: dict[str, Any]) -> list[Drop]:
        """What the stage dropped, by reason and out of which input, for the warning when a
        reason drops most of it (realsyn.drops); default: `dropped_*` of `records_in`."""
        reasons = [key.removeprefix(DROPPED) for key in stats if key.startswith(DROPPED)]
        of = {reason: int(stats.get(self.drop_input(reason), 0)) for reason in reasons}
        return counted_drops(stats, of, self.drop_settings(ctx.config))

    def drop_input(self, reason: str) -> str:
        """The stats key counting the input that drop reason `reason` removes records from."""
        return RECORDS

    def closing_report(self, ctx: Context) -> str | None:
        """Text printed once after a run in which this stage ran (the same text from several
        stages is printed once), e.g. the extraction funnel."""
        return None


@dataclass
class Step:
    """One step of a `SteppedStage`: tasks over `shards(ctx)`, each `process(ctx, shard)`
    writing its own outputs and returning its stats. Steps run in order with a barrier between
    them; the tasks of one step run in parallel. Give bound methods of the stage (picklable for
    process pools and Ray), never lambdas. Name: letters, digits, underscores.

    `reads` / `writes` name the scratch datasets (entries of the stage's scratch folder) the
    step's planning and tasks read and write, as a stage declares its datasets: they resolve
    them through `Context.scratch_read` / `scratch_write`, which refuse any other."""

    name: str
    shards: Callable[[Context], list[str]]
    process: Callable[[Context, str], dict[str, Any]]
    reads: tuple[str, ...] = field(default=(), kw_only=True)
    writes: tuple[str, ...] = field(default=(), kw_only=True)
    # Resources of one worker of this step; None: the stage's.
    num_cpus: float | None = None
    num_gpus: float | None = None

    def __post_init__(self) -> None:
        if not self.name.replace("_", "").isalnum():
            raise ValueError(f"step name {self.name!r}: use letters, digits and underscores")

    def task(self, shard: str) -> str:
        return f"{self.name}{STEP_SEPARATOR}{shard}"


class SteppedStage(Stage):
    """A stage made of steps (map, shuffle, reduce over partitioned intermediate data).

    Still one stage for the user (fingerprint, commit, status); the executor runs its steps
    one after the other (see `realsyn.executors.base`). Run in one process (a dry-run probe),
    its single shard runs every step's tasks in order."""

    def steps(self, config: RealsynConfig) -> list[Step]:
        raise NotImplementedError

    def scratch_folder(self, config: RealsynConfig) -> str:
        """Where the steps' scratch datasets live."""
        return posixpath.join("scratch", self.name)

    def scratch(self, config: RealsynConfig) -> list[str]:
        return [self.scratch_folder(config)]

    def check_steps(self, config: RealsynConfig) -> list[Step]:
        """The steps, once checked as stages are: every scratch dataset a step reads is
        written by a step before it (the steps run in order, a barrier between them)."""
        steps = self.steps(config)
        written: set[str] = set()
        for step in steps:
            for name in step.reads:
                if name not in written:
                    raise WiringError(
                        f"step {step.name!r} of stage {self.name!r} reads scratch dataset "
                        f"{name!r}, which no step before it writes")
            written.update(step.writes)
        return steps

    def in_step(self, ctx: Context, step: Step) -> Context:
        """`ctx` for the planning and tasks of `step`: its scratch declarations apply."""
        return replace(ctx, step=StepScope(self.name, step, self.scratch_folder(ctx.config)))

    def process(self, ctx: Context, shard: str) -> dict[str, Any]:
        """A task "<step>~<shard>" of one step; any other key: every step in order."""
        name, separator, task = shard.partition(STEP_SEPARATOR)
        if separator:
            for step in self.steps(ctx.config):
                if step.name == name:
                    return step.process(self.in_step(ctx, step), task)
            raise ValueError(f"stage {self.name!r} has no step {name!r}")
        total: Counter[str] = Counter()
        for step in self.check_steps(ctx.config):
            step_ctx = self.in_step(ctx, step)
            for task in step.shards(step_ctx):
                add_counters(total, step.process(step_ctx, task))
        return dict(total)


class StepTasks(Stage):
    """The tasks of one step, seen by an executor as a plain stage: its shards are the step's
    task keys ("<step>~<shard>") and its markers are the stage's, so `map_shards` of every
    executor runs steps unchanged."""

    def __init__(self, stage: SteppedStage, step: Step):
        self.stage, self.step = stage, step
        self.name = stage.name
        self.num_cpus = stage.num_cpus if step.num_cpus is None else step.num_cpus
        self.num_gpus = stage.num_gpus if step.num_gpus is None else step.num_gpus

    def setup(self, ctx: Context) -> None:
        self.stage.setup(ctx)

    def process(self, ctx: Context, shard: str) -> dict[str, Any]:
        prefix = self.step.name + STEP_SEPARATOR
        if not shard.startswith(prefix):
            raise ValueError(f"task {shard!r} is not a task of step {self.step.name!r}")
        return self.step.process(self.stage.in_step(ctx, self.step), shard[len(prefix):])

    def pooled(self) -> Stage:
        """What a worker pool kept for every step of the stage runs: the stage itself, which
        runs a task of any of its steps from the task's key."""
        return self.stage
