"""The single-process retrieve stage as it was before retrieval was partitioned: one task that
builds the whole index and searches every image. Kept as the oracle the partitioned stage must
reproduce (same records, scores and ties for the same seed)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from oracle_index import BuildParams, EmptyIndexError, build_index, index_exists, load_index
from oracle_quality import Audit, cap_sentence_uses, sentence_reuse
from oracle_routing import QuerySource, make_router

from realsyn import datasets
from realsyn.config import RetrieveConfig
from realsyn.dataflow.digest import signed_hashes
from realsyn.dataflow.rows import usable_rows
from realsyn.retrieve import quality
from realsyn.retrieve.index import ClusterIndex
from realsyn.retrieve.queries import sample_rows
from realsyn.retrieve.search import HierarchicalSearcher, SearchResult
from realsyn.stage import RECORDS, Context, Stage
from realsyn.workspace import Workspace

# Nothing here comes from realsyn.retrieve.stage, the module this oracle checks: its names,
# record layout and index cache key are written out below.
INDEX_DIR = "index/retrieve-single"
REPORT = "report/retrieve.json"
SENTENCES = datasets.SENTENCES_FINAL
IMAGE_COLUMNS = ["image_id", "doc_id", "position", "url"]


def retrieved_schema(top_k: int) -> pa.Schema:
    """A retrieved record: the image, the first list it probed, then per rank k (1 = most
    similar) the sentence's text, cosine, id, document and cluster."""
    per_rank = {"text": pa.string(), "score": pa.float32(), "sentence_id": pa.string(),
                "sentence_doc_id": pa.string(), "cluster_id": pa.int64()}
    image = {"image_id": pa.string(), "doc_id": pa.string(), "position": pa.int32(),
             "url": pa.string(), "image_cluster_id": pa.int64()}
    return pa.schema([*image.items(), *((f"{name}{k}", kind) for k in range(1, top_k + 1)
                                        for name, kind in per_rank.items())])


def index_key(workspace: Workspace, sentences: str, shards: list[str], params: BuildParams
              ) -> str:
    """What the cached index was built from: every sentence array's bytes and the params."""
    digest = hashlib.sha256(repr((shards, vars(params),
                                  workspace.manifest().get("encoder"))).encode())
    for shard in shards:
        digest.update(workspace.read_bytes(f"arrays/{sentences}/{shard}.npy"))
    return digest.hexdigest()


def check_aligned(workspace: Workspace, name: str) -> tuple[list[str], list[int]]:
    """Shard keys and row counts of a dataset whose array shards must be row-aligned."""
    shards = workspace.shards(name)
    if shards != workspace.array_shards(name):
        raise ValueError(f"dataset {name!r} and its embeddings have different shards: "
                         f"{shards} vs {workspace.array_shards(name)}")
    counts = []
    for shard in shards:
        rows = workspace.read_table(name, shard, columns=[]).num_rows
        embedded = len(workspace.read_array(name, shard))
        if rows != embedded:
            raise ValueError(f"{name}/{shard}: {rows} records but {embedded} embedding rows")
        counts.append(rows)
    return shards, counts


class SingleProcessRetrieve(Stage):
    name = "retrieve"
    description = "Hierarchical retrieval of each image's top-k real sentences (k-means + IVF)."
    config_paths = ("retrieve", "embed.encoder")
    reports = (REPORT,)
    caches = (INDEX_DIR,)

    def __init__(self, sentences: str = SENTENCES, images: str = datasets.IMAGES_FINAL,
                 output: str = datasets.RETRIEVED) -> None:
        self.sentences, self.images, self.output = sentences, images, output

    def reads(self, config) -> list[str]:
        return [location for name in (self.sentences, self.images)
                for location in (datasets.dataset(name), datasets.array(name))]

    def writes(self, config) -> list[str]:
        return [datasets.dataset(self.output)]

    def process(self, ctx: Context, shard: str) -> dict[str, Any]:
        workspace, config = ctx.workspace, ctx.config.retrieve
        index, index_stats = self.ensure_index(workspace, config)
        image_shards, image_counts = check_aligned(workspace, self.images)
        stats: dict[str, Any] = {RECORDS: 0, "retrieved": 0, "dropped_bad_embedding": 0,
                                 "dropped_no_sentence": 0, **index_stats}
        lookup = SentenceLookup(workspace, *check_aligned(workspace, self.sentences),
                                dataset=self.sentences)
        fit_rows, audit_rows = sample_rows(sum(image_counts), config)
        queries = QuerySource(workspace, self.images, image_shards, image_counts)
        router, routing_stats = (make_router(index, config, queries, fit_rows)
                                 if index is not None else (None, {}))
        stats.update(routing_stats)
        searcher = HierarchicalSearcher(index, router=router) if index is not None else None
        audit = Audit(searcher, config) if searcher is not None else None
        # a cap needs every image's candidates before any is assigned: search more than top_k
        depth = config.top_k * (quality.CAP_CANDIDATES if config.capped else 1)
        searched = []
        for shard in image_shards:
            rows, result, shard_stats = self.search_shard(
                workspace, config, searcher, shard, depth,
                routing_stats.get("lists_probed", config.lists_probed))
            if audit is not None:
                audit.check(queries.global_rows(shard, rows), audit_rows, result,
                            lambda local, shard=shard: queries.read(shard, local), rows)
            searched.append((shard, rows, result))
            for key, value in shard_stats.items():
                stats[key] += value
        if config.capped and searcher is not None:
            capped, cap_stats = cap_sentence_uses(
                [result for _, _, result in searched], config.uses_cap(sum(image_counts)),
                config.top_k)
            searched = [(shard, rows, result) for (shard, rows, _), result
                        in zip(searched, capped, strict=True)]
            stats.update(cap_stats)
            stats["retrieved"] -= cap_stats["dropped_sentence_cap"]
        for shard, rows, result in searched:
            found = result.positions[:, 0] >= 0 if len(rows) else np.zeros(0, bool)
            images = workspace.read_table(self.images, shard, columns=IMAGE_COLUMNS)
            table = (self._table(images.take(rows[found]), _select(result, found), index, lookup,
                                 config.top_k) if searcher is not None
                     else retrieved_schema(config.top_k).empty_table())
            workspace.write_table(self.output, shard, table)
        reuse = sentence_reuse([result for _, _, result in searched], index, lookup)
        stats.update(reuse["stats"])
        if audit is not None:
            stats.update(audit.stats())
        workspace.write_json(REPORT, {"routing": {
                                          "routing": router.name if router else None,
                                          **routing_stats},
                                      "audit": audit.report() if audit is not None else None,
                                      "text1_reuse": reuse, "stats": stats})
        return stats

    # ------------------------------------------------------------------ the index
    def ensure_index(self, workspace: Workspace, config: RetrieveConfig
                     ) -> tuple[ClusterIndex | None, dict[str, int]]:
        shards, counts = check_aligned(workspace, self.sentences)
        params = BuildParams(n_clusters=config.n_clusters,
                             sentences_per_cluster=config.sentences_per_cluster,
                             lists_per_cluster=config.list_split,
                             iterations=config.kmeans_iterations,
                             training_points_per_cluster=config.training_points_per_cluster,
                             max_training_points=config.max_training_points, seed=config.seed,
                             flat_centre_limit=config.flat_centre_limit,
                             centre_probes=config.centre_probes)
        fingerprint = index_key(workspace, self.sentences, shards, params)
        folder, local = self._index_folder(workspace)
        index = None
        if index_exists(folder):
            index = load_index(folder)
            if index.meta.get("fingerprint") != fingerprint:
                index = None
        if index is None and sum(counts) > 0:
            blocks = [workspace.read_array(self.sentences, shard) for shard in shards]
            keys = np.concatenate([signed_hashes(workspace.read_table(
                self.sentences, shard, columns=["doc_id"]).column("doc_id").to_pylist())
                for shard in shards])
            try:
                index = build_index(folder, blocks, keys, params,
                                    extra_meta={"fingerprint": fingerprint,
                                                "encoder": workspace.manifest().get("encoder")})
            except EmptyIndexError:
                index = None  # every sentence is counted as dropped below
            if index is not None and not local:
                if workspace.exists(INDEX_DIR):
                    workspace.fs.rm(workspace.path(INDEX_DIR), recursive=True)
                workspace.fs.put(str(folder), workspace.path(INDEX_DIR), recursive=True)
        if index is None:
            return None, {"sentences_in": sum(counts), "sentences_indexed": 0,
                          "sentences_dropped_bad_embedding": sum(counts)}
        return index, {"sentences_in": index.meta["n_input"],
                       "sentences_indexed": index.ntotal,
                       "sentences_dropped_bad_embedding": index.meta["dropped_bad_embedding"],
                       "clusters": index.n_clusters,
                       "empty_clusters": index.meta["empty_clusters"]}

    @staticmethod
    def _index_folder(workspace: Workspace) -> tuple[Path, bool]:
        """Where the index lives locally: in the workspace, or (remote workspace) a local
        cache folder whose copy is uploaded after the build."""
        if workspace.is_local:
            return Path(workspace.path(INDEX_DIR)), True
        digest = hashlib.sha256(workspace.url.encode()).hexdigest()[:16]
        cache = Path(tempfile.gettempdir()) / f"realsyn-index-{digest}" / "retrieve"
        if not cache.exists() and workspace.exists(INDEX_DIR):
            cache.parent.mkdir(parents=True, exist_ok=True)
            workspace.fs.get(workspace.path(INDEX_DIR), str(cache), recursive=True)
            if not index_exists(cache):
                shutil.rmtree(cache, ignore_errors=True)
        return cache, False

    # ------------------------------------------------------------------ the queries
    def search_shard(self, workspace: Workspace, config: RetrieveConfig,
                     searcher: HierarchicalSearcher | None, shard: str, depth: int,
                     nprobe: int) -> tuple[np.ndarray, SearchResult, dict[str, int]]:
        """The searched rows of one image shard and their `depth` best sentences."""
        image_doc_ids = workspace.read_table(self.images, shard, columns=["doc_id"]).column(
            "doc_id").to_pylist()
        embeddings = workspace.read_array(self.images, shard)
        stats = {RECORDS: len(image_doc_ids), "retrieved": 0, "dropped_bad_embedding": 0,
                 "dropped_no_sentence": 0}
        usable = usable_rows(embeddings)
        stats["dropped_bad_embedding"] = int((~usable).sum())
        rows = np.flatnonzero(usable)
        if searcher is None:
            stats["dropped_no_sentence"] = len(rows)
            return rows[:0], _concat([], depth, nprobe), stats
        results = []
        for start in range(0, len(rows), config.query_batch_size):
            batch = rows[start:start + config.query_batch_size]
            keys = (signed_hashes([image_doc_ids[i] for i in batch])
                    if config.exclude_own_document else None)
            results.append(searcher.search(embeddings[batch], depth, nprobe,
                                           query_doc_keys=keys, min_score=config.min_score))
        result = _concat(results, depth, nprobe)
        found = result.positions[:, 0] >= 0
        stats["dropped_no_sentence"] = int((~found).sum())
        stats["retrieved"] = int(found.sum())
        return rows, result, stats

    @staticmethod
    def _table(images: pa.Table, result: SearchResult, index: ClusterIndex,
               lookup: SentenceLookup, top_k: int) -> pa.Table:
        positions = result.positions[:, :top_k]
        present = positions >= 0
        global_rows = np.where(present, np.asarray(index.rows)[np.maximum(positions, 0)], -1)
        sentences = lookup.fetch(global_rows[present])
        clusters = index.cluster_of_sorted(positions)
        columns: dict[str, Any] = {name: images.column(name) for name in IMAGE_COLUMNS}
        columns["image_cluster_id"] = pa.array(result.probes[:, 0], pa.int64())
        for j in range(top_k):
            mask = present[:, j]
            picked = {key: _spread(values, present, j) for key, values in sentences.items()}
            columns[f"text{j + 1}"] = pa.array(picked["text"], pa.string())
            columns[f"score{j + 1}"] = pa.array(result.scores[:, j], pa.float32(), mask=~mask)
            columns[f"sentence_id{j + 1}"] = pa.array(picked["sentence_id"], pa.string())
            columns[f"sentence_doc_id{j + 1}"] = pa.array(picked["doc_id"], pa.string())
            columns[f"cluster_id{j + 1}"] = pa.array(clusters[:, j], pa.int64(), mask=~mask)
        return pa.table(columns, schema=retrieved_schema(top_k))

class SentenceLookup:
    """Sentence id, text and document of global rows of `sentences_final` (shards in order)."""

    columns = ("sentence_id", "text", "doc_id")

    def __init__(self, workspace: Workspace, shards: list[str], counts: list[int],
                 dataset: str = SENTENCES):
        self.workspace, self.dataset = workspace, dataset
        self.shards = shards
        self.bounds = np.cumsum([0, *counts])

    def fetch(self, global_rows: np.ndarray) -> dict[str, list]:
        out: dict[str, list] = {name: [None] * len(global_rows) for name in self.columns}
        shard_of = np.searchsorted(self.bounds, global_rows, side="right") - 1
        for s in np.unique(shard_of):
            where = np.flatnonzero(shard_of == s)
            table = self.workspace.read_table(self.dataset, self.shards[s], list(self.columns))
            taken = table.take(pa.array(global_rows[where] - self.bounds[s]))
            for name in self.columns:
                values = taken.column(name).to_pylist()
                target = out[name]
                for i, value in zip(where, values, strict=True):
                    target[i] = value
        return out


def _spread(values: list, present: np.ndarray, column: int) -> list:
    """Values listed for the present cells (row-major) of `present`, picked for one column."""
    flat_index = np.cumsum(present.ravel()) - 1
    cells = flat_index.reshape(present.shape)[:, column]
    return [values[c] if ok else None for c, ok in zip(cells, present[:, column], strict=True)]


def _concat(results: list[SearchResult], top_k: int, nprobe: int) -> SearchResult:
    if not results:
        empty = np.empty((0, top_k))
        return SearchResult(empty.astype(np.int64), empty.astype(np.float32),
                            np.empty((0, nprobe), np.int64))
    return SearchResult(np.concatenate([r.positions for r in results]),
                        np.concatenate([r.scores for r in results]),
                        np.concatenate([r.probes for r in results]))


def _select(result: SearchResult, mask: np.ndarray) -> SearchResult:
    return SearchResult(result.positions[mask], result.scores[mask], result.probes[mask])
