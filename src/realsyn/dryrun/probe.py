"""The probe: the run's own pipeline (user stages, renamed stages and re-wired datasets
included) run by the local executor on a stratified sample of the input, in a temporary
workspace, with the run's worker count (at most as many workers as the run's plan has shards).

Each stage is timed in wall seconds as the run will pay them: its tasks (the executor's
per-shard wall times) and, apart, what it pays once whatever its input, its *fixed* cost: the
pool's start, each worker's imports and model loads, finalize and commit. The records each stage
counts come from the same run, so the estimate (estimate.py) scales per-record wall time, never
CPU seconds.

The source stage (the first, which reads nothing from the workspace: ingest) is planned with
tiny units (`unit_documents` rows or files per shard) and only a stratified selection of its
shards is read: a spread from all over the input, then more until the sample holds documents,
images and text items (a corpus whose first documents have no images must still send images
through every later stage). The selection is made by reading candidate shards in a throwaway
workspace first. The real run's workspace, output folder and LLM cache are never touched.
"""

from __future__ import annotations

import copy
import importlib
import os
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from realsyn import datasets
from realsyn.config import RealsynConfig
from realsyn.dryrun.census import usable_image
from realsyn.executors.base import WALL
from realsyn.executors.local import LocalExecutor
from realsyn.pipeline import Pipeline
from realsyn.progress import StageProgress
from realsyn.registry import STAGES
from realsyn.stage import GLOBAL_SHARD, RECORDS, Context, Stage, SteppedStage
from realsyn.workspace import Workspace

RETRIEVED = datasets.RETRIEVED
IMAGES, TEXTS = datasets.IMAGES, datasets.TEXTS


def machine_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def machine_load() -> float:
    """The 1-minute load average (0 where the platform has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


@dataclass
class TaskCall:
    """One hand-out of shards by the executor: `tasks` shards at most `pool` at a time, their
    wall seconds summed (`task_s`)."""

    tasks: int
    pool: int
    task_s: float
    # (records, wall seconds) of each task
    each: list[tuple[int, float]] = field(default_factory=list)

    def concurrency(self) -> int:
        return max(1, min(self.pool, self.tasks))


def task_line(pairs: list[tuple[int, float]]) -> tuple[float, float]:
    """(seconds per task, seconds per record): a least-squares line through each task's
    (records, wall seconds), neither part below zero. A task pays more than its records:
    reading and writing its shard, and in a fresh worker the first use of lazily loaded
    libraries. Tasks of one size cannot tell the two apart: the probe's tasks are tiny by design
    (a source shard holds `unit_documents`), so all is taken as the task's."""
    records = sum(n for n, _ in pairs)
    total = sum(t for _, t in pairs)
    mean_n, mean_t = records / len(pairs), total / len(pairs)
    spread_n = sum((n - mean_n) ** 2 for n, _ in pairs)
    if spread_n == 0 or not records:
        return mean_t, 0.0
    slope = sum((n - mean_n) * (t - mean_t) for n, t in pairs) / spread_n
    if slope <= 0:
        return mean_t, 0.0
    intercept = mean_t - slope * mean_n
    if intercept < 0:
        return 0.0, total / records
    return intercept, slope


@dataclass
class StageProbe:
    """A stage as the probe ran it. Times are wall seconds on this machine."""

    name: str
    # The built-in stage it is (its class's registry name), whatever it is called in this
    # pipeline; None for a user stage.
    kind: str | None = None
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    wall_s: float = 0.0  # the whole stage, as the executor ran it
    calls: list[TaskCall] = field(default_factory=list)
    is_global: bool = False  # one task (GLOBAL_SHARD) whatever the input
    stepped: bool = False
    # Its input was thinned (generation's retrieved rows): records scale by ProbeResult.thinning
    thinned: bool = False
    cores: int = 1
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def records_in(self) -> int:
        return int(self.stats.get(RECORDS, 0))

    @property
    def task_s(self) -> float:
        """Wall seconds of all its tasks, summed."""
        return sum(call.task_s for call in self.calls)

    @property
    def tasks(self) -> int:
        return sum(call.tasks for call in self.calls)

    def task_pairs(self) -> list[tuple[int, float]]:
        """(records, wall seconds) of each of its tasks."""
        return [pair for call in self.calls for pair in call.each]

    def task_cost(self) -> tuple[float, float]:
        """(seconds per task, seconds per record) of its tasks' wall time: `task_line` through
        its tasks; all per record when the executor did not tell them apart."""
        pairs = self.task_pairs()
        if not pairs:
            return (0.0, self.task_s / self.records_in) if self.records_in else (0.0, 0.0)
        return task_line(pairs)

    def resampled_costs(self, rounds: int = 400, seed: int = 0) -> list[tuple[float, float]]:
        """`task_line` through `rounds` resamples (with replacement) of its tasks: how much the
        split of its time moves with which tasks the probe happened to run (the bootstrap);
        empty with fewer than 3 tasks, too few to resample. When the tasks had several sizes, a
        resample of one size (which cannot tell the split) is drawn again."""
        pairs = self.task_pairs()
        if len(pairs) < 3:
            return []
        rng = random.Random(seed)
        sizes = len({n for n, _ in pairs})
        costs = []
        while len(costs) < rounds:
            sample = rng.choices(pairs, k=len(pairs))
            if sizes == 1 or len({n for n, _ in sample}) > 1:
                costs.append(task_line(sample))
        return costs

    @property
    def parallelism(self) -> float:
        """Tasks that ran at once, on average over its task seconds."""
        return self.task_s / self.work_wall_s if self.work_wall_s else 1.0

    @property
    def work_wall_s(self) -> float:
        """The part of its wall time its tasks took: each hand-out's task seconds over the
        tasks that ran at once."""
        return sum(call.task_s / call.concurrency() for call in self.calls)

    @property
    def fixed_s(self) -> float:
        """Wall seconds it paid beside its tasks: pool start, imports and model loads in each
        worker, planning, finalize and commit."""
        return max(0.0, self.wall_s - self.work_wall_s)

    @property
    def contention(self) -> float:
        """How many tasks shared each core while they ran (1 when no more ran than cores): a
        task's wall time over what it takes alone on a core."""
        tasks = sum(call.task_s for call in self.calls)
        if not tasks:
            return 1.0
        return sum(call.task_s * max(1.0, call.concurrency() / self.cores)
                   for call in self.calls) / tasks


@dataclass
class ProbeResult:
    documents: int
    images: int
    texts: int
    stages: dict[str, StageProbe]
    generated_rows: list[dict[str, Any]]
    # Generation costs seconds per image: the probe generates for a spread of at most
    # `generate_rows` retrieved images; later stages scale by retrieved / generated.
    retrieved_rows: int = 0
    generated_probe_rows: int = 0
    workers: int = 1
    wall_s: float = 0.0
    # The machine's load (1-minute average, every process) at the probe's start and end
    load: tuple[float, float] | None = None

    @property
    def thinning(self) -> float:
        if not self.generated_probe_rows:
            return 1.0
        return self.retrieved_rows / self.generated_probe_rows

    def of_kind(self, kind: str) -> StageProbe | None:
        """The first stage of the pipeline that is the built-in `kind`."""
        return next((stage for stage in self.stages.values() if stage.kind == kind), None)


def stage_kind(stage: Stage) -> str | None:
    """The registry name of a built-in stage's class (a renamed stage keeps it)."""
    for name, target in STAGES.items():
        module, _, attribute = target.partition(":")
        if type(stage).__module__.startswith("realsyn.") and \
                getattr(importlib.import_module(module), attribute, None) is type(stage):
            return name
    return None


def probe_config(config: RealsynConfig, root: str, unit_documents: int,
                 workers: int | None = None) -> RealsynConfig:
    probe = config.model_copy(deep=True)
    probe.workspace = root
    probe.executor.kind = "local"
    probe.executor.workers = workers or 1
    probe.executor.shard_size = unit_documents
    probe.executor.progress_interval_s = 0
    probe.ingest.files_per_shard = unit_documents
    probe.write.output = None
    probe.generate.cache_path = None
    return probe


def spread(keys: list[str], count: int) -> list[str]:
    """`count` keys evenly spread over the list (all when it is shorter)."""
    if len(keys) <= count:
        return keys
    step = len(keys) / count
    return [keys[int(i * step)] for i in range(count)]


def spread_order(keys: list[str], count: int) -> list[str]:
    """All keys: first `count` spread over the list, then the rest in a seeded random order, so
    that a probe that must read on to find images still samples the whole input."""
    first = spread(keys, count)
    rest = [key for key in keys if key not in set(first)]
    random.Random(0).shuffle(rest)
    return first + rest


@dataclass
class Strata:
    """What the probe's ingest must hold before it stops reading shards: documents, and images
    that pass the image quality filter, and text items (a corpus whose first documents have no
    usable images must still send images through every later stage). `max_shards` bounds the
    reading when usable images are rare; text items beyond the probe's share are thinned
    before the sentence stage (`ProbeExecutor`), so reading on costs ingest only."""

    documents: int
    images: int
    texts: int
    max_shards: int
    min_shards: int = 1

    def enough(self, read: Counter, shards: int) -> bool:
        if shards < self.min_shards:
            return False
        if shards >= self.max_shards:
            return True
        return (read["documents_out"] >= self.documents and read["images_usable"] >= self.images
                and read["texts_out"] >= self.texts)


def usable_images(workspace: Workspace, shard: str, config: RealsynConfig) -> int:
    """Images of an ingest shard that extract_images would keep: decoded, and passing its
    size and aspect rules."""
    if shard not in workspace.shards(IMAGES):
        return 0
    cfg = config.extract.images
    column = workspace.read_table(IMAGES, shard, columns=["bytes"]).column("bytes")
    return sum(usable_image(data, cfg) is not None for data in column.to_pylist() if data)


class FixedShards:
    """A source stage's `shards` cut to a selection: the stage plans as usual (ingest writes
    its plan), then only the selected shards are run. Picklable, for pool workers."""

    def __init__(self, stage: Stage, keep: list[str]):
        self.planner = copy.copy(stage)  # the stage's own `shards`, not this one
        self.keep = list(keep)

    def __call__(self, ctx: Context) -> list[str]:
        planned = set(type(self.planner).shards(self.planner, ctx))
        return [shard for shard in self.keep if shard in planned]


def select_shards(stage: Stage, config: RealsynConfig, strata: Strata, first: int) -> list[str]:
    """The source stage's shards the probe runs: `first` spread over the input, then more (in a
    seeded random order) until `strata` is met, read in a throwaway workspace."""
    with tempfile.TemporaryDirectory(prefix="realsyn-probe-select-") as root:
        ctx = Context(config=config.model_copy(update={"workspace": root}),
                      workspace=Workspace(root))
        planner = copy.copy(stage)
        order = spread_order(planner.shards(ctx), first)
        planner.setup(ctx)
        read: Counter = Counter()
        chosen: list[str] = []
        for shard in order:
            if strata.enough(read, len(chosen)):
                break
            stats = planner.process(ctx, shard)
            read.update({k: v for k, v in stats.items() if isinstance(v, int | float)})
            read["images_usable"] += (usable_images(ctx.workspace, shard, config)
                                      if stage_kind(stage) == "ingest" else
                                      int(stats.get("images_out", 0)))
            chosen.append(shard)
        return sorted(chosen)


def thin_dataset(workspace: Workspace, name: str, rows: int, shards: int) -> tuple[int, int]:
    """Keep an even spread of at most `rows` rows of dataset `name`, in `shards` shards (so that
    a pool of workers still shares them) of unequal sizes (1, 3, 5... parts: tasks of several
    sizes tell a task's own cost from its records'); (rows before, rows after). The folder's
    commit marker stays."""
    table = workspace.read_dataset(name)
    before = table.num_rows
    if before <= rows:
        return before, before
    keep = [int(i * before / rows) for i in range(rows)]
    table = table.take(pa.array(keep, pa.int64()))
    for shard in workspace.shards(name):
        workspace.fs.rm(workspace.path("datasets", name, f"{shard}.parquet"))
    shards = max(1, min(shards, rows // 2 if shards > 1 else 1))
    edges = [0] + [max(i + 1, round(rows * (i + 1) ** 2 / shards ** 2)) for i in range(shards)]
    edges[-1] = rows
    for index in range(shards):
        lo, hi = edges[index], max(edges[index], edges[index + 1])
        workspace.write_table(name, f"{index:05d}", table.slice(lo, hi - lo))
    return before, rows


class ProbeExecutor(LocalExecutor):
    """The local executor, timing each stage (wall) and each hand-out of its shards; before a
    stage that reads the retrieved images it thins them to `generate_rows`, and before the
    stage that reads the text items, them to `max_texts` (the probe reads on for usable
    images; every text item kept goes through the sentence and embedding stages)."""

    def __init__(self, workers: int, cores: int, generate_rows: int, max_texts: int = 1000):
        super().__init__(workers=workers)
        self.cores, self.generate_rows, self.max_texts = cores, generate_rows, max_texts
        self.probes: dict[str, StageProbe] = {}
        self.retrieved = self.generated = 0
        self.texts_kept: int | None = None  # text items left by thinning (None: not thinned)
        self._thinned = False
        self._current: StageProbe | None = None

    def run(self, stage: Stage, ctx: Context, producers: dict[str, str] | None = None
            ) -> dict[str, Any]:
        reads = stage.reads(ctx.config)
        if self.texts_kept is None and datasets.dataset(TEXTS) in reads and \
                ctx.workspace.shards(TEXTS):
            # several tasks of unequal sizes: what a task pays apart from its records shows
            _, self.texts_kept = thin_dataset(ctx.workspace, TEXTS, self.max_texts,
                                              max(4, 2 * self.workers))
        if not self._thinned and datasets.dataset(RETRIEVED) in reads and \
                ctx.workspace.shards(RETRIEVED):
            self.retrieved, self.generated = thin_dataset(
                ctx.workspace, RETRIEVED, self.generate_rows, self.workers)
            self._thinned = True
        probe = StageProbe(stage.name, stage_kind(stage), reads, stage.writes(ctx.config),
                           stepped=isinstance(stage, SteppedStage), thinned=self._thinned,
                           cores=self.cores)
        self.probes[stage.name] = self._current = probe
        started = time.perf_counter()
        try:
            probe.stats = super().run(stage, ctx, producers)
        except Exception as error:  # the estimate says which stage the probe could not run
            probe.error = f"{type(error).__name__}: {error}"
            raise
        finally:
            probe.wall_s = time.perf_counter() - started
        return probe.stats

    def map_shards(self, stage: Stage, ctx: Context, pending: list[str],
                   tracker: StageProgress) -> None:
        each: list[tuple[int, float]] = []
        finish = tracker.finish

        def finished(shard: str, stats: dict[str, Any]) -> None:
            each.append((int(stats.get(RECORDS, 0)), float(stats.get(WALL, 0.0))))
            finish(shard, stats)

        tracker.finish = finished  # type: ignore[method-assign]
        pool = 1 if self.workers == 1 or len(pending) <= 1 else self.workers
        try:
            super().map_shards(stage, ctx, pending, tracker)
        finally:
            tracker.finish = finish  # type: ignore[method-assign]
            if self._current is not None:
                self._current.calls.append(TaskCall(len(pending), pool,
                                                    sum(t for _, t in each), each))
                if pending == [GLOBAL_SHARD] and not self._current.stepped:
                    self._current.is_global = True


def source_stage(stages: list[Stage], config: RealsynConfig) -> Stage | None:
    """The stage that reads the inputs: the first that reads nothing from the workspace."""
    first = stages[0] if stages else None
    return first if first is not None and not first.reads(config) else None


def run_probe(config: RealsynConfig, documents: int = 4, unit_documents: int = 2,
              generate_rows: int = 8, root: str | None = None, min_images: int = 8,
              max_documents: int = 40, shards_total: int | None = None,
              cores: int | None = None, max_texts: int = 1000) -> ProbeResult:
    """`documents` spread over the input, then more until the probe holds `min_images` usable
    images (at most `max_documents` documents read; at most `max_texts` of their text items go
    on past ingest), through the config's pipeline on the local
    executor with the run's workers (no more than `shards_total`, the shards of the run's
    plan: a pool as large as the run's)."""
    cores = cores or machine_cores()
    workers = max(1, min(config.executor.workers, shards_total or config.executor.workers))
    with tempfile.TemporaryDirectory(prefix="realsyn-probe-") as temporary:
        probe = probe_config(config, root or temporary, unit_documents, workers)
        pipeline = Pipeline.from_config(probe)
        selected = pipeline.select(probe)
        source = source_stage(selected, probe)
        if source is not None:
            first = max(workers, -(-documents // unit_documents))
            strata = Strata(documents, min_images if stage_kind(source) == "ingest" else 0, 1,
                            max(first, max_documents // max(1, unit_documents)),
                            min_shards=first)
            source.shards = FixedShards(source, select_shards(  # type: ignore[method-assign]
                source, probe, strata, first))
        executor = ProbeExecutor(workers, cores, generate_rows, max_texts)
        load_before = machine_load()
        started = time.perf_counter()
        try:
            pipeline.run(probe, executor=executor, report=lambda line: None)
        except Exception:  # recorded on the failed stage (ProbeExecutor.run)
            if not any(stage.error for stage in executor.probes.values()):
                raise
        wall = time.perf_counter() - started
        workspace = Workspace(probe.workspace)
        ingest = next((p.stats for p in executor.probes.values() if p.kind == "ingest"), {})
        generated = next((p for p in executor.probes.values() if p.kind == "generate"), None)
        rows: list[dict[str, Any]] = []
        if generated is not None and generated.writes:
            name = generated.writes[0].removeprefix("datasets/")
            if workspace.shards(name):
                rows = workspace.read_dataset(name).to_pylist()
        texts = int(ingest.get("texts_out", 0))
        return ProbeResult(documents=int(ingest.get("documents_out", 0)),
                           images=int(ingest.get("images_out", 0)),
                           texts=texts if executor.texts_kept is None else executor.texts_kept,
                           stages=executor.probes, generated_rows=rows,
                           retrieved_rows=executor.retrieved,
                           generated_probe_rows=executor.generated, workers=workers,
                           wall_s=wall, load=(load_before, machine_load()))
