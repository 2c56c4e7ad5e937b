"""The `retrieve` stage: each image's top-k real sentences by hierarchical search, as steps of
parallel tasks, none of which holds a whole dataset.

Reads dataset + row-aligned arrays `sentences_final` (to index) and `images_final` (queries),
writes dataset `retrieved` with the shard keys of `images_final`. Steps (tasks in brackets):

    scan    [sentence shard]  usable rows of each shard
    train   [one]             k-means centres on a bounded seeded sample (max_training_points):
                              one per list, lists_per_cluster per paper-sized cluster;
                              the partition count (data size / executor.task_memory_mb), the
                              seeded image samples of the routing fit and of the audit
    assign  [sentence shard]  each sentence to its centre -> list partitions (cluster ranges)
    fit     [list partition]  learned routing: the fit images' best score per list
    router  [one]             the router (paper's centres, or the learned keys)
    route   [image shard]     each image's probed lists -> queries partitioned like the lists
    search  [list partition]  the partition's lists against the queries routed there from
                              every image shard, one product per list and query batch; the
                              audit images against every list
    merge   [image shard]     each image's best candidates over all partitions -> `retrieved`
    cap     [list partition]  (a cap: max_uses_per_sentence or max_uses_share) each sentence
                              keeps its best images
    write   [image shard]     (a cap) the capped top-k -> `retrieved`
    reuse   [list partition]  how many images use each sentence as text1
    report  [one]             the reuse and audit figures, `report/retrieve.json`

Searching the same lists (each query against each member, float16 vectors in float32 products)
and breaking ties by index position, the results are those of the single-process search
(retrieve/search.py over retrieve/index.py); tests/retrieve/test_partitioned_retrieve.py checks
it. The centres persist under `index/retrieve/` and are reused when the sentences and build
settings are unchanged, so re-running with another `nprobe` or `top_k` does not re-cluster.

The cap is a reduce by sentence: each sentence keeps the `uses_cap` images (config.py) that
score it highest, first among the images that hold it in their top-k, then, with the capacity
left, among the images' further candidates (ties: lower global image row); each image then takes
its top-k among the pairs left. No sentence serves more than the cap.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import numpy as np
import pyarrow as pa

from realsyn import datasets
from realsyn.commit import folder_identity, location_url
from realsyn.config import RetrieveConfig
from realsyn.partitioning import MB, partitions_for
from realsyn.retrieve import clustering, quality
from realsyn.retrieve.candidates import (
    best_per_row,
    cap_uses_top_first,
    dense,
    percentile_of_counts,
    rank_within,
)
from realsyn.retrieve.index import ClusterIndex, doc_keys, valid_rows
from realsyn.retrieve.lists import (
    LISTS,
    META,
    SCRATCH,
    TEXT_COLUMNS,
    partition_index,
    partition_of,
    read_meta,
    scratch,
    vectors_column,
)
from realsyn.retrieve.queries import (
    QuerySource,
    exact_is_cheap,
    exact_router,
    router_from_maxima,
    routing_stats,
    sample_rows,
)
from realsyn.retrieve.routing import LEARNED, PAPER, Router, paper_router
from realsyn.retrieve.search import HierarchicalSearcher
from realsyn.stage import GLOBAL_SHARD, RECORDS, Context, Step, SteppedStage
from realsyn.workspace import Workspace

SENTENCES = datasets.SENTENCES_FINAL
IMAGES = datasets.IMAGES_FINAL
OUTPUT = datasets.RETRIEVED
INDEX_DIR = "index/retrieve"
REPORT = "report/retrieve.json"
IMAGE_COLUMNS = ["image_id", "doc_id", "position", "url"]
CENTROIDS = scratch("centroids.npy")
ROUTER = scratch("router.npy")
QUERIES = scratch("queries")  # (image, probed list) pairs, partitioned like the lists
CANDIDATES = scratch("candidates")  # per image shard: each probe's best sentences
AUDIT = scratch("audit")  # per image shard: each audit image's exact best per partition
PAIRS = scratch("pairs")  # (max uses) each image's candidates, partitioned by sentence
CAPPED = scratch("capped")  # (max uses) the pairs left by the cap, per image shard
TEXT1 = scratch("text1")  # each image's text1, partitioned by sentence
AUDIT_COLUMNS = ["image_shard", "row", "score", "key"]
AUDIT_SUMS = "audit_sum_"  # per-shard sums of the audit; the ratios are in the report step
# Bytes of a list row beyond its float16 vector: ids, keys and an average sentence.
LIST_ROW_OVERHEAD = 256


def retrieved_schema(top_k: int) -> pa.Schema:
    fields = [("image_id", pa.string()), ("doc_id", pa.string()), ("position", pa.int32()),
              ("url", pa.string()),
              ("image_cluster_id", pa.int64())]  # the first list the image probed
    for i in range(1, top_k + 1):
        fields += [(f"text{i}", pa.string()),  # text1 = most similar
                   (f"score{i}", pa.float32()),  # cosine image-sentence
                   (f"sentence_id{i}", pa.string()),
                   (f"sentence_doc_id{i}", pa.string()),  # the sentence's source document
                   (f"cluster_id{i}", pa.int64())]  # the cluster the sentence belongs to
    return pa.schema(fields)


def aligned_shards(workspace: Workspace, name: str) -> list[str]:
    """Shard keys of a dataset whose array shards must be row-aligned."""
    shards = workspace.shards(name)
    if shards != workspace.array_shards(name):
        raise ValueError(f"dataset {name!r} and its embeddings have different shards: "
                         f"{shards} vs {workspace.array_shards(name)}")
    return shards


def check_shard(workspace: Workspace, name: str, shard: str) -> int:
    """Rows of a shard whose records and embedding rows must agree."""
    rows = workspace.shard_rows(name, shard)
    embedded = len(workspace.read_array(name, shard))
    if rows != embedded:
        raise ValueError(f"{name}/{shard}: {rows} records but {embedded} embedding rows")
    return rows


class RetrieveStage(SteppedStage):
    name = "retrieve"
    description = "Hierarchical retrieval of each image's top-k real sentences (k-means + IVF)."
    config_paths = ("retrieve", "embed.encoder")
    version = "3"  # 3: exact search when cheap, fallback probes, the two-round cap

    def __init__(self, sentences: str = SENTENCES, images: str = IMAGES,
                 output: str = OUTPUT) -> None:
        self.sentences, self.images, self.output = sentences, images, output

    def reads(self, config) -> list[str]:
        return [location for name in (self.sentences, self.images)
                for location in (datasets.dataset(name), datasets.array(name))]

    def writes(self, config) -> list[str]:
        return [datasets.dataset(self.output)]

    def scratch(self, config) -> list[str]:
        return [SCRATCH]  # the centres reused across runs are a cache, in index/retrieve

    def steps(self, config) -> list[Step]:
        steps = [Step("scan", self.sentence_shards, self.scan),
                 Step("train", self.single, self.train),
                 Step("assign", self.assign_shards, self.assign)]
        if config.retrieve.routing == LEARNED:
            steps.append(Step("fit", self.list_partitions, self.fit))
        steps += [Step("router", self.single, self.fit_router),
                  Step("route", self.image_shards, self.route),
                  Step("search", self.list_partitions, self.search),
                  Step("merge", self.image_shards, self.merge)]
        if config.retrieve.capped:
            steps += [Step("cap", self.list_partitions, self.cap),
                      Step("write", self.capped_shards, self.write_capped)]
        steps += [Step("reuse", self.list_partitions, self.reuse),
                  Step("report", self.single, self.report)]
        return steps

    # ------------------------------------------------------------------ task lists
    def sentence_shards(self, ctx: Context) -> list[str]:
        return aligned_shards(ctx.workspace, self.sentences)

    def image_shards(self, ctx: Context) -> list[str]:
        return aligned_shards(ctx.workspace, self.images)

    @staticmethod
    def single(ctx: Context) -> list[str]:
        return [GLOBAL_SHARD]

    def assign_shards(self, ctx: Context) -> list[str]:
        return self.sentence_shards(ctx) if read_meta(ctx.workspace)["n_clusters"] else []

    def capped_shards(self, ctx: Context) -> list[str]:
        return self.image_shards(ctx) if read_meta(ctx.workspace)["n_clusters"] else []

    @staticmethod
    def list_partitions(ctx: Context) -> list[str]:
        meta = read_meta(ctx.workspace)
        return [f"{p:05d}" for p in range(meta["partitions"])] if meta["n_clusters"] else []

    # ------------------------------------------------------------------ the sentences
    def scan(self, ctx: Context, shard: str) -> dict[str, Any]:
        """Which rows of a sentence shard are usable embeddings (the index leaves the others
        out, counted)."""
        rows = check_shard(ctx.workspace, self.sentences, shard)
        usable = np.flatnonzero(valid_rows(ctx.workspace.read_array(self.sentences, shard)))
        ctx.workspace.write_npy(scratch("usable", f"{shard}.npy"), usable)
        ctx.workspace.write_json(scratch("rows", f"{shard}.json"), rows)
        return {"sentences_in": rows, "sentences_indexed": len(usable),
                "sentences_dropped_bad_embedding": rows - len(usable)}

    def train(self, ctx: Context, shard: str) -> dict[str, Any]:
        """k-means centres from a bounded seeded sample of the usable sentences (the one step
        that samples the whole), the partition count, and the image samples."""
        workspace, config = ctx.workspace, ctx.config.retrieve
        shards = self.sentence_shards(ctx)
        rows = [workspace.read_json(scratch("rows", f"{s}.json")) for s in shards]
        usable_counts = [len(workspace.read_npy(scratch("usable", f"{s}.npy")))
                         for s in shards]
        n = sum(usable_counts)
        image_shards = self.image_shards(ctx)
        image_rows = [workspace.shard_rows(self.images, s) for s in image_shards]
        fit_rows, audit_rows = sample_rows(sum(image_rows), config)
        meta: dict[str, Any] = {
            "n_clusters": 0, "partitions": 0, "n_rows": int(sum(rows)), "dim": 0,
            "sentence_offsets": dict(zip(shards, np.cumsum([0, *rows]).tolist(), strict=False)),
            "image_offsets": dict(zip(image_shards, np.cumsum([0, *image_rows]).tolist(),
                                      strict=False)),
            "image_rows": image_rows,
            "uses_cap": config.uses_cap(int(sum(image_rows))),
            "fit_rows": fit_rows.tolist(), "audit_rows": audit_rows.tolist()}
        stats: dict[str, Any] = {}
        if n:
            centroids, built = self.centroids(ctx, shards, usable_counts)
            dim = centroids.shape[1]
            wanted = partitions_for(n, 2 * dim + LIST_ROW_OVERHEAD,
                                    ctx.config.executor.task_memory_mb * MB)
            meta.update(n_clusters=len(centroids), dim=dim,
                        training_points=built["training_points"],
                        exact=exact_is_cheap(int(sum(image_rows)), n, config),
                        partitions=min(len(centroids), config.partitions or wanted))
            workspace.write_npy(CENTROIDS, centroids)
            stats = {"clusters": len(centroids)}
        workspace.write_json(META, meta)
        return stats

    def centroids(self, ctx: Context, shards: list[str], usable_counts: list[int]
                  ) -> tuple[np.ndarray, dict[str, Any]]:
        """The centres, reused from `index/retrieve` when its inputs and build settings are
        unchanged (another nprobe or top_k does not re-cluster)."""
        workspace, config = ctx.workspace, ctx.config.retrieve
        n = sum(usable_counts)
        n_clusters = clustering.list_count(n, config.n_clusters, config.sentences_per_cluster,
                                           config.list_split)
        size = clustering.training_sample_size(n, n_clusters, config.training_points_per_cluster,
                                               config.max_training_points)
        params = {"n_clusters": n_clusters, "iterations": config.kmeans_iterations,
                  "training_points": size, "seed": config.seed}
        identity = sentence_identity(workspace, self.sentences, shards)
        fingerprint = _fingerprint(shards, usable_counts, identity, params,
                                   workspace.manifest().get("encoder"))
        cached = workspace.committed.read_json(f"{INDEX_DIR}/meta.json", {})
        if cached.get("fingerprint") == fingerprint:
            return workspace.committed.read_npy(f"{INDEX_DIR}/centroids.npy"), cached
        picked = clustering.sample_rows(n, size, config.seed)  # among the usable rows
        bounds = np.cumsum([0, *usable_counts])
        parts = []
        for i, shard in enumerate(shards):
            lo, hi = np.searchsorted(picked, [bounds[i], bounds[i + 1]])
            if hi > lo:
                usable = workspace.read_npy(scratch("usable", f"{shard}.npy"))
                block = workspace.read_array(self.sentences, shard)
                parts.append(np.asarray(block[usable[picked[lo:hi] - bounds[i]]], np.float32))
        centroids = clustering.train_centroids(np.concatenate(parts), n_clusters,
                                               config.kmeans_iterations, config.seed)
        meta = {**params, "fingerprint": fingerprint}
        workspace.committed.write_npy(f"{INDEX_DIR}/centroids.npy", centroids)
        workspace.committed.write_json(f"{INDEX_DIR}/meta.json", meta)
        return centroids, meta

    def assign(self, ctx: Context, shard: str) -> dict[str, Any]:
        """Each usable sentence of a shard to its nearest centre, written into the list
        partition of that centre."""
        workspace, meta = ctx.workspace, read_meta(ctx.workspace)
        block = workspace.read_array(self.sentences, shard)
        usable = workspace.read_npy(scratch("usable", f"{shard}.npy"))
        coarse = clustering.centroid_index(workspace.read_npy(CENTROIDS))
        # the whole block, chunked as the single-process build chunks it: the same products
        clusters = clustering.assign(coarse, [block])[usable]
        table = workspace.read_table(self.sentences, shard, columns=list(TEXT_COLUMNS))
        table = table.take(pa.array(usable))
        doc_ids = table.column("doc_id").to_pylist()
        lists = pa.table({
            "row": pa.array(usable + meta["sentence_offsets"][shard], pa.int64()),
            "cluster": pa.array(clusters, pa.int64()),
            "doc_key": pa.array(doc_keys(doc_ids), pa.int64()),
            **{name: table.column(name) for name in TEXT_COLUMNS},
            "vector": vectors_column(np.asarray(block[usable], dtype=np.float16))})
        workspace.write_partitioned(LISTS, shard, lists, partition_of(
            clusters, meta["n_clusters"], meta["partitions"]), meta["partitions"])
        return {}

    # ------------------------------------------------------------------ routing
    def fit(self, ctx: Context, shard: str) -> dict[str, Any]:
        """Learned routing, one partition: each fit image's best score in each of its lists."""
        workspace, config, meta = ctx.workspace, ctx.config.retrieve, read_meta(ctx.workspace)
        if meta.get("exact"):
            return {}  # searched exactly: nothing to fit
        index, _, _ = partition_index(workspace, meta, int(shard))
        images, keys = self.query_source(ctx, meta).gather(np.asarray(meta["fit_rows"], np.int64))
        maxima = (HierarchicalSearcher(index).cluster_maxima(
            images, keys if config.exclude_own_document else None) if len(images)
            else np.zeros((0, index.n_clusters), np.float32))
        workspace.write_npy(scratch("fit", f"{shard}.npy"), maxima)
        workspace.write_npy(scratch("sizes", f"{shard}.npy"), index.list_sizes())
        return {}

    def fit_router(self, ctx: Context, shard: str) -> dict[str, Any]:
        workspace, config, meta = ctx.workspace, ctx.config.retrieve, read_meta(ctx.workspace)
        if not meta["n_clusters"]:
            return {}
        centroids = workspace.read_npy(CENTROIDS)
        if meta.get("exact"):
            router, stats = exact_router(centroids)
        elif config.routing == PAPER:
            router, stats = paper_router(centroids), {
                "routing_learned": 0, "lists_probed": min(config.lists_probed, len(centroids))}
        else:
            started = time.perf_counter()
            images, _ = self.query_source(ctx, meta).gather(np.asarray(meta["fit_rows"],
                                                                       np.int64))
            parts = self.list_partitions(ctx)
            maxima = np.concatenate([workspace.read_npy(scratch("fit", f"{p}.npy"))
                                     for p in parts], axis=1)
            sizes = np.concatenate([workspace.read_npy(scratch("sizes", f"{p}.npy"))
                                    for p in parts])
            router, usable = router_from_maxima(images, maxima, centroids, sizes,
                                                 config.routing_ridge,
                                                 config.routing_min_fit_images,
                                                 config.routing_margin,
                                                 config.routing_size_penalty)
            stats = routing_stats(router, usable, started, sum(meta["image_rows"]),
                                  len(centroids), config)
        workspace.write_npy(ROUTER, router.keys)
        workspace.write_json(scratch("router.json"), {"routing": router.name,
                                                      "margin": router.margin, **stats})
        return stats

    def route(self, ctx: Context, shard: str) -> dict[str, Any]:
        """The lists each usable image of a shard probes; each (image, probe) goes to the
        partition of the probed list."""
        workspace, config, meta = ctx.workspace, ctx.config.retrieve, read_meta(ctx.workspace)
        check_shard(workspace, self.images, shard)
        embeddings = workspace.read_array(self.images, shard)
        rows = np.flatnonzero(valid_rows(embeddings))
        nprobe = lists_probed(workspace, meta, config)
        probes = np.full((len(rows), nprobe), -1, dtype=np.int64)
        if meta["n_clusters"] and len(rows):
            keys = workspace.read_npy(ROUTER)
            saved = workspace.read_json(scratch("router.json"))
            router = Router(keys, saved["routing"], saved.get("margin"))
            for start in range(0, len(rows), config.query_batch_size):
                batch = rows[start:start + config.query_batch_size]
                found = router.probes(np.ascontiguousarray(embeddings[batch], np.float32),
                                      nprobe)
                probes[start:start + len(batch), :found.shape[1]] = found
        workspace.write_npy(scratch("probes", f"{shard}.npy"),
                   np.column_stack([rows, probes]) if len(rows) else np.zeros((0, nprobe + 1),
                                                                               np.int64))
        if meta["n_clusters"]:
            query, slot = np.nonzero(probes >= 0)
            cluster = probes[query, slot]
            routed = pa.table({"shard": pa.array([shard] * len(query), pa.string()),
                               "row": pa.array(rows[query], pa.int64()),
                               "slot": pa.array(slot, pa.int64()),
                               "cluster": pa.array(cluster, pa.int64())})
            workspace.write_partitioned(QUERIES, shard, routed, partition_of(
                cluster, meta["n_clusters"], meta["partitions"]), meta["partitions"])
        return {}

    # ------------------------------------------------------------------ search and merge
    def search(self, ctx: Context, shard: str) -> dict[str, Any]:
        """One list partition against the queries routed to it, from every image shard at
        once (one product per list and batch of up to query_batch_size queries, so the
        products stay large however many shards and lists there are), and the audit images
        against all its lists."""
        workspace, config, meta = ctx.workspace, ctx.config.retrieve, read_meta(ctx.workspace)
        partition = int(shard)
        index, sentences, lo = partition_index(workspace, meta, partition)
        searcher = HierarchicalSearcher(index)
        routed = workspace.read_partition(QUERIES, partition)
        images = ImageRows(workspace, self.images, meta)
        nprobe = lists_probed(workspace, meta, config)
        own = config.exclude_own_document
        # the queries as global image rows, each once, in order
        queries = images.global_rows(routed.column("shard").to_numpy(zero_copy_only=False),
                                     np.asarray(routed.column("row")))
        unique, inverse = np.unique(queries, return_inverse=True)
        probes = np.full((len(unique), nprobe), -1, dtype=np.int64)
        probes[inverse, np.asarray(routed.column("slot"))] = (
            np.asarray(routed.column("cluster")) - lo)
        found_parts: list[pa.Table] = []
        for start in range(0, len(unique), config.query_batch_size):
            batch = unique[start:start + config.query_batch_size]
            vectors, keys = images.read(batch)
            scores, positions = searcher._candidates(
                vectors, probes[start:start + len(batch)], search_depth(config),
                keys if own else None)
            found_parts.append(candidate_table(batch, images, scores, positions, index,
                                               sentences, meta, lo))
        audit_parts: list[pa.Table] = []
        audit = np.asarray(meta["audit_rows"], np.int64)
        if len(audit) and index.n_clusters:
            vectors, keys = images.read(audit)
            usable = valid_rows(vectors)
            audit, vectors, keys = audit[usable], vectors[usable], keys[usable]
            every = np.ascontiguousarray(np.broadcast_to(np.arange(index.n_clusters),
                                                         (len(audit), index.n_clusters)))
            scores, positions = searcher._candidates(vectors, every, config.top_k,
                                                     keys if own else None)
            exact = candidate_table(audit, images, scores, positions, index, sentences, meta,
                                    lo)
            keep = best_per_row(np.asarray(exact.column("image_shard")) * (1 << 40)
                                + np.asarray(exact.column("row")),
                                np.asarray(exact.column("score")),
                                np.asarray(exact.column("key")), config.top_k)
            audit_parts.append(exact.take(pa.array(keep)).select(AUDIT_COLUMNS))
        n_shards = len(meta["image_offsets"])
        for name, parts in ((CANDIDATES, found_parts), (AUDIT, audit_parts)):
            table = (pa.concat_tables(parts) if parts
                     else candidate_schema().empty_table().select(
                         AUDIT_COLUMNS if name == AUDIT else candidate_schema().names))
            workspace.write_partitioned(name, shard, table.drop_columns(["image_shard"]),
                                        np.asarray(table.column("image_shard")), n_shards)
        return {"empty_clusters": int((index.list_sizes() == 0).sum())}

    def merge(self, ctx: Context, shard: str) -> dict[str, Any]:
        """One image shard: its candidates from every partition, merged into each image's best
        (and the audit images' exact best from every partition, compared)."""
        workspace, config, meta = ctx.workspace, ctx.config.retrieve, read_meta(ctx.workspace)
        index_of = list(meta["image_offsets"]).index(shard)
        routed = workspace.read_npy(scratch("probes", f"{shard}.npy"))
        rows, probes = routed[:, 0], routed[:, 1:]
        total = workspace.shard_rows(self.images, shard)
        stats: dict[str, Any] = {RECORDS: total, "dropped_bad_embedding": total - len(rows)}
        if meta["n_clusters"]:
            candidates = workspace.read_partition(CANDIDATES, index_of)
        else:
            candidates = candidate_schema().empty_table().drop_columns(["image_shard"])
        picked = pick(candidates, search_depth(config), config.min_score)
        found_rows = np.unique(np.asarray(picked.column("row")))
        stats["dropped_no_sentence"] = len(rows) - len(found_rows)
        if meta["n_clusters"]:
            stats.update(self.audit(ctx, meta, index_of, rows, probes, picked))
        if config.capped and meta["n_clusters"]:
            offset = meta["image_offsets"][shard]
            pairs = picked.append_column("image_shard", pa.array(
                np.full(picked.num_rows, index_of), pa.int64())).append_column(
                "image_row", pa.array(np.asarray(picked.column("row")) + offset, pa.int64())
            ).append_column("rank", pa.array(rank_within(np.asarray(picked.column("row"))),
                                             pa.int64()))
            clusters = np.asarray(pairs.column("key")) // max(1, meta["n_rows"])
            workspace.write_partitioned(PAIRS, shard, pairs, partition_of(
                clusters, meta["n_clusters"], meta["partitions"]), max(1, meta["partitions"]))
            return stats
        stats["retrieved"] = len(found_rows)
        self.write_output(ctx, meta, shard, rows, probes, picked)
        return stats

    def audit(self, ctx: Context, meta: dict[str, Any], index_of: int, rows: np.ndarray,
              probes: np.ndarray, picked: pa.Table) -> dict[str, Any]:
        """Sums of the audit over this shard's audit images (ratios in the report step)."""
        top_k = ctx.config.retrieve.top_k
        offset = list(meta["image_offsets"].values())[index_of]
        audited = np.isin(rows + offset, np.asarray(meta["audit_rows"], np.int64))
        local = rows[audited]
        if not len(local):
            return {}
        exact = pick(ctx.workspace.read_partition(AUDIT, index_of), top_k,
                     ctx.config.retrieve.min_score)
        routed = pick(picked, top_k, None)
        routed_keys, routed_scores = key_matrix(routed, local, top_k)
        exact_keys, exact_scores = key_matrix(exact, local, top_k)
        recall = 0.0
        for mine, best in zip(routed_keys, exact_keys, strict=True):
            wanted = set(best[best >= 0].tolist())
            if wanted:
                recall += len(wanted & set(mine.tolist())) / len(wanted)
        return {"audit_queries": len(local),
                "audit_sum_routed_score": float(np.nansum(routed_scores)),
                "audit_sum_exact_score": float(np.nansum(exact_scores)),
                "audit_sum_recall": recall,
                "audit_sum_top1_same": int((routed_keys[:, 0] == exact_keys[:, 0]).sum()),
                # adaptive routing probes a varying number of lists
                "audit_sum_lists_probed": int((probes[audited] >= 0).sum())}

    def write_output(self, ctx: Context, meta: dict[str, Any], shard: str, rows: np.ndarray,
                     probes: np.ndarray, picked: pa.Table) -> None:
        """The shard's output rows (images with a text, in row order) and its text1 sentences
        (for the reuse count)."""
        workspace, top_k = ctx.workspace, ctx.config.retrieve.top_k
        picked = pick(picked, top_k, None)
        found = np.unique(np.asarray(picked.column("row")))
        images = workspace.read_table(self.images, shard, columns=IMAGE_COLUMNS)
        first_probe = probes[np.searchsorted(rows, found), 0] if len(found) else found
        table = output_table(images.take(pa.array(found)), first_probe, picked, found, top_k,
                             meta["n_rows"])
        workspace.write_table(self.output, shard, table)
        if meta["n_clusters"]:
            first = picked.filter(pa.array(rank_within(np.asarray(picked.column("row"))) == 0))
            clusters = np.asarray(first.column("key")) // max(1, meta["n_rows"])
            workspace.write_partitioned(TEXT1, shard, first.select(["key", "sentence_id", "text"]),
                                        partition_of(clusters, meta["n_clusters"],
                                                     meta["partitions"]), meta["partitions"])

    # ------------------------------------------------------------------ the cap
    def cap(self, ctx: Context, shard: str) -> dict[str, Any]:
        """One sentence partition: each sentence keeps its `uses_cap` best images, first among
        the images that hold it in their top_k, then among the others (candidates.py; ties:
        lower global image row); the survivors go back to their image shard."""
        workspace, meta = ctx.workspace, read_meta(ctx.workspace)
        pairs = workspace.read_partition(PAIRS, int(shard))
        keep = cap_uses_top_first(
            np.asarray(pairs.column("key")), np.asarray(pairs.column("score")),
            np.asarray(pairs.column("image_row")), np.asarray(pairs.column("rank")),
            meta["uses_cap"], ctx.config.retrieve.top_k)
        kept = pairs.take(pa.array(keep))
        workspace.write_partitioned(CAPPED, shard, kept, np.asarray(kept.column("image_shard")),
                                    len(meta["image_offsets"]))
        return {}

    def write_capped(self, ctx: Context, shard: str) -> dict[str, Any]:
        workspace, top_k, meta = ctx.workspace, ctx.config.retrieve.top_k, read_meta(ctx.workspace)
        index_of = list(meta["image_offsets"]).index(shard)
        routed = workspace.read_npy(scratch("probes", f"{shard}.npy"))
        rows, probes = routed[:, 0], routed[:, 1:]
        before = pick(self.uncapped(ctx, index_of), top_k, None)
        after = pick(workspace.read_partition(CAPPED, index_of), top_k, None)
        had = np.unique(np.asarray(before.column("row")))
        before_keys, _ = key_matrix(before, had, top_k)
        after_keys, _ = key_matrix(after, had, top_k)
        self.write_output(ctx, meta, shard, rows, probes, after)
        kept = np.unique(np.asarray(after.column("row")))
        return {"retrieved": len(kept), "dropped_sentence_cap": len(had) - len(kept),
                "texts_changed_by_cap": int(((after_keys != before_keys)
                                             & (before_keys >= 0)).sum()),
                "texts_lost_by_cap": int(((after_keys < 0) & (before_keys >= 0)).sum())}

    @staticmethod
    def uncapped(ctx: Context, index_of: int) -> pa.Table:
        candidates = ctx.workspace.read_partition(CANDIDATES, index_of)
        return pick(candidates, search_depth(ctx.config.retrieve), ctx.config.retrieve.min_score)

    # ------------------------------------------------------------------ reuse and report
    def reuse(self, ctx: Context, shard: str) -> dict[str, Any]:
        """One sentence partition: how many images use each sentence as text1."""
        text1 = ctx.workspace.read_partition(TEXT1, int(shard))
        keys, first, uses = np.unique(np.asarray(text1.column("key")), return_index=True,
                                      return_counts=True)
        values, counts = np.unique(uses, return_counts=True)
        order = np.lexsort((keys, -uses))[:quality.TOP_REUSED]
        top = [{"uses": int(uses[i]), "key": int(keys[i]),
                "sentence_id": text1.column("sentence_id")[int(first[i])].as_py(),
                "text": text1.column("text")[int(first[i])].as_py()} for i in order]
        ctx.workspace.write_json(scratch("reuse", f"{shard}.json"), {
            "uses": values.tolist(), "sentences": counts.tolist(), "top": top})
        return {}

    def report(self, ctx: Context, shard: str) -> dict[str, Any]:
        """The run's reuse and audit figures from the partial sums, and report/retrieve.json."""
        workspace = ctx.workspace
        stats = workspace.committed.merge_stats(self.name)  # every task finished so far
        routing = (workspace.read_json(scratch("router.json"), {})
                   if workspace.exists(scratch("router.json")) else {})
        parts = [workspace.read_json(scratch("reuse", f"{p}.json"))
                 for p in self.list_partitions(ctx)]
        reuse = reuse_report(parts)
        audit = audit_figures(stats, ctx.config.retrieve.top_k)
        out = {**reuse["stats"], **audit}
        config = ctx.config.retrieve
        report_audit = ({"audit_queries": stats.get("audit_queries", 0), **audit,
                         "routing": routing.get("routing"),
                         "nprobe": routing.get("lists_probed", config.lists_probed),
                         "seed": config.seed,
                         "note": "routed search vs exact search (every list) on a seeded sample "
                                 "of images kept apart from the routing fit sample; before any "
                                 "cap"} if audit else None)
        warnings = quality.warnings(out, config)
        workspace.write_json(REPORT, {
            "routing": {"routing": routing.get("routing"),
                        **{k: v for k, v in routing.items() if k != "routing"}},
            "audit": report_audit, "text1_reuse": reuse, "warnings": warnings,
            "stats": {**stats, **out}})
        return {**out, "quality_warnings": len(warnings)}

    def query_source(self, ctx: Context, meta: dict[str, Any]) -> QuerySource:
        return QuerySource(ctx.workspace, self.images, list(meta["image_offsets"]),
                           meta["image_rows"])

    # ------------------------------------------------------------------ the CLI's lines
    def summary(self, ctx: Context, stats: dict[str, Any]) -> str:
        lines = [", ".join(f"{key}={value}" for key, value in stats.items()
                           if not key.startswith(AUDIT_SUMS))]
        report = ctx.workspace.read_json(REPORT)
        lines += [f"  WARNING: {warning}" for warning in report.get("warnings", [])]
        lines += quality.reuse_lines(report.get("text1_reuse", {}))
        lines += preview(ctx.workspace, ctx.config.retrieve.preview_images,
                         ctx.config.retrieve.top_k, self.output)
        return "\n".join(lines)


class ImageRows:
    """Embeddings and document keys of global image rows (over the shards in order), each
    shard read on demand, once."""

    def __init__(self, workspace: Workspace, dataset: str, meta: dict[str, Any]):
        self.workspace, self.dataset = workspace, dataset
        self.shards = list(meta["image_offsets"])
        self.offsets = np.asarray(list(meta["image_offsets"].values()), dtype=np.int64)
        self._embeddings: dict[int, np.ndarray] = {}
        self._keys: dict[int, np.ndarray] = {}

    def global_rows(self, shards: np.ndarray, rows: np.ndarray) -> np.ndarray:
        index = {shard: i for i, shard in enumerate(self.shards)}
        return self.offsets[[index[s] for s in shards]] + rows if len(rows) else rows

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard index, row in the shard) of global rows."""
        shard = np.searchsorted(self.offsets, rows, side="right") - 1
        return shard, rows - self.offsets[shard]

    def read(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 embeddings and document keys of sorted global rows."""
        shard, local = self.locate(rows)
        vectors, keys = [], []
        for s in np.unique(shard):
            if s not in self._embeddings:
                name = self.shards[s]
                self._embeddings[s] = self.workspace.read_array(self.dataset, name)
                self._keys[s] = doc_keys(self.workspace.read_table(
                    self.dataset, name, columns=["doc_id"]).column("doc_id").to_pylist())
            mine = local[shard == s]
            vectors.append(np.asarray(self._embeddings[s][mine], dtype=np.float32))
            keys.append(self._keys[s][mine])
        if not vectors:
            return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
        return np.concatenate(vectors), np.concatenate(keys)


def lists_probed(workspace: Workspace, meta: dict[str, Any], config: RetrieveConfig) -> int:
    """Lists each image probes: the router step's choice (every list when exact, more on a
    fallback), else the configured nprobe."""
    if meta["n_clusters"] and workspace.exists(scratch("router.json")):
        return int(workspace.read_json(scratch("router.json"))["lists_probed"])
    return max(1, min(config.lists_probed, meta["n_clusters"]))


def search_depth(config: RetrieveConfig) -> int:
    """Candidates kept per image: a cap needs more than top_k, so that an image whose best
    sentences are taken still has others."""
    return config.top_k * (quality.CAP_CANDIDATES if config.capped else 1)


def candidate_schema() -> pa.Schema:
    return pa.schema([("image_shard", pa.int64()), ("row", pa.int64()),
                      ("score", pa.float32()), ("key", pa.int64()),
                      *[(name, pa.string()) for name in TEXT_COLUMNS]])


def candidate_table(queries: np.ndarray, images: ImageRows, scores: np.ndarray,
                    positions: np.ndarray, index: ClusterIndex, sentences: pa.Table,
                    meta: dict[str, Any], lo: int) -> pa.Table:
    """The found candidates of a search over one partition (`queries`: global image rows):
    image shard and row, score, order key and the sentence's ids and text."""
    query, slot = np.nonzero(np.isfinite(scores) & (positions >= 0))
    position = positions[query, slot]
    clusters = index.cluster_of_sorted(position) + lo
    keys = clusters * meta["n_rows"] + np.asarray(index.rows)[position]
    image_shard, row = images.locate(queries[query])
    taken = sentences.select(list(TEXT_COLUMNS)).take(pa.array(position))
    return pa.table({"image_shard": pa.array(image_shard, pa.int64()),
                     "row": pa.array(row, pa.int64()),
                     "score": pa.array(scores[query, slot], pa.float32()),
                     "key": pa.array(keys, pa.int64()),
                     **{name: taken.column(name) for name in TEXT_COLUMNS}},
                    schema=candidate_schema())


def pick(candidates: pa.Table, depth: int, min_score: float | None) -> pa.Table:
    """Each image's `depth` best candidates, rows ascending, best first."""
    keep = best_per_row(np.asarray(candidates.column("row")),
                        np.asarray(candidates.column("score")),
                        np.asarray(candidates.column("key")), depth, min_score)
    return candidates.take(pa.array(keep, pa.int64()))


def key_matrix(picked: pa.Table, rows: np.ndarray, width: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Order keys (-1: none) and scores (NaN) of the picked candidates of `rows` (sorted)."""
    picked_rows = np.asarray(picked.column("row"))
    mine = np.isin(picked_rows, rows)
    return (dense(rows, picked_rows[mine], np.asarray(picked.column("key"))[mine], width, -1),
            dense(rows, picked_rows[mine], np.asarray(picked.column("score"))[mine], width,
                  np.float32(np.nan)))


def output_table(images: pa.Table, first_probe: np.ndarray, picked: pa.Table,
                 found: np.ndarray, top_k: int, n_rows: int) -> pa.Table:
    """The `retrieved` rows of the images `found` (sorted) from their picked candidates."""
    picked_rows = np.asarray(picked.column("row"))
    cell = dense(found, picked_rows, np.arange(len(picked_rows)), top_k, -1)
    keys = dense(found, picked_rows, np.asarray(picked.column("key")), top_k, -1)
    scores = dense(found, picked_rows, np.asarray(picked.column("score")), top_k,
                   np.float32(np.nan))
    columns: dict[str, Any] = {name: images.column(name) for name in IMAGE_COLUMNS}
    columns["image_cluster_id"] = pa.array(first_probe, pa.int64())
    for j in range(top_k):
        missing = cell[:, j] < 0
        take = pa.array(cell[:, j], pa.int64(), mask=missing)
        columns[f"text{j + 1}"] = picked.column("text").take(take)
        columns[f"score{j + 1}"] = pa.array(scores[:, j], pa.float32(), mask=missing)
        columns[f"sentence_id{j + 1}"] = picked.column("sentence_id").take(take)
        columns[f"sentence_doc_id{j + 1}"] = picked.column("doc_id").take(take)
        columns[f"cluster_id{j + 1}"] = pa.array(keys[:, j] // max(1, n_rows), pa.int64(),
                                                 mask=missing)
    return pa.table(columns, schema=retrieved_schema(top_k))


def reuse_report(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """How many images each text1 sentence serves, from the partitions' counts."""
    uses = np.array([u for part in parts for u in part["uses"]], dtype=np.int64)
    sentences = np.array([n for part in parts for n in part["sentences"]], dtype=np.int64)
    if not len(uses):
        return {"stats": {"text1_sentences": 0}, "top": []}
    top = sorted((row for part in parts for row in part["top"]),
                 key=lambda row: (-row["uses"], row["key"]))[:quality.TOP_REUSED]
    images = int((uses * sentences).sum())
    stats = {"text1_sentences": int(sentences.sum()),
             "text1_max_uses": int(uses.max()),
             "text1_max_share": round(int(uses.max()) / images, 4),
             "text1_p99_uses": round(percentile_of_counts(uses, sentences, 99), 2),
             "images_sharing_text1": int((uses * sentences)[uses > 1].sum())}
    return {"stats": stats, "images": images,
            "top": [{key: row[key] for key in ("uses", "sentence_id", "text")} for row in top],
            "note": "uses = images whose text1 is the sentence; p99 over sentences used as "
                    "text1; images_sharing_text1 = images whose text1 serves another image too"}


def audit_figures(stats: dict[str, Any], top_k: int) -> dict[str, Any]:
    """The audit's ratios from the per-shard sums."""
    queries = stats.get("audit_queries", 0)
    if not queries:
        return {"audit_queries": 0}
    exact = stats[f"{AUDIT_SUMS}exact_score"]
    ratio = stats[f"{AUDIT_SUMS}routed_score"] / exact if exact else 1.0
    return {"audit_score_ratio": round(ratio, 4),
            f"audit_recall@{top_k}": round(stats[f"{AUDIT_SUMS}recall"] / queries, 4),
            "audit_top1_same": round(stats[f"{AUDIT_SUMS}top1_same"] / queries, 4),
            "audit_lists_per_image": round(stats.get(f"{AUDIT_SUMS}lists_probed", 0) / queries,
                                           3)}


def preview(workspace: Workspace, n_images: int, top_k: int, dataset: str = OUTPUT
            ) -> list[str]:
    """Human lines: for `n_images` retrieved images spread evenly over the dataset (not just
    its first rows, which often come from one document), their texts with scores."""
    shards = workspace.shards(dataset)
    counts = [workspace.read_table(dataset, shard, columns=[]).num_rows for shard in shards]
    total = sum(counts)
    if total == 0 or n_images == 0:
        return []
    wanted = np.unique(np.linspace(0, total - 1, min(n_images, total)).round().astype(np.int64))
    bounds = np.cumsum([0, *counts])
    rows: list[dict[str, Any]] = []
    for i, shard in enumerate(shards):
        local = wanted[(wanted >= bounds[i]) & (wanted < bounds[i + 1])] - bounds[i]
        if len(local):
            rows += workspace.read_table(dataset, shard).take(pa.array(local)).to_pylist()
    lines = []
    for row in rows:
        lines.append(f"  image {row['image_id']} {row['url']}")
        lines += [f"    {row[f'score{i}']:.3f}  {row[f'text{i}']}"
                  for i in range(1, top_k + 1) if row[f"text{i}"] is not None]
    return lines


def sentence_identity(workspace: Workspace, sentences: str, shards: list[str]) -> list[str]:
    """What the sentence vectors are, so that other vectors never reuse the centres: the
    commit identity (fingerprint and generation) of the dataset and array folders a stage
    wrote, or for folders written outside a stage (no commit marker) the sha256 of each
    shard's bytes. Never size and mtime: float16 shards of one shape have one size, object
    stores keep whole seconds, and copies keep mtimes."""
    committed = [folder_identity(location_url(workspace.committed, location))
                 for location in (datasets.dataset(sentences), datasets.array(sentences))]
    if all(committed):
        return [str(identity) for identity in committed]
    return [_sha256(workspace, f"{datasets.array(sentences)}/{shard}.npy") for shard in shards]


def _sha256(workspace: Workspace, relpath: str) -> str:
    digest = hashlib.sha256()
    with workspace.fs.open(workspace.path(relpath), "rb") as handle:
        while block := handle.read(MB):
            digest.update(block)
    return digest.hexdigest()


def _fingerprint(shards: list[str], counts: list[int], identity: list[str],
                 params: dict[str, Any], encoder: Any) -> str:
    blob = json.dumps({"shards": shards, "counts": counts, "identity": identity,
                       "params": params, "encoder": encoder}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
