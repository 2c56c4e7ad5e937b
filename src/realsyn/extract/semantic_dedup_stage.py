"""The semantic_dedup stage, partitioned by k-means (SemDeDup / NeMo Curator style).

    centroids  per kind:       spherical k-means on a bounded, seeded sample of the vectors
    assign     per shard:      members partitioned by nearest centroid; per-partition caps
    route      per shard:      every vector routed as a query to the partitions that may hold
                               a neighbour within the threshold, at most partition_max_probes
                               of them, nearest first (semantic_partition.py)
    pairs      per partition:  range search of the routed queries against the members
    groups     per kind:       components over the edges, one kept per component
                               (images: the largest, sentences: the first)
    filter     per shard:      kept rows and their embeddings -> images_final / sentences_final

The embed stage's arrays are carried over to the outputs either way (retrieval needs them);
sentences may be grouped on a separate paraphrase model's vectors instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from realsyn import datasets
from realsyn.dataflow import sampling
from realsyn.dataflow.rows import check_rows, row_codes
from realsyn.extract import semantic_partition as sp
from realsyn.extract.dedup_stage import image_priority
from realsyn.extract.dedup_steps import (
    edge_table,
    read_array_file,
    shard_index,
    split_task,
    task_key,
    write_array_file,
    write_dropped,
    write_edges,
)
from realsyn.extract.funnel_stage import IMAGES, SENTENCES, FunnelStage
from realsyn.stage import Context, Step

REASONS = {IMAGES: "semantic_duplicate", SENTENCES: "paraphrase"}
_ENCODERS: dict[tuple, Any] = {}  # one paraphrase model per process, loaded on first use


def _vector_column(vectors: np.ndarray) -> pa.FixedSizeListArray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(vectors.ravel(), vectors.shape[1])


def _per_kind(name: str) -> tuple[str, ...]:
    """The scratch datasets `name` of both kinds ("images_<name>", "sentences_<name>")."""
    return tuple(f"{kind}_{name}" for kind in (IMAGES, SENTENCES))


def _vectors_of(table: pa.Table, column: str = "vector") -> np.ndarray:
    values = table.column(column).combine_chunks()
    size = values.type.list_size
    return np.asarray(values.flatten().to_numpy(), dtype=np.float32).reshape(-1, size)


class SemanticDedupStage(FunnelStage):
    name = "semantic_dedup"
    description = "Semantic image and paraphrase dedup on the embeddings (k-means partitions)."
    # The partitioning is in: with a capped fan-out (extract.partition_max_probes) the
    # centroids decide which pairs are searched. Only exact routing (None) makes the groups
    # those of an exhaustive search whatever the centroids.
    config_paths = ("extract.images.semantic_dedup", "extract.images.semantic_dedup_threshold",
                    "extract.sentences.semantic_dedup", "extract.sentences.paraphrase_model",
                    "extract.sentences.paraphrase_threshold", "extract.partition_size",
                    "extract.partition_probes", "extract.partition_max_probes",
                    "extract.kmeans_iterations", "extract.max_training_points",
                    "extract.seed")
    version = "3"  # routing fan-out capped by extract.partition_max_probes

    def __init__(self, images: str = datasets.IMAGES_DEDUP,
                 sentences: str = datasets.SENTENCES_DEDUP,
                 images_out: str = datasets.IMAGES_FINAL,
                 sentences_out: str = datasets.SENTENCES_FINAL) -> None:
        super().__init__(images, sentences, images_out, sentences_out)

    def drop_input(self, reason: str) -> str:
        return "images_in" if reason.startswith("images_") else "sentences_in"

    def drop_settings(self, config) -> dict[str, tuple[str, Any]]:
        return {"images_semantic_duplicate": ("extract.images.semantic_dedup_threshold",
                                              config.extract.images.semantic_dedup_threshold),
                "sentences_paraphrase": ("extract.sentences.paraphrase_threshold",
                                         config.extract.sentences.paraphrase_threshold)}

    def reads(self, config) -> list[str]:
        return [location for name in (self.images, self.sentences)
                for location in (datasets.dataset(name), datasets.array(name))]

    def writes(self, config) -> list[str]:
        return [location for name in (self.images_out, self.sentences_out)
                for location in (datasets.dataset(name), datasets.array(name))]

    def steps(self, config) -> list[Step]:
        centroids, members, caps, queries, edges, dropped = (
            _per_kind(name) for name in ("centroids.npy", "members", "caps", "queries",
                                         "edges", "dropped"))
        vectors = (f"{SENTENCES}_vectors",)  # a paraphrase model's, cached by assign
        return [Step("centroids", self.kind_tasks, self.centroids, writes=centroids),
                Step("assign", self.shard_tasks, self.assign, reads=centroids,
                     writes=members + caps + vectors),
                Step("route", self.shard_tasks, self.route, reads=centroids + caps + vectors,
                     writes=queries),
                Step("pairs", self.pair_tasks, self.pairs, reads=members + queries,
                     writes=edges),
                Step("groups", self.kind_tasks, self.groups, reads=centroids + edges,
                     writes=dropped),
                Step("filter", self.shard_tasks, self.filter, reads=dropped)]

    # ------------------------------------------------------------ config

    @staticmethod
    def _threshold(ctx: Context, kind: str) -> float | None:
        """The grouping threshold of a kind, None when its semantic dedup is off."""
        if kind == IMAGES:
            cfg = ctx.config.extract.images
            return cfg.semantic_dedup_threshold if cfg.semantic_dedup else None
        cfg = ctx.config.extract.sentences
        return cfg.paraphrase_threshold if cfg.semantic_dedup else None

    def kind_tasks(self, ctx: Context) -> list[str]:
        return [IMAGES, SENTENCES]

    def pair_tasks(self, ctx: Context) -> list[str]:
        return [task_key(kind, f"{part:05d}") for kind in (IMAGES, SENTENCES)
                for part in ctx.workspace.partitions(ctx.scratch_read(f"{kind}_members"))]

    # ------------------------------------------------------------ vectors
    def _check_arrays(self, ctx: Context, source: str) -> None:
        shards = ctx.workspace.shards(source)
        missing = sorted(set(shards) - set(ctx.workspace.array_shards(source)))
        if missing:
            raise RuntimeError(f"semantic_dedup needs the embeddings of {source!r} (run the "
                               f"embed stage first); missing array shards: {missing[:5]}")

    def _embeddings(self, ctx: Context, source: str, shard: str, rows: int) -> np.ndarray:
        array = ctx.workspace.read_array(source, shard)
        check_rows(source, shard, rows, array.shape[0])
        return array

    @staticmethod
    def _paraphrase(ctx: Context):
        """The configured paraphrase model's encoder, or None (group on the embeddings)."""
        cfg = ctx.config.extract.sentences
        if not cfg.paraphrase_model:
            return None
        key = (cfg.paraphrase_model, ctx.config.embed.encoder.device, cfg.paraphrase_batch_size)
        if key not in _ENCODERS:
            from realsyn.models.paraphrase import ParaphraseEncoder

            _ENCODERS[key] = ParaphraseEncoder(*key)
        return _ENCODERS[key]

    def _grouping_vectors(self, ctx: Context, kind: str, shard: str,
                          rows: np.ndarray | None = None) -> np.ndarray:
        """The vectors to group rows `rows` (default all) of a shard on, float32."""
        source = self._source(kind)
        encoder = self._paraphrase(ctx) if kind == SENTENCES else None
        if encoder is not None:
            texts = ctx.workspace.read_table(source, shard, ["text"]).column("text")
            texts = texts.to_pylist() if rows is None else texts.take(rows).to_pylist()
            return np.asarray(encoder.embed(texts), dtype=np.float32)
        array = self._embeddings(ctx, source, shard, ctx.workspace.shard_rows(source, shard))
        return np.asarray(array if rows is None else array[rows], dtype=np.float32)

    def _shard_vectors(self, ctx: Context, kind: str, shard: str) -> np.ndarray:
        """A shard's grouping vectors; a paraphrase model's are cached in scratch by assign,
        so route does not encode the shard twice."""
        if kind == SENTENCES and self._paraphrase(ctx) is not None:
            path = ctx.scratch_read(f"{kind}_vectors", f"{shard}.npy")
            if ctx.workspace.exists(path):
                return read_array_file(ctx, path)
            vectors = self._grouping_vectors(ctx, kind, shard)
            write_array_file(ctx, ctx.scratch_write(f"{kind}_vectors", f"{shard}.npy"), vectors)
            return vectors
        return self._grouping_vectors(ctx, kind, shard)

    # ------------------------------------------------------------ centroids (per kind)
    def centroids(self, ctx: Context, kind: str) -> dict[str, Any]:
        source = self._source(kind)
        self._check_arrays(ctx, source)
        if self._threshold(ctx, kind) is None:
            return {}
        extract = ctx.config.extract
        shards = ctx.workspace.shards(source)
        lengths = [ctx.workspace.shard_rows(source, shard) for shard in shards]
        count = sum(lengths)
        if count == 0:
            return {}
        sample = sampling.sample_across(
            lengths, extract.max_training_points, extract.seed,
            lambda i, rows: self._grouping_vectors(ctx, kind, shards[i], rows))
        centroids = sp.train_centroids(sample, sp.partition_count(count, extract.partition_size),
                                       extract.kmeans_iterations, extract.seed)
        write_array_file(ctx, ctx.scratch_write(f"{kind}_centroids.npy"), centroids)
        return {f"{kind}_partitions": len(centroids)}

    def _centroids(self, ctx: Context, kind: str) -> np.ndarray | None:
        path = ctx.scratch_read(f"{kind}_centroids.npy")
        return read_array_file(ctx, path) if ctx.workspace.exists(path) else None

    def _priority(self, ctx: Context, kind: str, shard: str) -> np.ndarray:
        source = self._source(kind)
        if kind == IMAGES:
            return image_priority(ctx.workspace.read_table(source, shard, ["width", "height"]))
        return np.zeros(ctx.workspace.shard_rows(source, shard))

    # ------------------------------------------------------------ assign / route (per shard)
    def assign(self, ctx: Context, task: str) -> dict[str, Any]:
        kind, shard = split_task(task)
        centroids = self._centroids(ctx, kind)
        if centroids is None:
            return {}
        vectors = self._shard_vectors(ctx, kind, shard)
        home, similarity = sp.assign(vectors, centroids)
        ids = row_codes(shard_index(ctx, self._source(kind), shard), len(vectors))
        members = pa.table({"id": ids, "priority": self._priority(ctx, kind, shard),
                            "vector": _vector_column(vectors)})
        ctx.workspace.write_partitioned(ctx.scratch_write(f"{kind}_members"), shard, members, home,
                                        len(centroids))
        caps = sp.partition_caps(home, similarity, len(centroids))
        table = pa.table({"partition": np.arange(len(caps)), "cap": caps})
        ctx.workspace.write_partitioned(ctx.scratch_write(f"{kind}_caps"), shard, table,
                                        np.zeros(len(caps), np.int64), 1)
        return {}

    def route(self, ctx: Context, task: str) -> dict[str, Any]:
        kind, shard = split_task(task)
        centroids = self._centroids(ctx, kind)
        if centroids is None:
            return {}
        caps = np.full(len(centroids), np.inf)
        table = ctx.workspace.read_partition(ctx.scratch_read(f"{kind}_caps"), 0)
        np.minimum.at(caps, table.column("partition").to_numpy(),
                      table.column("cap").to_numpy())
        vectors = self._shard_vectors(ctx, kind, shard)
        extract = ctx.config.extract
        rows, parts, at_cap = sp.route(vectors, centroids, caps, self._threshold(ctx, kind),
                                       extract.partition_probes, extract.partition_max_probes)
        ids = row_codes(shard_index(ctx, self._source(kind), shard), len(vectors))
        queries = pa.table({"id": ids[rows],
                            "priority": self._priority(ctx, kind, shard)[rows],
                            "vector": _vector_column(vectors[rows])})
        ctx.workspace.write_partitioned(ctx.scratch_write(f"{kind}_queries"), shard, queries, parts,
                                        len(centroids))
        return {f"{kind}_routed_queries": len(rows), f"{kind}_routes_at_cap": at_cap}

    # ------------------------------------------------------------ pairs (per partition)
    def pairs(self, ctx: Context, task: str) -> dict[str, Any]:
        kind, part = split_task(task)
        members = ctx.workspace.read_partition(ctx.scratch_read(f"{kind}_members"), int(part))
        queries = ctx.workspace.read_partition(ctx.scratch_read(f"{kind}_queries"), int(part))
        member_ids = members.column("id").to_numpy()
        query_ids = queries.column("id").to_numpy()
        edges = sp.partition_edges(member_ids, _vectors_of(members), query_ids,
                                   _vectors_of(queries), self._threshold(ctx, kind))
        table = edge_table(edges, np.concatenate([member_ids, query_ids]),
                           np.concatenate([members.column("priority").to_numpy(),
                                           queries.column("priority").to_numpy()]))
        write_edges(ctx, ctx.scratch_write(f"{kind}_edges"), task, table)
        return {}

    # ------------------------------------------------------------ groups (per kind)
    def groups(self, ctx: Context, kind: str) -> dict[str, Any]:
        if self._centroids(ctx, kind) is not None:
            write_dropped(ctx, ctx.scratch_read(f"{kind}_edges"),
                          ctx.scratch_write(f"{kind}_dropped"),
                          len(ctx.workspace.shards(self._source(kind))), None, REASONS[kind])
        return {}

    # ------------------------------------------------------------ filter (per shard)
    def filter(self, ctx: Context, task: str) -> dict[str, Any]:
        """Kept rows, and the same rows of the embed stage's array."""
        kind = split_task(task)[0]
        kind, shard, keep, stats = self.write_kept(ctx, task, ctx.scratch_read(f"{kind}_dropped"),
                                                   [REASONS[kind]], f"dropped_{kind}_")
        source = self._source(kind)
        array = np.asarray(self._embeddings(ctx, source, shard, len(keep)))
        ctx.workspace.write_array(self._target(kind), shard, np.ascontiguousarray(array[keep]))
        return stats
