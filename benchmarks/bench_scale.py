"""Scaling benchmark of the partitioned global stages: N, 3N and 10N sentences with N/4 images.

A synthetic corpus of topic-clustered embeddings (no models): sentences drawn around topic
directions, images around the same topics plus a shared offset (the modality gap), with ids,
texts, document ids and pHashes generated alongside, written as the pipeline's datasets
`sentences_final` / `images_final` (+ row-aligned float16 arrays) in shards of --shard-size.
Each scale runs in its own process through `retrieve` -> `generate` (a stand-in: a per-shard
copy of `retrieved` with a `syn_text`, no model) -> `balance` on the local executor with
--workers process workers; every task (single ones too) runs in a worker, so the driver holds
no dataset. (The dedup and semantic_dedup steps are not in it yet: their partitioned stages
live on another branch; their inputs would need synthetic pHashes, sizes and texts as their
stages read them.)

Measured per scale, in one run: wall time per stage, records/s per core, peak RSS of the driver
and of the largest task (the largest worker's peak: workers live for one step), bytes written
per stage (its outputs and scratch), task-seconds per step. From the largest scale's per-step
rates it then estimates the paper's scale (198M images, 0.84B sentences, 1024-d) on a named
cluster (see `estimate`).

    python benchmarks/bench_scale.py --n 250000 --dim 256          # the issue's sizes
    python benchmarks/bench_scale.py --n 20000 --dim 64 --scales 1 3 10   # a small machine
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from realsyn.config import parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.stage import RECORDS, STEP_SEPARATOR, Context, Stage
from realsyn.workspace import Workspace

RESULTS = Path(__file__).resolve().parent / "results"
FIT_IMAGES = 1000  # retrieve.routing_fit_images: searched exactly against every sentence
SENTENCES_PER_TOPIC = 2000
PAPER = {"images": 198e6, "sentences": 0.84e9, "dim": 1024, "clusters": 2e6,
         "balance_clusters": 1e6, "nprobe": 3, "sentences_per_cluster": 420}
# The named cluster of the estimate: 64 CPU nodes of 32 cores and 256 GiB, object storage.
CLUSTER = {"nodes": 64, "cores_per_node": 32, "memory_gib_per_node": 256}


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


# ---------------------------------------------------------------------------- the corpus
def make_corpus(root: str, n_sentences: int, dim: int, shard_size: int, seed: int) -> None:
    """Write the synthetic datasets shard by shard (memory: one shard)."""
    workspace = Workspace(root)
    rng = np.random.default_rng(seed)
    n_topics = max(8, n_sentences // SENTENCES_PER_TOPIC)
    topics = unit(rng.standard_normal((n_topics, dim))).astype(np.float32)
    gap = 0.3 * unit(rng.standard_normal((1, dim)))
    n_images = n_sentences // 4
    for name, total, offset in (("sentences_final", n_sentences, 0.0),
                                ("images_final", n_images, 1.0)):
        for number, start in enumerate(range(0, total, shard_size)):
            rows = np.arange(start, min(start + shard_size, total))
            topic = rng.integers(0, n_topics, len(rows))
            vectors = unit(topics[topic] + offset * gap + 0.6 * rng.standard_normal(
                (len(rows), dim)) / np.sqrt(dim) * 4).astype(np.float16)
            shard = f"{number:05d}"
            docs = [f"d{t}-{r % 7}" for t, r in zip(topic, rows, strict=True)]
            if name == "sentences_final":
                table = pa.table({"sentence_id": [f"s{r}" for r in rows], "doc_id": docs,
                                  "position": pa.array(np.zeros(len(rows)), pa.int32()),
                                  "text": [f"sentence {r} about topic {t}"
                                           for t, r in zip(topic, rows, strict=True)]})
            else:
                table = pa.table({"image_id": [f"i{r}" for r in rows], "doc_id": docs,
                                  "position": pa.array(np.ones(len(rows)), pa.int32()),
                                  "url": [f"https://example.org/{r}.jpg" for r in rows],
                                  "phash": pa.array(rng.integers(0, 2**63, len(rows)),
                                                    pa.int64())})
            workspace.write_table(name, shard, table)
            workspace.write_array(name, shard, vectors)
    workspace.update_manifest(encoder="synthetic")


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


def step_seconds(root: Path, stage: str) -> dict[str, float]:
    """Task-seconds per step, from the tasks' stats (wall time of each task)."""
    out: dict[str, float] = {}
    for path in (root / "stages" / stage / "stats").glob("*.json"):
        step = path.stem.split(STEP_SEPARATOR)[0] if STEP_SEPARATOR in path.stem else stage
        out[step] = out.get(step, 0.0) + json.loads(path.read_text()).get("wall_s", 0.0)
    return {step: round(value, 3) for step, value in sorted(out.items())}


def run_scale(root: str, workers: int, task_memory_mb: int) -> dict:
    """Run the stages on the corpus at `root` (in this process: the driver)."""
    from realsyn.balance.stage import BalanceStage
    from realsyn.retrieve.stage import RetrieveStage

    config = parse_config({
        "workspace": root,
        "executor": {"workers": workers, "task_memory_mb": task_memory_mb},
        "retrieve": {"max_training_points": 100_000, "audit_queries": 200},
        "balance": {"min_similarity": 0.0, "max_similarity": 1.0,
                    "max_training_points": 100_000}})
    ctx = Context(config=config, workspace=Workspace(root))
    stages: list[Stage] = [RetrieveStage(), StandInGenerate(), BalanceStage()]
    executor = PooledExecutor(workers)
    report = {}
    for stage in stages:
        started = time.perf_counter()
        stats = executor.run(stage, ctx)
        wall = time.perf_counter() - started
        outputs = [Path(root) / location for location in stage.writes(config)]
        report[stage.name] = {"wall_s": round(wall, 2), "records": stats.get(RECORDS, 0),
                              "bytes_written": sum(folder_bytes(p) for p in outputs),
                              "task_seconds": step_seconds(Path(root), stage.name)}
    report["_rss"] = {
        "driver_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "largest_task_mib": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}
    return report


# ---------------------------------------------------------------------------- the estimate
def work_units(n_sentences: float, n_images: float, dim: int, clusters: float,
               balance_clusters: float, nprobe: int, training: float) -> dict[str, float]:
    """Work of each step in the units its cost grows with (multiply-adds or rows)."""
    per_list = n_sentences / max(clusters, 1)
    return {"retrieve:scan": n_sentences * dim,
            "retrieve:train": training * clusters * dim,
            "retrieve:assign": n_sentences * clusters * dim,
            "retrieve:fit": FIT_IMAGES * n_sentences * dim,
            "retrieve:route": n_images * clusters * dim,
            "retrieve:search": n_images * nprobe * per_list * dim,
            "retrieve:merge": n_images * nprobe,
            "balance:score": n_images * dim,
            "balance:train": training * balance_clusters * dim,
            "balance:assign": n_images * balance_clusters * dim}


def scale_units(n: int, dim: int) -> dict[str, float]:
    """The work units of a bench scale with `n` sentences (the bench's settings)."""
    images, clusters = n // 4, max(1, round(n / 420))
    return work_units(n, images, dim, clusters, max(1, round(images / 168)), 3,
                      min(100_000, 64 * clusters))


def estimate(results: dict, n: int, dim: int) -> dict:
    """The paper's scale from the per-step rates measured here.

    A step's task-seconds are fitted as a + b * units over the smallest and the largest scale:
    b (seconds per work unit) is the step's rate, a its fixed cost (process start, imports,
    file opens), which small runs are full of and which does not grow with the data. The
    paper's hours of a step are b times the paper's units over the named cluster's cores
    (every step is parallel over shards or partitions, except the two k-means trainings,
    counted on one node's cores: faiss k-means is multithreaded). With one scale, or a
    non-positive slope, the largest scale's seconds per unit are used (an upper bound).
    Memory per node: its cores' tasks at the per-task budget. Storage: bytes written per
    input record, times the paper's records, scaled by the dimension."""
    scales = sorted(results, key=int)
    low, high = results[scales[0]], results[scales[-1]]
    units_low = scale_units(n * int(scales[0]), dim)
    units_high = scale_units(n * int(scales[-1]), dim)
    paper = work_units(PAPER["sentences"], PAPER["images"], PAPER["dim"], PAPER["clusters"],
                       PAPER["balance_clusters"], PAPER["nprobe"], 1_000_000)
    cores = CLUSTER["nodes"] * CLUSTER["cores_per_node"]
    rows, total = [], 0.0
    for key, units in paper.items():
        stage, step = key.split(":")
        s_low = low[stage]["task_seconds"].get(step, 0.0)
        s_high = high[stage]["task_seconds"].get(step, 0.0)
        if not s_high:
            continue
        slope = ((s_high - s_low) / (units_high[key] - units_low[key])
                 if units_high[key] > units_low[key] else 0.0)
        rate = slope if slope > 0 else s_high / units_high[key]
        parallel = CLUSTER["cores_per_node"] if step == "train" else cores
        hours = rate * units / parallel / 3600
        total += hours
        rows.append({"step": key, "seconds": [s_low, s_high], "s_per_unit": f"{rate:.3g}",
                     "paper_hours": round(hours, 2)})
    records = n * int(scales[-1]) * 5 // 4
    stored = sum(high[s]["bytes_written"] for s in ("retrieve", "balance"))
    storage_tb = (stored / records * (PAPER["sentences"] + PAPER["images"])
                  * PAPER["dim"] / dim / 1e12)
    return {"cluster": CLUSTER, "steps": rows, "total_hours": round(total, 1),
            "storage_tb": round(storage_tb, 1),
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
                                  earlier["args"]["dim"]), indent=2))
        return
    if args.child:  # one scale's corpus or run, in its own process
        action, root = args.child
        if action == "make":
            make_corpus(root, args.n, args.dim, args.shard_size, args.seed)
        else:
            print(json.dumps(run_scale(root, args.workers, args.task_memory_mb)))
        return
    base = Path(args.root or tempfile.mkdtemp(prefix="realsyn-scale-"))
    results = {}
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
              f"largest task={measured['_rss']['largest_task_mib']}MiB", flush=True)
        for stage, row in measured.items():
            if not stage.startswith("_"):
                print(f"       {stage:<10} {row['wall_s']:>8.1f}s "
                      f"{row['bytes_written'] / 1e6:>9.1f} MB  {row['task_seconds']}")
    largest = max(args.scales)
    first = min(args.scales)
    summary = {
        "rss_ratio_largest_task": round(results[largest]["_rss"]["largest_task_mib"]
                                        / results[first]["_rss"]["largest_task_mib"], 3),
        "throughput_ratio": round(results[largest]["records_per_s_per_core"]
                                  / results[first]["records_per_s_per_core"], 3),
        "paper_estimate": estimate(results, args.n, args.dim)}
    print(json.dumps(summary, indent=2))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"args": {k: v for k, v in vars(args).items()
                                                      if k != "child"},
                                             "scales": results, **summary}, indent=2))


if __name__ == "__main__":
    main()
