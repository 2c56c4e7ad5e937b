"""The probe: the real stages run on a few documents of the input, in a temporary workspace, one
process, timing each stage's model loading (`setup`) apart from its work (`process`).

Ingest is planned with tiny units (`unit_documents` rows or files per shard) and only a spread
of its shards is read, so the probe sees documents from all over the input. The real run's
workspace, output folder and LLM cache are never touched.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from realsyn import datasets
from realsyn.config import RealsynConfig
from realsyn.pipeline import load_stage, select_stages
from realsyn.stage import GLOBAL_SHARD, RECORDS, Context
from realsyn.workspace import Workspace

RETRIEVED = datasets.RETRIEVED


@dataclass
class StageProbe:
    """Times are CPU seconds of this process (all its threads): what the work costs on an
    idle machine, however busy the machine is while the probe runs; wall seconds beside."""

    name: str
    # CPU seconds of importing the stage's module the first time in this process (what each
    # freshly spawned worker of a local pool pays again, less modules an earlier stage imported)
    import_s: float = 0.0
    setup_s: float = 0.0
    process_s: float = 0.0
    wall_s: float = 0.0
    shards: int = 0
    is_global: bool = False
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def records_in(self) -> int:
        return int(self.stats.get(RECORDS, 0))


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

    @property
    def thinning(self) -> float:
        if not self.generated_probe_rows:
            return 1.0
        return self.retrieved_rows / self.generated_probe_rows


def probe_config(config: RealsynConfig, root: str, unit_documents: int) -> RealsynConfig:
    probe = config.model_copy(deep=True)
    probe.workspace = root
    probe.executor.kind = "local"
    probe.executor.workers = 1
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
    and text items (a corpus whose first documents have no images must still send images
    through every later stage). `max_shards` and `max_texts` bound the reading when images are
    rare: every text item read goes through the sentence and embedding stages."""

    documents: int
    images: int
    texts: int
    max_shards: int
    max_texts: int = 1000

    def enough(self, read: Counter, shards: int) -> bool:
        if shards >= self.max_shards or read["texts_out"] >= self.max_texts:
            return True
        return (read["documents_out"] >= self.documents and read["images_out"] >= self.images
                and read["texts_out"] >= self.texts)


def _run_stage(name: str, ctx: Context, only: list[str] | None = None,
               strata: Strata | None = None) -> StageProbe:
    started = time.process_time()
    stage = load_stage(name)
    result = StageProbe(name, import_s=time.process_time() - started)
    try:
        shards = stage.shards(ctx)
        result.is_global = shards == [GLOBAL_SHARD]
        if only is not None:
            shards = only
        wall, started = time.perf_counter(), time.process_time()
        stage.setup(ctx)
        result.setup_s = time.process_time() - started
        started = time.process_time()
        read: Counter = Counter()
        done = 0
        for shard in shards:
            if strata is not None and strata.enough(read, done):
                break
            stats = stage.process(ctx, shard)
            read.update({k: v for k, v in stats.items() if isinstance(v, int | float)})
            ctx.workspace.mark_done(name, shard, stats)
            done += 1
        merged = ctx.workspace.merge_stats(name)
        stage.finalize(ctx, merged)
        result.process_s = time.process_time() - started
        result.wall_s = time.perf_counter() - wall
        result.shards, result.stats = done, merged
    except Exception as error:  # the estimate says which stage the probe could not run
        result.error = f"{type(error).__name__}: {error}"
    return result


def thin_retrieved(workspace: Workspace, rows: int) -> tuple[int, int]:
    """Keep an even spread of at most `rows` rows of `retrieved`; (rows before, rows after)."""
    table = workspace.read_dataset(RETRIEVED)
    before = table.num_rows
    if before > rows:
        keep = [int(i * before / rows) for i in range(rows)]
        table = table.take(pa.array(keep, pa.int64()))
        workspace.fs.rm(workspace.path("datasets", RETRIEVED), recursive=True)
        workspace.write_table(RETRIEVED, "00000", table)
    return before, table.num_rows


def run_probe(config: RealsynConfig, documents: int = 4, unit_documents: int = 2,
              generate_rows: int = 6, root: str | None = None, min_images: int = 8,
              max_documents: int = 40) -> ProbeResult:
    """`documents` spread over the input, then more until the probe holds `min_images` images
    (at most `max_documents` documents read)."""
    with tempfile.TemporaryDirectory(prefix="realsyn-probe-") as temporary:
        probe = probe_config(config, root or temporary, unit_documents)
        ctx = Context(config=probe, workspace=Workspace(probe.workspace))
        stages: dict[str, StageProbe] = {}
        names = select_stages(config)
        retrieved = generated = 0
        for name in names:
            if name == "generate" and ctx.workspace.shards(RETRIEVED):
                retrieved, generated = thin_retrieved(ctx.workspace, generate_rows)
            if name == "ingest":
                planned = load_stage("ingest").shards(ctx)
                first = max(1, -(-documents // unit_documents))
                strata = Strata(documents, min_images, 1,
                                max(first, max_documents // max(1, unit_documents)))
                result = _run_stage(name, ctx, spread_order(planned, first), strata)
            else:
                result = _run_stage(name, ctx)
            stages[name] = result
            if result.error:
                break
        workspace = ctx.workspace
        ingest = workspace.stage_stats("ingest")
        rows = (workspace.read_dataset(datasets.GENERATED).to_pylist()
                if workspace.shards(datasets.GENERATED) else [])
        return ProbeResult(documents=int(ingest.get("documents_out", 0)),
                           images=int(ingest.get("images_out", 0)),
                           texts=int(ingest.get("texts_out", 0)),
                           stages=stages, generated_rows=rows, retrieved_rows=retrieved,
                           generated_probe_rows=generated)
