"""The `balance` stage: similarity band, image k-means and per-cluster cap over `generated`.

Inputs: dataset `generated` (one row per image: image_id, url, text1..3, score1..3, syn_text, ...)
and the image embeddings: arrays `images_final`, row-aligned with dataset `images_final`, joined by
image_id. Output: dataset `balanced`, the kept rows of `generated` in their input order, plus
`balance_score` (the similarity that passed the band), `balance_cluster` (k-means cluster) and
`image_shard` / `image_row` (where the image's bytes are in `images_final`, for the writer).
The cluster-size distribution before and after the cap, with its entropy, and the histogram of
similarity scores go to `report/balance.json`.

It runs as steps of parallel tasks, none holding a whole dataset (tasks in brackets):

    locate   [image shard]      (image_id -> shard, row) partitioned by a hash of the image id
    request  [generated shard]  the image ids each generated row needs, partitioned alike
    join     [partition]        each request joined with its image's place -> per generated shard
    score    [generated shard]  embeddings, similarity; fine counts of the scores
    band     [one]              the band's cosines: as configured, or the quantiles of the
                                run's scores summed from the counts (`band.resolve_band`)
    cut      [generated shard]  the band applied (counted drops)
    train    [one]              image k-means centres on a bounded seeded sample of the band
    assign   [generated shard]  cluster of each band row -> members partitioned by cluster range,
                                per-shard cluster counts
    plan     [one]              counts reduced; t from `cap` or `target`; each cluster's cap
    select   [cluster part]     each cluster keeps its caps[c] members of smallest rank key
    write    [generated shard]  the kept rows, in input order -> `balanced` (same shard keys)
    report   [one]              report/balance.json

The rank key of a member is a seeded hash of its image id (ties: lower generated row), so which
members a cluster keeps does not depend on how the data is partitioned; the tests' oracle
(tests/balance/oracle_balance.py, `balance_clusters(..., rank_keys=...)`) applies the same
rule in one process. The steps are built from realsyn.dataflow's primitives.
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa

from realsyn import datasets
from realsyn.balance import sampling
from realsyn.balance.band import band_quantiles, fine_counts, resolve_band
from realsyn.config import BalanceConfig
from realsyn.dataflow import join as hash_join
from realsyn.dataflow import kmeans
from realsyn.dataflow import sampling as samples
from realsyn.dataflow.digest import stable_hashes
from realsyn.dataflow.rank import capped
from realsyn.dataflow.rows import aligned_shards, check_rows, usable_rows
from realsyn.drops import Drop, counted_drops
from realsyn.partitioning import MB, partitions_for
from realsyn.stage import GLOBAL_SHARD, RECORDS, Context, Step, SteppedStage
from realsyn.workspace import Workspace, add_counters

INPUT = datasets.GENERATED
IMAGES = datasets.IMAGES_FINAL
OUTPUT = datasets.BALANCED
REPORT = "report/balance.json"
RETRIEVED_TEXTS = ("text1", "text2", "text3")
# The steps' scratch datasets (under scratch/<stage>; `steps` says which step writes and reads
# which).
SIZE = "size.json"  # the join's partition count
PLACES = "places"  # image_id -> (image shard, row), by hash of the image id
REQUESTS = "requests"  # image_id <- (generated shard, row), by hash of the image id
LOCATED = "located"  # (generated row, image shard, row), per generated shard
SCORED = "scored"  # per generated shard: each row's score and image place
SCORE_COUNTS = "score_counts"  # per generated shard: the scores' fine histogram
BAND = "band.json"  # the band applied: kind, cosines, deciding settings
IN_BAND = "in_band"  # per generated shard: the scored rows inside the band
EXAMPLES = "examples"  # per generated shard: the score histogram and the band's drops
CENTROIDS = "centroids.npy"
COARSE = "coarse.npy"  # two-level centres (balance.flat_centre_limit): the coarse level
CELLS = "cells.npy"  # two-level centres: each cluster's coarse cell
PLAN = "plan.json"  # clusters and partitions; the plan step adds the cap
LABELS = "labels"  # per generated shard: each band row's cluster
COUNTS = "counts"  # per generated shard: its band rows per cluster
MEMBERS = "members"  # (cluster, rank key, generated shard, row), by cluster range
CAPS = "caps.npy"  # each cluster's cap
KEPT = "kept"  # kept generated rows, per generated shard
CAPPED = "capped"  # per generated shard: the first rows the cap dropped
# Bytes of an image id and its place in a join partition (ids, shard names, rows).
PLACE_ROW_BYTES = 128
# Bytes of a cluster member in a select partition (cluster, key, shard, row).
MEMBER_ROW_BYTES = 32
EXAMPLES_PER_REASON = 12
DROP_REASONS = ("below_band", "above_band", "no_score", "cluster_cap")


def column_floats(table: pa.Table, name: str) -> np.ndarray:
    """A numeric column as float64 with NaN for nulls."""
    column = table.column(name).cast(pa.float64())
    return np.asarray(column.fill_null(np.nan).to_numpy(), dtype=np.float64)


class TextScorer:
    """Cosine of each image with one of its texts; embeds texts only when no score is stored."""

    def __init__(self, encoder: Any, batch_size: int):
        self.encoder = encoder
        self.batch_size = batch_size

    def scores(self, table: pa.Table, column: str, images: np.ndarray) -> np.ndarray:
        score_column = f"score{column[-1]}" if column in RETRIEVED_TEXTS else None
        if score_column and score_column in table.column_names:
            return column_floats(table, score_column)
        if self.encoder is None:
            raise ValueError(f"scoring {column!r} needs a text encoder")
        texts = table.column(column).to_pylist()
        out = np.full(len(texts), np.nan)
        present = [i for i, text in enumerate(texts) if text and text.strip()]
        for start in range(0, len(present), self.batch_size):
            rows = present[start:start + self.batch_size]
            vectors = np.asarray(self.encoder.embed_texts([texts[i] for i in rows]), np.float32)
            out[rows] = sampling.rowwise_cosine(images[rows], vectors)
        return out


def needs_encoder(config: BalanceConfig, columns: list[str]) -> bool:
    if config.score_text == "syn_text":
        return True
    if config.score_text == "text1":
        return "score1" not in columns
    return True  # mean: syn_text always needs one


def similarity(config: BalanceConfig, table: pa.Table, images: np.ndarray,
               scorer: TextScorer) -> np.ndarray:
    """The configured image-text similarity per row (NaN where the text is missing)."""
    if config.score_text in ("text1", "syn_text"):
        return scorer.scores(table, config.score_text, images)
    columns = [c for c in (*RETRIEVED_TEXTS, "syn_text") if c in table.column_names]
    stacked = np.vstack([scorer.scores(table, c, images) for c in columns])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN (no text)
        return np.nanmean(stacked, axis=0)


def load_text_encoder(ctx: Context) -> Any:
    """The run's joint encoder; it must be the one that embedded the images (checked before
    any model is loaded)."""
    from realsyn.models.encoders import encoder_identity, load_encoder

    config = ctx.config.embed.encoder
    recorded = ctx.workspace.manifest().get("encoder")
    recorded_identity = recorded.get("identity") if isinstance(recorded, dict) else recorded
    identity = encoder_identity(config)
    if recorded_identity and recorded_identity != identity:
        raise ValueError(f"images were embedded with {recorded_identity!r} but the configured "
                         f"encoder is {identity!r}: their similarities are meaningless")
    return load_encoder(config)


class BalanceStage(SteppedStage):
    name = "balance"
    description = "Similarity band, image k-means and per-cluster cap (spec section 4)."

    config_paths = ("balance", "embed.encoder")
    version = "3"
    reports = (REPORT,)

    def __init__(self, encoder: Any = None, generated: str = INPUT, images: str = IMAGES,
                 output: str = OUTPUT):
        # An encoder may be injected (tests, notebooks); otherwise loaded only when needed.
        self.encoder = encoder
        self.generated, self.images, self.output = generated, images, output

    def reads(self, config) -> list[str]:
        return [datasets.dataset(self.generated), datasets.dataset(self.images),
                datasets.array(self.images)]

    def writes(self, config) -> list[str]:
        return [datasets.dataset(self.output)]

    def steps(self, config) -> list[Step]:
        return [Step("size", self.single, self.size, writes=(SIZE,)),
                Step("locate", self.image_shards, self.locate, reads=(SIZE,),
                     writes=(PLACES,)),
                Step("request", self.generated_shards, self.request, reads=(SIZE,),
                     writes=(REQUESTS,)),
                Step("join", self.join_partitions, self.join, reads=(SIZE, PLACES, REQUESTS),
                     writes=(LOCATED,)),
                Step("score", self.generated_shards, self.score, reads=(LOCATED,),
                     writes=(SCORED, SCORE_COUNTS)),
                Step("band", self.single, self.resolve_band, reads=(SCORE_COUNTS,),
                     writes=(BAND,)),
                Step("cut", self.generated_shards, self.cut, reads=(BAND, SCORED),
                     writes=(IN_BAND, EXAMPLES)),
                Step("train", self.single, self.train, reads=(IN_BAND,),
                     writes=(CENTROIDS, COARSE, CELLS, PLAN)),
                Step("assign", self.generated_shards, self.assign,
                     reads=(PLAN, IN_BAND, CENTROIDS, COARSE, CELLS),
                     writes=(LABELS, COUNTS, MEMBERS)),
                Step("plan", self.single, self.plan, reads=(PLAN, COUNTS), writes=(CAPS, PLAN)),
                Step("select", self.cluster_partitions, self.select,
                     reads=(PLAN, MEMBERS, CAPS), writes=(KEPT,)),
                Step("write", self.generated_shards, self.write,
                     reads=(IN_BAND, LABELS, PLAN, KEPT), writes=(CAPPED,)),
                Step("report", self.single, self.report,
                     reads=(PLAN, EXAMPLES, CAPPED, BAND))]

    # ------------------------------------------------------------------ task lists
    @staticmethod
    def single(ctx: Context) -> list[str]:
        return [GLOBAL_SHARD]

    def image_shards(self, ctx: Context) -> list[str]:
        shards = aligned_shards(ctx.workspace, self.images)
        if not shards:
            raise FileNotFoundError(f"dataset {self.images!r} is empty or missing in "
                                    f"{ctx.workspace.url}")
        return shards

    def generated_shards(self, ctx: Context) -> list[str]:
        return ctx.workspace.shards(self.generated)

    @staticmethod
    def join_partitions(ctx: Context) -> list[str]:
        return [f"{p:05d}" for p in range(ctx.workspace.read_json(ctx.scratch_read(SIZE))
                                          ["join_partitions"])]

    @staticmethod
    def cluster_partitions(ctx: Context) -> list[str]:
        return [f"{p:05d}" for p in range(ctx.workspace.read_json(ctx.scratch_read(PLAN))
                                          ["partitions"])]

    def index_of(self, ctx: Context, shard: str) -> int:
        return self.generated_shards(ctx).index(shard)

    # ------------------------------------------------------------------ the join
    def size(self, ctx: Context, shard: str) -> dict[str, Any]:
        """The join's partition count, from the row counts (file metadata only)."""
        workspace = ctx.workspace
        rows = sum(workspace.shard_rows(self.images, s) for s in self.image_shards(ctx))
        rows += sum(workspace.shard_rows(self.generated, s) for s in self.generated_shards(ctx))
        wanted = partitions_for(rows, PLACE_ROW_BYTES, ctx.config.executor.task_memory_mb * MB)
        workspace.write_json(ctx.scratch_write(SIZE), {
            "join_partitions": ctx.config.balance.partitions or wanted})
        return {}

    def join_count(self, ctx: Context) -> int:
        return ctx.workspace.read_json(ctx.scratch_read(SIZE))["join_partitions"]

    def locate(self, ctx: Context, shard: str) -> dict[str, Any]:
        workspace = ctx.workspace
        ids = workspace.read_table(self.images, shard, columns=["image_id"]).column("image_id")
        check_rows(self.images, shard, len(ids), len(workspace.read_array(self.images, shard)))
        places = pa.table({"image_id": ids,
                           "image_index": pa.array(np.full(len(ids), self.image_shards(ctx)
                                                           .index(shard)), pa.int64()),
                           "image_row": pa.array(np.arange(len(ids)), pa.int64())})
        hash_join.send(workspace, ctx.scratch_write(PLACES), shard, places, "image_id",
                       self.join_count(ctx))
        return {}

    def request(self, ctx: Context, shard: str) -> dict[str, Any]:
        ids = ctx.workspace.read_table(self.generated, shard, columns=["image_id"]).column(
            "image_id")
        requests = pa.table({"image_id": ids,
                             "index": pa.array(np.full(len(ids), self.index_of(ctx, shard)),
                                               pa.int64()),
                             "row": pa.array(np.arange(len(ids)), pa.int64())})
        hash_join.send(ctx.workspace, ctx.scratch_write(REQUESTS), shard, requests, "image_id",
                       self.join_count(ctx))
        return {}

    def join(self, ctx: Context, shard: str) -> dict[str, Any]:
        """Each request with its image's place (the first one, in shard order, when an image
        id occurs twice), sent to the generated shard that asked."""
        workspace, partition = ctx.workspace, int(shard)
        joined = hash_join.join_first(
            workspace.read_partition(ctx.scratch_read(REQUESTS), partition),
            workspace.read_partition(ctx.scratch_read(PLACES), partition), "image_id",
            ["image_index", "image_row"])
        workspace.write_partitioned(ctx.scratch_write(LOCATED), shard, joined,
                                    np.asarray(joined.column("index")),
                                    max(1, len(self.generated_shards(ctx))))
        return {}

    def embeddings(self, ctx: Context, image_index: np.ndarray, image_row: np.ndarray
                   ) -> np.ndarray:
        """float32 embeddings of (image shard index, row) pairs, in the given order."""
        shards = self.image_shards(ctx)
        out = None
        for index in np.unique(image_index):
            where = np.flatnonzero(image_index == index)
            block = ctx.workspace.read_array(self.images, shards[index])
            if out is None:
                out = np.zeros((len(image_index), block.shape[1]), np.float32)
            out[where] = block[image_row[where]]
        return out if out is not None else np.zeros((0, 0), np.float32)

    # ------------------------------------------------------------------ scores
    def score(self, ctx: Context, shard: str) -> dict[str, Any]:
        workspace, config = ctx.workspace, ctx.config.balance
        table = workspace.read_table(self.generated, shard)
        located = workspace.read_partition(ctx.scratch_read(LOCATED), self.index_of(ctx, shard))
        located = located.take(pa.array(np.argsort(np.asarray(located.column("row")))))
        rows = np.asarray(located.column("row"), dtype=np.int64)
        images = self.embeddings(ctx, np.asarray(located.column("image_index")),
                                 np.asarray(located.column("image_row")))
        # `embed` leaves an all-zero row for an image it could not decode: no embedding either
        usable = usable_rows(images) if len(rows) else np.zeros(0, bool)
        rows, images, located = rows[usable], images[usable], located.filter(pa.array(usable))
        table = table.take(pa.array(rows, pa.int64()))
        if self.encoder is None and needs_encoder(config, table.column_names):
            self.encoder = load_text_encoder(ctx)
        scores = similarity(config, table, images, TextScorer(
            self.encoder, ctx.config.embed.text_batch_size)) if len(rows) else np.zeros(0)
        workspace.write_parquet(ctx.scratch_write(SCORED, f"{shard}.parquet"), pa.table({
            "row": pa.array(rows, pa.int64()), "score": pa.array(scores, pa.float64()),
            "image_index": located.column("image_index"),
            "image_row": located.column("image_row")}))
        workspace.write_npy(ctx.scratch_write(SCORE_COUNTS, f"{shard}.npy"), fine_counts(scores))
        n = workspace.shard_rows(self.generated, shard)
        return {RECORDS: n, "dropped_no_embedding": n - len(rows),
                "dropped_no_score": int((~np.isfinite(scores)).sum())}

    def resolve_band(self, ctx: Context, shard: str) -> dict[str, Any]:
        """The band's cosines, from the config or from the quantiles of every shard's scores."""
        counts = sum(ctx.workspace.read_npy(ctx.scratch_read(SCORE_COUNTS, f"{name}.npy"))
                     for name in self.generated_shards(ctx))
        ctx.workspace.write_json(ctx.scratch_write(BAND), resolve_band(ctx.config.balance,
                                                    ctx.config.embed.encoder, counts))
        return {}

    def cut(self, ctx: Context, shard: str) -> dict[str, Any]:
        """The band applied to one shard's scores: the rows inside, the counted drops and
        their first examples."""
        workspace = ctx.workspace
        band = workspace.read_json(ctx.scratch_read(BAND))
        scored = workspace.read_parquet(ctx.scratch_read(SCORED, f"{shard}.parquet"))
        scores = np.asarray(scored.column("score"), dtype=np.float64)
        in_band = sampling.band_mask(scores, band["low"], band["high"])
        workspace.write_parquet(ctx.scratch_write(IN_BAND, f"{shard}.parquet"),
                                scored.filter(pa.array(in_band)))
        ids = workspace.read_table(self.generated, shard, columns=["image_id"]).take(
            scored.column("row"))
        workspace.write_json(ctx.scratch_write(EXAMPLES, f"{shard}.json"), {
            "histogram": sampling.score_histogram(scores),
            "dropped": dropped_examples(ids, scores, band["low"], band["high"])})
        finite = np.isfinite(scores)
        with np.errstate(invalid="ignore"):
            return {"scored": int(finite.sum()),
                    "dropped_below_band": int((finite & (scores < band["low"])).sum()),
                    "dropped_above_band": int((finite & (scores > band["high"])).sum())}

    def band(self, ctx: Context, shard: str) -> pa.Table:
        """One shard's rows inside the band (row, score, image_index, image_row)."""
        return ctx.workspace.read_parquet(ctx.scratch_read(IN_BAND, f"{shard}.parquet"))

    # ------------------------------------------------------------------ clusters
    def train(self, ctx: Context, shard: str) -> dict[str, Any]:
        """Image k-means centres on a bounded seeded sample of the band, and the cluster
        partition count."""
        workspace, config = ctx.workspace, ctx.config.balance
        shards = self.generated_shards(ctx)
        counts = [self.band(ctx, s).num_rows for s in shards]
        n = sum(counts)
        plan: dict[str, Any] = {"n_band": n, "n_clusters": 0, "partitions": 0}
        if n:
            n_clusters = config.n_clusters or sampling.default_n_clusters(
                n, config.images_per_cluster, config.cluster_floor_exponent)
            n_clusters = max(1, min(n_clusters, n))
            size = samples.training_sample_size(n, n_clusters,
                                                config.training_points_per_cluster,
                                                config.max_training_points)

            def read(i: int, rows: np.ndarray) -> np.ndarray:
                band = self.band(ctx, shards[i]).take(pa.array(rows))
                return self.embeddings(ctx, np.asarray(band.column("image_index")),
                                       np.asarray(band.column("image_row")))

            centres = kmeans.train_centres(samples.sample_across(counts, size, config.seed,
                                                                 read),
                                           n_clusters, config.kmeans_iterations, config.seed,
                                           config.flat_centre_limit, config.centre_probes)
            for name, array in ((CENTROIDS, centres.fine), (COARSE, centres.coarse),
                                (CELLS, centres.cells)):
                workspace.write_npy(ctx.scratch_write(name), array)
            wanted = partitions_for(n, MEMBER_ROW_BYTES, ctx.config.executor.task_memory_mb * MB)
            plan.update(n_clusters=n_clusters,
                        partitions=min(n_clusters, config.partitions or wanted))
        workspace.write_json(ctx.scratch_write(PLAN), plan)
        return {}

    def assign(self, ctx: Context, shard: str) -> dict[str, Any]:
        """Each band row's cluster; members go to their cluster's partition with their rank
        key (a seeded hash of the image id)."""
        workspace, config = ctx.workspace, ctx.config.balance
        plan = workspace.read_json(ctx.scratch_read(PLAN))
        band = self.band(ctx, shard)
        labels = np.zeros(0, np.int64)
        if plan["n_clusters"] and band.num_rows:
            images = self.embeddings(ctx, np.asarray(band.column("image_index")),
                                     np.asarray(band.column("image_row")))
            index = kmeans.Centres(*(workspace.read_npy(ctx.scratch_read(name))
                                     for name in (CENTROIDS, COARSE, CELLS))
                                   ).index(config.centre_probes)
            labels = kmeans.assign(index, [images]).astype(np.int64)
        workspace.write_npy(ctx.scratch_write(LABELS, f"{shard}.npy"), labels)
        workspace.write_npy(ctx.scratch_write(COUNTS, f"{shard}.npy"),
                            np.bincount(labels, minlength=plan["n_clusters"]))
        if plan["n_clusters"]:
            ids = workspace.read_table(self.generated, shard, columns=["image_id"]).column(
                "image_id").take(band.column("row")).to_pylist()
            members = pa.table({"cluster": pa.array(labels, pa.int64()),
                                "key": pa.array(stable_hashes(ids, config.seed), pa.uint64()),
                                "index": pa.array(np.full(len(ids), self.index_of(ctx, shard)),
                                                  pa.int64()),
                                "row": band.column("row")})
            workspace.write_partitioned(ctx.scratch_write(MEMBERS), shard, members,
                                        (labels * plan["partitions"]) // plan["n_clusters"],
                                        plan["partitions"])
        return {}

    def plan(self, ctx: Context, shard: str) -> dict[str, Any]:
        """Cluster sizes reduced from the shards' counts; t (from `cap`, or the largest that
        fits `target`) and each cluster's cap."""
        workspace, config = ctx.workspace, ctx.config.balance
        plan = workspace.read_json(ctx.scratch_read(PLAN))
        sizes = np.zeros(plan["n_clusters"], np.int64)
        for name in self.generated_shards(ctx):
            sizes += workspace.read_npy(ctx.scratch_read(COUNTS, f"{name}.npy"))
        cap = config.cap or sampling.auto_cap(sizes, config.auto_cap)
        cap, extra, caps = sampling.plan_caps(sizes, cap, config.target,
                                              config.fill_target,
                                              np.random.default_rng(config.seed))
        workspace.write_npy(ctx.scratch_write(CAPS), caps)
        before = sampling.size_distribution(sizes)
        after = sampling.size_distribution(np.minimum(sizes, caps))
        workspace.write_json(ctx.scratch_write(PLAN), {
            **plan, "cap": cap, "extra": extra, "before": before, "after": after,
            "cap_setting": cap_setting(config)})
        return {"clusters": int(before.get("clusters", 0)), "cap_t": cap, "cap_extra": extra,
                "entropy_before": before["entropy_bits"], "entropy_after": after["entropy_bits"]}

    def select(self, ctx: Context, shard: str) -> dict[str, Any]:
        """One cluster partition: each cluster keeps its caps[c] members of smallest rank key
        (ties: lower generated shard, then row)."""
        workspace = ctx.workspace
        members = workspace.read_partition(ctx.scratch_read(MEMBERS), int(shard))
        clusters = np.asarray(members.column("cluster"))
        order = np.lexsort((np.asarray(members.column("row")),
                            np.asarray(members.column("index")),
                            np.asarray(members.column("key")), clusters))
        caps = workspace.read_npy(ctx.scratch_read(CAPS))
        kept = capped(clusters, caps, order)
        kept_members = members.take(pa.array(kept, pa.int64())).select(["index", "row"])
        workspace.write_partitioned(ctx.scratch_write(KEPT), shard, kept_members,
                                    np.asarray(kept_members.column("index")),
                                    len(self.generated_shards(ctx)))
        return {}

    # ------------------------------------------------------------------ output
    def write(self, ctx: Context, shard: str) -> dict[str, Any]:
        """The kept rows of one generated shard, in input order, with their score, cluster
        and image place."""
        workspace = ctx.workspace
        band = self.band(ctx, shard)
        labels = workspace.read_npy(ctx.scratch_read(LABELS, f"{shard}.npy"))
        if workspace.read_json(ctx.scratch_read(PLAN))["n_clusters"]:
            kept_rows = np.sort(np.asarray(workspace.read_partition(
                ctx.scratch_read(KEPT), self.index_of(ctx, shard)).column("row")))
        else:
            kept_rows = np.zeros(0, np.int64)
        band_rows = np.asarray(band.column("row"))
        at = np.searchsorted(band_rows, kept_rows)
        table = workspace.read_table(self.generated, shard).take(pa.array(kept_rows, pa.int64()))
        shards = self.image_shards(ctx)
        table = table.append_column("balance_score", pa.array(
            np.asarray(band.column("score"))[at], pa.float32()))
        table = table.append_column("balance_cluster", pa.array(labels[at], pa.int64()))
        table = table.append_column("image_shard", pa.array(
            [shards[i] for i in np.asarray(band.column("image_index"))[at]], pa.string()))
        table = table.append_column("image_row", band.column("image_row").take(pa.array(at)))
        workspace.write_table(self.output, shard, table)
        capped = np.setdiff1d(band_rows, kept_rows)
        ids = workspace.read_table(self.generated, shard, columns=["image_id"]).column(
            "image_id").take(pa.array(capped[:EXAMPLES_PER_REASON])).to_pylist()
        scores = np.asarray(band.column("score"))[np.searchsorted(band_rows, capped)]
        workspace.write_json(ctx.scratch_write(CAPPED, f"{shard}.json"), [
            {"image_id": image_id, "reason": "cluster_cap", "score": float(score)}
            for image_id, score in zip(ids, scores, strict=False)])
        return {"records_out": len(kept_rows), "dropped_cluster_cap": len(capped)}

    def report(self, ctx: Context, shard: str) -> dict[str, Any]:
        workspace, config = ctx.workspace, ctx.config.balance
        plan = workspace.read_json(ctx.scratch_read(PLAN))
        histogram: Counter[float] = Counter()
        examples: dict[str, list] = {reason: [] for reason in DROP_REASONS}
        for name in self.generated_shards(ctx):
            part = workspace.read_json(ctx.scratch_read(EXAMPLES, f"{name}.json"))
            add_counters(histogram, dict(part["histogram"]))
            for example in [*part["dropped"],
                            *workspace.read_json(ctx.scratch_read(CAPPED, f"{name}.json"))]:
                examples[example["reason"]].append(example)
        stats = workspace.committed.merge_stats(self.name)
        band = workspace.read_json(ctx.scratch_read(BAND))
        workspace.write_json(REPORT, {
            "score_text": config.score_text,
            "band": [band["low"], band["high"]],
            "band_kind": band["kind"],
            # where the band's edges fall in this run's scores: [share below, share <= upper]
            "band_quantiles": band_quantiles(stats.get("dropped_below_band", 0),
                                             stats.get("dropped_above_band", 0),
                                             stats.get("scored", 0)),
            "band_settings": [band["low_setting"], band["high_setting"]],
            "score_histogram": sorted(histogram.items()),
            "kmeans_clusters": plan["n_clusters"],
            "cap_t": plan["cap"], "cap_extra": plan["extra"], "target": config.target,
            "cap_setting": plan.get("cap_setting"),
            "seed": config.seed,
            "clusters_before": plan["before"], "clusters_after": plan["after"],
            "stats": stats,
            "dropped_examples": [example for reason in DROP_REASONS
                                 for example in examples[reason][:EXAMPLES_PER_REASON]]})
        return {}

    def drops(self, ctx: Context, stats: dict[str, Any]) -> list[Drop]:
        """The band's drops out of the stage's input; the cap's out of the rows in the band."""
        band = applied_band(ctx.workspace)
        settings = {"below_band": tuple(band.get("low_setting") or (None, None)),
                    "above_band": tuple(band.get("high_setting") or (None, None)),
                    "no_score": ("balance.score_text", ctx.config.balance.score_text)}
        drops = counted_drops({k: v for k, v in stats.items() if k != "dropped_cluster_cap"},
                              stats.get(RECORDS, 0), settings)
        in_band = (stats.get("scored", 0) - stats.get("dropped_below_band", 0)
                   - stats.get("dropped_above_band", 0))
        setting, value = cap_setting(ctx.config.balance)
        if stats.get("dropped_cluster_cap"):
            drops.append(Drop("cluster_cap", int(stats["dropped_cluster_cap"]), in_band,
                              setting, value if setting != CAP_DERIVED else stats.get("cap_t")))
        return drops

    def summary(self, ctx: Context, stats: dict[str, Any]) -> str:
        config = ctx.config.balance
        band = applied_band(ctx.workspace)
        quantiles = band_quantiles(stats.get("dropped_below_band", 0),
                                   stats.get("dropped_above_band", 0), stats.get("scored", 0))
        shown = ", ".join("?" if q is None else f"{q:.3f}" for q in quantiles)
        edges = ", ".join("?" if e is None else f"{e:.4f}" for e in (band["low"], band["high"]))
        return (f"kept {stats.get('records_out', 0)} of {stats.get(RECORDS, 0)} images; band "
                f"({band['kind']}) [{edges}] = quantiles [{shown}] on {config.score_text} "
                f"dropped {stats.get('dropped_below_band', 0)} below, "
                f"{stats.get('dropped_above_band', 0)} above; cap t={stats.get('cap_t')} over "
                f"{stats.get('clusters', 0)} clusters dropped {stats.get('dropped_cluster_cap', 0)}"
                f"; entropy {stats.get('entropy_before', 0):.3f} -> "
                f"{stats.get('entropy_after', 0):.3f} bits; report: "
                f"{ctx.workspace.path(REPORT)}")


def applied_band(workspace: Workspace) -> dict[str, Any]:
    """The band the last run applied (kind, cosines, deciding settings), from its report: the
    copy in scratch is gone once the stage commits."""
    report = workspace.read_json(REPORT, default={})
    low, high = report.get("band") or (None, None)
    low_setting, high_setting = report.get("band_settings") or (None, None)
    return {"kind": report.get("band_kind", "?"), "low": low, "high": high,
            "low_setting": low_setting, "high_setting": high_setting}


def dropped_examples(table: pa.Table, scores: np.ndarray, low: float, high: float,
                     per_reason: int = EXAMPLES_PER_REASON) -> list[dict]:
    """The first few rows the band dropped, per reason (image_id, reason, score), for the
    report; `table` holds the scored rows' image_id."""
    with np.errstate(invalid="ignore"):
        reasons = {"below_band": scores < low, "above_band": scores > high,
                   "no_score": ~np.isfinite(scores)}
    ids = table.column("image_id").to_pylist()
    return [{"image_id": ids[row], "reason": reason,
             "score": float(scores[row]) if np.isfinite(scores[row]) else None}
            for reason, mask in reasons.items() for row in np.flatnonzero(mask)[:per_reason]]


CAP_DERIVED = "balance.auto_cap (lowered to the mean cluster size)"


def cap_setting(config: BalanceConfig) -> tuple[str, Any]:
    """The setting that decides t: the target, the cap, or the derived cap."""
    if config.target is not None:
        return "balance.target", config.target
    if config.cap is not None:
        return "balance.cap", config.cap
    return CAP_DERIVED, config.auto_cap
