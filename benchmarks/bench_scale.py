"""Scaling benchmark of the partitioned global stages: N, 3N and 10N sentences with N/4 images.

A synthetic corpus of topic-clustered embeddings (no models): sentences drawn around topic
directions, images around the same topics plus a shared offset (the modality gap), with ids,
texts, document ids, pHashes and image sizes generated alongside, written as the extract
stage leaves them (`sentences_filtered` / `images_filtered`) in shards of --shard-size, one
shard in memory at a time. 1% of each dataset's rows are planted copies of each kind: exact
(a text in capitals; a pHash 3 bits away), near (a text with a word appended) and semantic
(the source's embedding plus a little noise, new text and pHash). Each scale runs in its own
process through the issue's chain on the local executor with --workers process workers:
`dedup` -> `embed` (a stand-in: the corpus's vectors of the rows dedup kept, written shard
by shard row-aligned with `images_dedup` / `sentences_dedup`) -> `semantic_dedup` ->
`retrieve` -> `generate` (a stand-in: a per-shard copy of `retrieved` with a `syn_text`, no
model) -> `balance`. Every task (single ones too) runs in a worker, so the driver holds no
dataset.

Measured per scale, in one run: wall time per stage, records/s per core, peak RSS of the driver
and of the largest task (each task's own peak, from its stats: the executor resets the worker's
high-water mark before every task, realsyn/memory.py), bytes written per stage (its outputs, and
apart its scratch, kept for the measurement), task-seconds and the largest task's peak per
step. From the per-step rates between the smallest and the largest scale it then estimates
the paper's scale (198M images, 0.84B sentences, 1024-d) on a named cluster (see `estimate`).

    python benchmarks/bench_scale.py --n 250000 --dim 256          # the issue's sizes
    python benchmarks/bench_scale.py --n 20000 --dim 64 --scales 1 3 10   # a small machine

Measured (--n 30000 --dim 128 --scales 1 3 10 --shard-size 5000 --task-memory-mb 16, 2 cores
shared with two other jobs; MB written: dedup / embed / semantic_dedup / retrieve / generate /
balance):

    scale  records  wall     rec/s/core  driver   largest task  MB written
    1N      37,500   13.1 s  1427        146 MiB  359 MiB       66 / 9.4 / 92 / 15 / 1.7 / 0.6
    3N     112,500   34.5 s  1630        146 MiB  428 MiB       279 / 28 / 317 / 46 / 5.4 / 1.9
    10N    375,000  129.1 s  1453        157 MiB  427 MiB       1226 / 94 / 1250 / 162 / 19 / 6.7

10N / 1N: largest task RSS 1.19x, throughput per core 1.02x (targets <= 1.25x, >= 0.8x). The
current results and the paper-scale estimate they give (committed: benchmarks/measured/scale.json,
`--estimate-from`) are in docs/cluster.md, "How it scales".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from realsyn import datasets
from realsyn.balance.sampling import default_n_clusters
from realsyn.config import BalanceConfig, RetrieveConfig, parse_config
from realsyn.dataflow.kmeans import REFINE_ITERATIONS, coarse_count
from realsyn.dataflow.sampling import training_sample_size
from realsyn.executors.base import TASK_MEMORY
from realsyn.executors.local import LocalExecutor
from realsyn.retrieve.lists import list_count
from realsyn.stage import RECORDS, STEP_SEPARATOR, Context, Stage
from realsyn.workspace import Workspace

RESULTS = Path(__file__).resolve().parent / "results"
FIT_IMAGES = 1000  # retrieve.routing_fit_images: searched exactly against every sentence
SENTENCES_PER_TOPIC = 2000
PLANTED_SHARE = 0.01  # of each kind of copy (exact, near, semantic) per input dataset
IMAGES, SENTENCES = "images", "sentences"
KINDS = (IMAGES, SENTENCES)
SOURCES = {IMAGES: datasets.IMAGES_FILTERED, SENTENCES: datasets.SENTENCES_FILTERED}
KEPT = {IMAGES: datasets.IMAGES_DEDUP, SENTENCES: datasets.SENTENCES_DEDUP}
PAPER = {"images": 198e6, "sentences": 0.84e9, "dim": 1024, "clusters": 2e6,
         "balance_clusters": 1e6, "sentences_per_cluster": 420}
# The retrieve index a run builds with the default settings: lists per paper cluster, probes.
DEFAULT_LISTS = {"lists_per_cluster": RetrieveConfig().list_split,
                 "nprobe": RetrieveConfig().lists_probed}
# What runs recorded before they said (scale.json of 2026-12-01): paper-sized lists, 3 probes.
EARLIER_LISTS = {"lists_per_cluster": 1, "nprobe": 3}
# The named cluster of the estimate: 64 CPU nodes of 32 cores and 256 GiB, object storage.
CLUSTER = {"nodes": 64, "cores_per_node": 32, "memory_gib_per_node": 256}
# Steps not spread over the cluster's cores: k-means trainings run on one node (faiss is
# multithreaded), dedup's union-find `groups` is one task per kind.
PARALLEL = {"train": CLUSTER["cores_per_node"], "centroids": CLUSTER["cores_per_node"],
            "groups": 2}
PARTITION_SIZE = 2000  # extract.partition_size
BENCH_TRAINING = 100_000  # run_scale's retrieve. and balance.max_training_points
SEMANTIC_TRAINING = 100_000  # extract.max_training_points


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


# ---------------------------------------------------------------------------- the corpus
def corpus_basis(n_sentences: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(topic directions, modality gap): shared by the corpus and the embed stand-in."""
    rng = np.random.default_rng(seed)
    n_topics = max(8, n_sentences // SENTENCES_PER_TOPIC)
    topics = unit(rng.standard_normal((n_topics, dim))).astype(np.float32)
    return topics, 0.3 * unit(rng.standard_normal((1, dim)))


def shard_content(kind: str, number: int, start: int, stop: int, topics: np.ndarray,
                  gap: np.ndarray, seed: int) -> dict[str, Any]:
    """One shard's rows, a pure function of (seed, kind, shard): the embed stand-in redraws
    the vectors of the rows dedup kept. A share of rows are planted copies of an earlier row
    of the shard, one third of each kind of copy: exact / near (the dedup stage's), and
    semantic (semantic_dedup's: the source's vector plus a little noise, new text / pHash)."""
    rng = np.random.default_rng([seed, KINDS.index(kind), number])
    count, dim = stop - start, topics.shape[1]
    copy = (rng.random(count) < 3 * PLANTED_SHARE) & (np.arange(count) > 0)
    copy[0] = False
    source = np.where(copy, (rng.random(count) * np.arange(count)).astype(np.int64),
                      np.arange(count))
    root = source.copy()  # the original a chain of copies goes back to (sources come first)
    for row in np.flatnonzero(copy):
        root[row] = root[source[row]]
    how = rng.integers(0, 3, count)  # 0 exact, 1 near, 2 semantic (for the copies)
    topic = rng.integers(0, len(topics), count)[root]
    offset = 1.0 if kind == IMAGES else 0.0
    vectors = unit(topics[topic] + offset * gap
                   + 2.4 * rng.standard_normal((count, dim)) / np.sqrt(dim))
    jitter = unit(vectors[root] + 0.02 * rng.standard_normal((count, dim)) / np.sqrt(dim))
    vectors = np.where(copy[:, None], jitter, vectors).astype(np.float16)
    textual = copy & (how < 2)  # copies the dedup stage should find
    planted = (int(textual.sum()), int((copy & (how == 2)).sum()))
    if kind == IMAGES:
        phash = rng.integers(0, 2**62, count)
        flips = np.bitwise_or.reduce(1 << rng.integers(0, 62, (count, 3)), axis=1)
        phash = np.where(textual, phash[root] ^ flips, phash)
        side = rng.integers(200, 1200, (count, 2))
        return {"topic": topic, "vectors": vectors, "phash": phash, "planted": planted,
                "width": side[:, 0], "height": side[:, 1]}
    words = rng.integers(0, 5000, (count, 20))  # long enough that " again" stays near
    texts = [" ".join(f"w{w}" for w in row) + f" row {start + i}" for i, row in enumerate(words)]
    for i in np.flatnonzero(textual):
        texts[i] = texts[source[i]].upper() if how[i] == 0 else texts[source[i]] + " again"
    return {"topic": topic, "vectors": vectors, "texts": texts, "planted": planted}


def shard_bounds(total: int, shard_size: int) -> list[tuple[int, int, int]]:
    return [(number, start, min(start + shard_size, total))
            for number, start in enumerate(range(0, total, shard_size))]


def make_corpus(root: str, n_sentences: int, dim: int, shard_size: int, seed: int) -> None:
    """Write images_filtered / sentences_filtered shard by shard (memory: one shard), as the
    extract stage leaves them: no embeddings yet (see StandInEmbed)."""
    workspace = Workspace(root)
    topics, gap = corpus_basis(n_sentences, dim, seed)
    for kind, total in ((SENTENCES, n_sentences), (IMAGES, n_sentences // 4)):
        for number, start, stop in shard_bounds(total, shard_size):
            rows = np.arange(start, stop)
            part = shard_content(kind, number, start, stop, topics, gap, seed)
            docs = [f"d{t}-{r % 7}" for t, r in zip(part["topic"], rows, strict=True)]
            if kind == SENTENCES:
                table = pa.table({"sentence_id": [f"s{r}" for r in rows], "doc_id": docs,
                                  "position": pa.array(np.zeros(len(rows)), pa.int32()),
                                  "text": part["texts"]})
            else:
                table = pa.table({"image_id": [f"i{r}" for r in rows], "doc_id": docs,
                                  "position": pa.array(np.ones(len(rows)), pa.int32()),
                                  "url": [f"https://example.org/{r}.jpg" for r in rows],
                                  "phash": pa.array(part["phash"], pa.int64()),
                                  "width": pa.array(part["width"], pa.int32()),
                                  "height": pa.array(part["height"], pa.int32())})
            workspace.write_table(SOURCES[kind], f"{number:05d}", table)
    workspace.update_manifest(encoder="synthetic")


class StandInEmbed(Stage):
    """The embed stage's arrays for dedup's outputs, shard by shard: the corpus's vectors of
    the rows dedup kept (by id), row-aligned with images_dedup / sentences_dedup. No model."""

    name = "embed"

    def __init__(self, n_sentences: int, shard_size: int, dim: int, seed: int) -> None:
        self.n_sentences, self.shard_size, self.dim, self.seed = (n_sentences, shard_size,
                                                                  dim, seed)

    def reads(self, config) -> list[str]:
        return [datasets.dataset(KEPT[kind]) for kind in KINDS]

    def writes(self, config) -> list[str]:
        return [datasets.array(KEPT[kind]) for kind in KINDS]

    def shards(self, ctx: Context) -> list[str]:
        return [f"{kind}-{shard}" for kind in KINDS for shard in ctx.workspace.shards(KEPT[kind])]

    def process(self, ctx: Context, shard: str) -> dict:
        kind, name = shard.split("-")
        number = int(name)
        total = self.n_sentences if kind == SENTENCES else self.n_sentences // 4
        start, stop = number * self.shard_size, min((number + 1) * self.shard_size, total)
        topics, gap = corpus_basis(self.n_sentences, self.dim, self.seed)
        vectors = shard_content(kind, number, start, stop, topics, gap, self.seed)["vectors"]
        column = "image_id" if kind == IMAGES else "sentence_id"
        ids = ctx.workspace.read_table(KEPT[kind], name, [column]).column(column).to_pylist()
        rows = np.array([int(i[1:]) for i in ids], dtype=np.int64) - start
        ctx.workspace.write_array(KEPT[kind], name, np.ascontiguousarray(vectors[rows]))
        return {RECORDS: len(rows)}


class StandInGenerate(Stage):
    """`generated` from `retrieved` shard by shard, with a `syn_text`: no model."""

    name = "generate"

    def reads(self, config) -> list[str]:
        return ["datasets/retrieved"]

    def writes(self, config) -> list[str]:
        return ["datasets/generated"]

    def shards(self, ctx: Context) -> list[str]:
        return ctx.workspace.shards("retrieved")

    def process(self, ctx: Context, shard: str) -> dict:
        table = ctx.workspace.read_table("retrieved", shard)
        table = table.append_column("syn_text", table.column("text1"))
        ctx.workspace.write_table("generated", shard, table)
        return {RECORDS: table.num_rows}


class PooledExecutor(LocalExecutor):
    """Every task in a worker process, even a step's single task, so that the driver's peak
    memory is the driver's own."""

    def map_shards(self, stage, ctx, pending, advance) -> None:
        self._run_pool(stage, ctx, pending, advance)


# ---------------------------------------------------------------------------- one scale
def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def scratch_files(folders: list[Path]) -> dict[str, int]:
    """Files in each scratch dataset of a stage (its folders' subfolders): a shuffle step's
    count is what an object store is asked to hold and list."""
    counts: dict[str, int] = {}
    for folder in folders:
        for dataset in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.exists() else ():
            counts[dataset.name] = sum(1 for p in dataset.rglob("*") if p.is_file())
    return counts


def task_stats(root: Path, stage: str):
    """(step, stats) of every task of a stage."""
    for path in (root / "stages" / stage / "stats").glob("*.json"):
        step = path.stem.split(STEP_SEPARATOR)[0] if STEP_SEPARATOR in path.stem else stage
        yield step, json.loads(path.read_text())


def step_seconds(root: Path, stage: str) -> dict[str, float]:
    """Task-seconds per step, from the tasks' stats (wall time of each task)."""
    out: dict[str, float] = {}
    for step, stats in task_stats(root, stage):
        out[step] = out.get(step, 0.0) + stats.get("wall_s", 0.0)
    return {step: round(value, 3) for step, value in sorted(out.items())}


def step_peak_rss(root: Path, stage: str) -> dict[str, float]:
    """Per step, the largest peak RSS (MiB) of one of its tasks (each task's own peak: the
    executor resets the worker's high-water mark before a task, realsyn/memory.py)."""
    out: dict[str, float] = {}
    for step, stats in task_stats(root, stage):
        peak = stats.get(TASK_MEMORY, {}).get("peak_rss_mib", 0.0)
        out[step] = max(out.get(step, 0.0), peak)
    return dict(sorted(out.items()))


def run_scale(root: str, args: argparse.Namespace) -> dict:
    """Run the stages on the corpus at `root` (in this process: the driver)."""
    from realsyn.balance.stage import BalanceStage
    from realsyn.extract.dedup_stage import DedupStage
    from realsyn.extract.semantic_dedup_stage import SemanticDedupStage
    from realsyn.retrieve.stage import RetrieveStage

    workers, task_memory_mb = args.workers, args.task_memory_mb

    config = parse_config({
        "workspace": root,
        # kept, so that its size is measured; a run removes it as each stage commits
        "executor": {"workers": workers, "task_memory_mb": task_memory_mb,
                     "keep_scratch": True},
        # two-level centres at every scale, as at the paper's (work_units)
        "retrieve": {"max_training_points": BENCH_TRAINING, "audit_queries": 200,
                     "flat_centre_limit": 1},
        "balance": {"min_similarity": 0.0, "max_similarity": 1.0,
                    "max_training_points": BENCH_TRAINING, "flat_centre_limit": 1}})
    ctx = Context(config=config, workspace=Workspace(root))
    stages: list[Stage] = [DedupStage(),
                           StandInEmbed(args.n, args.shard_size, args.dim, args.seed),
                           SemanticDedupStage(), RetrieveStage(), StandInGenerate(),
                           BalanceStage()]
    executor = PooledExecutor(workers)
    report = {}
    for stage in stages:
        started = time.perf_counter()
        stats = executor.run(stage, ctx)
        wall = time.perf_counter() - started
        outputs = [Path(root) / location for location in stage.writes(config)]
        scratch = [Path(root) / location for location in stage.scratch(config)]
        report[stage.name] = {"wall_s": round(wall, 2), "records": stats.get(RECORDS, 0),
                              "bytes_written": sum(folder_bytes(p) for p in outputs),
                              "scratch_bytes": sum(folder_bytes(p) for p in scratch),
                              "scratch_files": scratch_files(scratch),
                              "task_seconds": step_seconds(Path(root), stage.name),
                              "task_peak_rss_mib": step_peak_rss(Path(root), stage.name),
                              "dropped": {key: value for key, value in sorted(stats.items())
                                          if key.startswith("dropped_") and value},
                              # semantic_dedup's fan-out: vectors routed to partitions
                              **{key: value for key, value in stats.items()
                                 if key.endswith("_routed_queries")}}
    peaks = [(peak, f"{name}:{step}") for name, row in report.items()
             for step, peak in row["task_peak_rss_mib"].items()]
    largest_mib, largest = max(peaks)
    report["_rss"] = {
        "driver_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "largest_task_mib": largest_mib, "largest_task": largest}
    report["_search"] = {"flat_s_per_madd": flat_search_rate(args.dim)}
    return report


# ---------------------------------------------------------------------------- the estimate
def work_units(n_sentences: float, n_images: float, dim: int, clusters: float,
               balance_clusters: float, nprobe: int, training: float,
               balance_training: float) -> dict[str, float]:
    """Work of each step in the units its cost grows with (multiply-adds or rows).

    The k-means centres are two-level (dataflow/kmeans.py; the paper's 6M lists and 1M
    clusters are above flat_centre_limit, and run_scale sets the limit low so that the rates
    are measured on that path): a nearest-centre search scores the ~sqrt(K) coarse centres,
    then the centres of the `centre_probes` nearest cells; a training iteration scores each
    sample point against the coarse centres, then against its cell's centres, and each of the
    REFINE_ITERATIONS that follow (of kmeans_iterations in all) searches it as an assignment
    does. The images' routing scores every list key by default (retrieve.routing_centre_probes
    unset): its `route` is then counted in rows (the probes it writes), and that flat key search
    is priced apart, at the measured flat search rate (flat_search_units)."""
    per_list = n_sentences / max(clusters, 1)
    retrieve, balance = RetrieveConfig(), BalanceConfig()

    def search(centres: float, probes: int) -> float:  # centres scored per vector
        cells = coarse_count(int(centres))
        return cells + min(probes, cells) * centres / cells

    def training_per_point(centres: float) -> float:  # per iteration of the cells' training
        cells = coarse_count(int(centres))
        refining = REFINE_ITERATIONS / retrieve.kmeans_iterations
        return cells + centres / cells + refining * search(centres, retrieve.centre_probes)

    return {"retrieve:scan": n_sentences * dim,
            "retrieve:train": training * training_per_point(clusters) * dim,
            "retrieve:assign": n_sentences * search(clusters, retrieve.centre_probes) * dim,
            "retrieve:fit": FIT_IMAGES * n_sentences * dim,
            "retrieve:route": (n_images if retrieve.routing_centre_probes is None else
                               n_images * search(clusters, retrieve.routing_centre_probes) * dim),
            "retrieve:search": n_images * nprobe * per_list * dim,
            "retrieve:merge": n_images * nprobe,
            "balance:score": n_images * dim,
            "balance:train": balance_training * training_per_point(balance_clusters) * dim,
            "balance:assign": n_images * search(balance_clusters, balance.centre_probes) * dim}


def dedup_units(n_sentences: float, n_images: float, dim: int) -> dict[str, float]:
    """Work of the two dedup stages' steps, at extract's defaults (partitions of
    PARTITION_SIZE, k-means on at most SEMANTIC_TRAINING points per kind). The semantic
    steps' sizes are those of their inputs, taken as the dedup stage's (a few % fewer).
    `assign` and `route` write one file per shard, its rows grouped by partition
    (realsyn.partfile), so their unit is a row; their nearest-centroid searches are priced
    apart (flat_search_units)."""
    rows = n_sentences + n_images
    kinds = (n_sentences, n_images)
    parts = [max(1.0, count / PARTITION_SIZE) for count in kinds]
    return {"dedup:keys": rows, "dedup:pairs": rows, "dedup:groups": rows,
            "dedup:filter": rows,
            "semantic_dedup:centroids": sum(min(c, SEMANTIC_TRAINING) * min(p, c, SEMANTIC_TRAINING)
                                            * dim for c, p in zip(kinds, parts, strict=True)),
            "semantic_dedup:assign": rows, "semantic_dedup:route": rows,
            "semantic_dedup:pairs": rows * PARTITION_SIZE * dim,
            "semantic_dedup:groups": rows, "semantic_dedup:filter": rows * dim}


def flat_search_units(n_sentences: float, n_images: float, dim: int,
                      clusters: float) -> dict[str, float]:
    """The flat searches of the run, in multiply-adds, charged at the flat search rate the run
    measured (flat_search_rate), which times that very kernel at a size where it is long
    enough to time: a fit of a step's task-seconds cannot, where the search is a fraction of
    a second at the bench's sizes and most of the step at the paper's.

    semantic_dedup's assign and route: every vector against every centroid (its k-means makes
    at most SEMANTIC_TRAINING centroids, one per sample point at most). retrieve's `route`
    with flat routing (the default): every image's [x, 1] against every list's key, dim + 1
    wide (retrieve/routing.py)."""
    work = sum(c * min(max(1.0, c / PARTITION_SIZE), SEMANTIC_TRAINING) * dim
               for c in (n_sentences, n_images))
    searches = {"semantic_dedup:assign+route (centroid search)": 2 * work}
    if RetrieveConfig().routing_centre_probes is None:
        searches["retrieve:route (list key search)"] = n_images * clusters * (dim + 1)
    return searches


def flat_search_rate(dim: int, queries: int = 20_000, centres: int = 2_000,
                     repeats: int = 3) -> float:
    """Seconds per multiply-add of a flat inner-product search on one core (faiss
    IndexFlatIP, the search semantic_dedup's assign and route run), the best of `repeats`."""
    import faiss

    rng = np.random.default_rng(0)
    index = faiss.IndexFlatIP(dim)
    index.add(unit(rng.standard_normal((centres, dim))).astype(np.float32))
    block = unit(rng.standard_normal((queries, dim))).astype(np.float32)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        best = math.inf
        for _ in range(repeats):
            started = time.perf_counter()
            index.search(block, 8)
            best = min(best, time.perf_counter() - started)
    finally:
        faiss.omp_set_num_threads(threads)
    return best / (queries * centres * dim)


def scale_units(n: int, dim: int, lists: dict[str, int]) -> dict[str, float]:
    """The work units of a bench scale with `n` sentences (the bench's settings, and the
    retrieve index `lists` it ran with)."""
    images = n // 4
    clusters = list_count(n, None, PAPER["sentences_per_cluster"], lists["lists_per_cluster"])
    return {**dedup_units(n, images, dim),
            **work_units(n, images, dim, clusters, balance_clusters(images),
                         lists["nprobe"], training_points(n, clusters, BENCH_TRAINING),
                         training_points(images, balance_clusters(images), BENCH_TRAINING))}


def training_points(rows: float, clusters: float, max_points: int) -> int:
    """The sample a k-means of retrieve or balance trains on (their rule, dataflow/sampling.py;
    both default to 64 points per cluster): at the paper's 6M lists that is 6M points, not
    max_training_points, since it never trains fewer points than centres."""
    return training_sample_size(int(rows), int(clusters),
                                RetrieveConfig().training_points_per_cluster, max_points)


def balance_clusters(images: int) -> int:
    """The k-means clusters the balance stage makes of `images` at its defaults."""
    defaults = BalanceConfig()
    return default_n_clusters(images, defaults.images_per_cluster,
                              defaults.cluster_floor_exponent)


def step_rates(seconds: list[float], units: list[float]) -> list[float]:
    """Seconds per work unit of one step, one figure per fit of its task-seconds against its
    units: the least-squares line a + b * units over every scale, and the line through each
    pair of scales. A fit whose slope is not positive (noise, or fixed costs that hide the
    growth) gives the larger scale's seconds per unit instead, an upper bound."""
    points = [(u, s) for u, s in zip(units, seconds, strict=True) if s > 0]
    if not points:
        return []
    fits = []
    if len(points) > 2:
        fits.append(np.polyfit([u for u, _ in points], [s for _, s in points], 1)[0])
    fits += [(s_high - s_low) / (u_high - u_low)
             for i, (u_low, s_low) in enumerate(points) for u_high, s_high in points[i + 1:]
             if u_high > u_low]
    largest_units, largest_seconds = max(points)
    bound = largest_seconds / largest_units
    return [float(fit) if fit > 0 else bound for fit in fits] or [bound]


def estimate(results: dict, n: int, dim: int, lists: dict[str, int] = DEFAULT_LISTS) -> dict:
    """The paper's scale from the per-step rates measured here, as a range.

    A step's task-seconds are fitted as a + b * units (step_rates): b (seconds per work unit)
    is the step's rate, a its fixed cost (process start, imports, file opens), which small runs
    are full of and which does not grow with the data. The paper's hours of a step are b times
    the paper's units over the named cluster's cores (every step is parallel over shards or
    partitions, except those in PARALLEL: the k-means trainings on one node's cores, the
    union-find `groups` on one core per kind). With three or more scales the estimate is the
    least-squares fit over all of them and the range spans the fits through each pair of
    scales (every step at its lowest, every step at its highest); with two, one line, so the
    range is a point. Memory per node: its cores' tasks at the per-task budget. Storage: bytes
    of the outputs plus the largest stage's scratch (the peak: each stage's goes when it
    commits) per input record, times the paper's records, scaled by the dimension. The rates
    are per unit of the index the runs built (`lists`); the paper's units are those of the
    default index."""
    scales = sorted(results, key=int)
    units = [scale_units(n * int(scale), dim, lists) for scale in scales]
    high = results[scales[-1]]
    lists_at_paper = PAPER["clusters"] * DEFAULT_LISTS["lists_per_cluster"]
    paper = {**dedup_units(PAPER["sentences"], PAPER["images"], PAPER["dim"]),
             **work_units(PAPER["sentences"], PAPER["images"], PAPER["dim"], lists_at_paper,
                          PAPER["balance_clusters"], DEFAULT_LISTS["nprobe"],
                          training_points(PAPER["sentences"], lists_at_paper,
                                          RetrieveConfig().max_training_points),
                          training_points(PAPER["images"], PAPER["balance_clusters"],
                                          BalanceConfig().max_training_points))}
    cores = CLUSTER["nodes"] * CLUSTER["cores_per_node"]
    rows, totals, assign_rates = [], np.zeros(3), None
    for key, paper_units in paper.items():
        stage, step = key.split(":")
        if stage not in high:  # an earlier --output, before the dedup stages were in it
            continue
        seconds = [results[scale][stage]["task_seconds"].get(step, 0.0) for scale in scales]
        rates = step_rates(seconds, [row[key] for row in units])
        if not rates:
            continue
        if key == "retrieve:assign":
            assign_rates = rates
        hours = [rate * paper_units / PARALLEL.get(step, cores) / 3600 for rate in rates]
        spread = np.array([hours[0], min(hours), max(hours)])
        totals += spread
        rows.append({"step": key, "seconds": seconds, "s_per_unit": f"{rates[0]:.3g}",
                     "paper_hours": round(hours[0], 2),
                     "paper_hours_range": [round(min(hours), 2), round(max(hours), 2)]})
    # the flat searches (semantic_dedup's centroids, retrieve's routing keys): priced at the
    # flat search rate each scale's run measured (older results without it: retrieve:assign's)
    flat_rates = [results[scale]["_search"]["flat_s_per_madd"] for scale in scales
                  if "_search" in results[scale]]
    search_rates = ([float(np.median(flat_rates)), *flat_rates] if flat_rates
                    else assign_rates)
    if search_rates is not None:
        for key, search_units in flat_search_units(
                PAPER["sentences"], PAPER["images"], PAPER["dim"],
                PAPER["clusters"] * DEFAULT_LISTS["lists_per_cluster"]).items():
            hours = [rate * search_units / cores / 3600 for rate in search_rates]
            totals += np.array([hours[0], min(hours), max(hours)])
            rows.append({"step": key, "seconds": None, "s_per_unit": f"{search_rates[0]:.3g}",
                         "paper_hours": round(hours[0], 2),
                         "paper_hours_range": [round(min(hours), 2), round(max(hours), 2)]})
    records = n * int(scales[-1]) * 5 // 4
    stages = [row for row in high.values() if isinstance(row, dict) and "bytes_written" in row]
    # Outputs stay; a stage's scratch lives until it commits, so at most one stage's is on
    # disk at once. (Results measured before scratch was apart count it in bytes_written.)
    stored = sum(row["bytes_written"] for row in stages)
    peak_scratch = max((row.get("scratch_bytes", 0) for row in stages), default=0)

    def paper_tb(size: float) -> float:
        return round(size / records * (PAPER["sentences"] + PAPER["images"])
                     * PAPER["dim"] / dim / 1e12, 1)

    return {"cluster": CLUSTER, "scales": [int(scale) for scale in scales], "steps": rows,
            "total_hours": round(float(totals[0]), 1),
            "total_hours_range": [round(float(totals[1]), 1), round(float(totals[2]), 1)],
            "largest_step_hours": max((row["paper_hours_range"][1] for row in rows),
                                      default=0.0),
            "storage_tb": paper_tb(stored + peak_scratch), "outputs_tb": paper_tb(stored),
            "peak_scratch_tb": paper_tb(peak_scratch),
            "memory_gib_per_node": "cores x executor.task_memory_mb (e.g. 32 x 4 GiB = 128 GiB)"}


# ---------------------------------------------------------------------------- driver
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=250_000, help="sentences at scale 1")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 3, 10])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shard-size", type=int, default=10_000)
    parser.add_argument("--task-memory-mb", type=int, default=64,
                        help="per-task budget: small, so partitions grow with the data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", default=None, help="where the workspaces go (a temp dir)")
    parser.add_argument("--output", default=str(RESULTS / "scale.json"))
    parser.add_argument("--estimate-from", default=None,
                        help="only print the paper-scale estimate of an earlier --output")
    parser.add_argument("--child", nargs=2, metavar=("ACTION", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.estimate_from:
        earlier = json.loads(Path(args.estimate_from).read_text())
        print(json.dumps(estimate(earlier["scales"], earlier["args"]["n"],
                                  earlier["args"]["dim"],
                                  earlier.get("retrieve_lists", EARLIER_LISTS)), indent=2))
        return
    if args.child:  # one scale's corpus or run, in its own process
        action, root = args.child
        if action == "make":
            make_corpus(root, args.n, args.dim, args.shard_size, args.seed)
        else:
            print(json.dumps(run_scale(root, args)))
        return
    base = Path(args.root or tempfile.mkdtemp(prefix="realsyn-scale-"))
    results = {}
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)

    def save(**summary) -> None:  # after every scale: a later failure keeps what was measured
        output.write_text(json.dumps({"args": {k: v for k, v in vars(args).items()
                                               if k != "child"},
                                      "retrieve_lists": DEFAULT_LISTS,
                                      "scales": results, **summary}, indent=2))
    for scale in args.scales:
        root = base / f"scale-{scale}"
        common = [sys.executable, __file__, "--n", str(args.n * scale), "--dim", str(args.dim),
                  "--workers", str(args.workers), "--shard-size", str(args.shard_size),
                  "--task-memory-mb", str(args.task_memory_mb), "--seed", str(args.seed)]
        subprocess.run([*common, "--child", "make", str(root)], check=True)
        done = subprocess.run([*common, "--child", "run", str(root)], check=True,
                              capture_output=True, text=True, env={**os.environ})
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        sentences, images = args.n * scale, args.n * scale // 4
        wall = sum(v["wall_s"] for k, v in measured.items() if not k.startswith("_"))
        results[scale] = {"sentences": sentences, "images": images, "wall_s": round(wall, 1),
                          "records_per_s_per_core": round((sentences + images) / wall
                                                          / args.workers, 1),
                          **measured}
        print(f"{scale:>3}N  sentences={sentences} images={images} wall={wall:.1f}s "
              f"records/s/core={results[scale]['records_per_s_per_core']} "
              f"driver={measured['_rss']['driver_mib']}MiB "
              f"largest task={measured['_rss']['largest_task_mib']}MiB "
              f"({measured['_rss']['largest_task']})", flush=True)
        for stage, row in measured.items():
            if not stage.startswith("_"):
                print(f"       {stage:<10} {row['wall_s']:>8.1f}s "
                      f"{row['bytes_written'] / 1e6:>9.1f} MB + scratch "
                      f"{row['scratch_bytes'] / 1e6:.1f} MB  {row['task_seconds']}"
                      f"  peak MiB {row['task_peak_rss_mib']}"
                      f"  scratch files {row['scratch_files']}"
                      + (f"  dropped {row['dropped']}" if row["dropped"] else ""))
        save()
    largest = max(args.scales)
    first = min(args.scales)
    summary = {
        "rss_ratio_largest_task": round(results[largest]["_rss"]["largest_task_mib"]
                                        / results[first]["_rss"]["largest_task_mib"], 3),
        "throughput_ratio": round(results[largest]["records_per_s_per_core"]
                                  / results[first]["records_per_s_per_core"], 3),
        "paper_estimate": estimate(results, args.n, args.dim)}
    print(json.dumps(summary, indent=2))
    save(**summary)


if __name__ == "__main__":
    main()
