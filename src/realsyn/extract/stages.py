"""The extraction stages (spec section 1) over the workspace datasets.

    images  --extract_images-->     images_filtered     --dedup-->  images_dedup
    texts   --extract_sentences-->  sentences_filtered  --dedup-->  sentences_dedup
    (embed writes row-aligned arrays images_dedup / sentences_dedup)
    images_dedup + array     --semantic_dedup-->  images_final + array
    sentences_dedup + array  --semantic_dedup-->  sentences_final + array

Global stages keep the shard keys of their inputs, so row-aligned arrays stay aligned.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa

from realsyn import datasets
from realsyn.extract import dedup, funnel, paper_filters
from realsyn.extract.images import ImageRejected, decode_image
from realsyn.extract.phash import linking_pairs, phash
from realsyn.extract.sentences import (
    load_parser,
    split_sentences,
)
from realsyn.extract.union_find import keep_one_per_group
from realsyn.filters import RecordFilter, apply_filters, build_filter
from realsyn.records import IMAGE_SCHEMA, SENTENCE_SCHEMA, sentence_id
from realsyn.stage import RECORDS, Context, GlobalStage, Stage

IMAGES_FILTERED_SCHEMA = pa.schema(
    [field for field in IMAGE_SCHEMA if field.name != "status"]
    + [("width", pa.int32()), ("height", pa.int32()), ("format", pa.string()),
       ("phash", pa.int64())]
)
SENTENCES_FILTERED_SCHEMA = pa.schema(
    [*SENTENCE_SCHEMA, ("words", pa.int32()), ("complexity", pa.int32()),
     ("has_action", pa.bool_()), ("entropy", pa.float32()), ("perplexity", pa.float32())]
)


def _user_filters(specs) -> list[RecordFilter]:
    return [build_filter(spec.filter, spec.params) for spec in specs]


EXCLUDED_IMAGE_SCHEMA = pa.schema([("image_id", pa.string()), ("doc_id", pa.string()),
                                   ("position", pa.int32()), ("url", pa.string()),
                                   ("reason", pa.string())])
EXCLUDED_SENTENCE_SCHEMA = pa.schema([("doc_id", pa.string()), ("position", pa.int32()),
                                      ("index", pa.int32()), ("text", pa.string()),
                                      ("reason", pa.string())])


class FilteringStage(Stage):
    """A stage that applies record filters: the paper's, then the config's user filters, then
    `extra_filters` given in Python; rejected records optionally go to `excluded/<stage>`."""

    section: str  # the config section under `extract`: "images" or "sentences"

    def __init__(self, source: str, output: str,
                 extra_filters: list[RecordFilter] | tuple = ()) -> None:
        self.source, self.output = source, output
        self.extra_filters = list(extra_filters)

    def keeps_excluded(self, config) -> bool:
        return getattr(config.extract, self.section).keep_excluded

    def reads(self, config) -> list[str]:
        return [datasets.dataset(self.source)]

    def writes(self, config) -> list[str]:
        excluded = [datasets.dataset(datasets.excluded(self.name))]
        return [datasets.dataset(self.output), *(excluded if self.keeps_excluded(config) else [])]

    def shards(self, ctx: Context) -> list[str]:
        return ctx.workspace.shards(self.source)

    def fingerprint_extra(self, config) -> dict[str, Any]:
        if not self.extra_filters:
            return {}
        return {"extra_filters": [f.describe() for f in self.extra_filters]}

    def write_excluded(self, ctx: Context, shard: str, rows: list[dict], schema) -> None:
        if self.keeps_excluded(ctx.config):
            ctx.workspace.write_table(datasets.excluded(self.name), shard,
                                      pa.Table.from_pylist(rows, schema=schema))


# ---------------------------------------------------------------- images
class ExtractImagesStage(FilteringStage):
    name = "extract_images"
    description = "Decode images safely, apply the quality filter, compute pHash."
    config_paths = ("extract.images.min_side", "extract.images.min_aspect",
                    "extract.images.max_aspect", "extract.images.max_pixels",
                    "extract.images.filters", "extract.images.keep_excluded")

    section = "images"

    def __init__(self, images: str = datasets.IMAGES, output: str = datasets.IMAGES_FILTERED,
                 extra_filters: list[RecordFilter] | tuple = ()) -> None:
        super().__init__(images, output, extra_filters)

    def process(self, ctx: Context, shard: str) -> dict[str, Any]:
        cfg = ctx.config.extract.images
        filters = [*paper_filters.image_filters(cfg), *_user_filters(cfg.filters),
                   *self.extra_filters]
        table = ctx.workspace.read_table(self.source, shard)
        stats: Counter = Counter({RECORDS: table.num_rows})
        decoded_rows, excluded = [], []
        for row in table.to_pylist():
            if row.get("status") not in (None, "ok") or not row.get("bytes"):
                stats["dropped_unavailable"] += 1
                excluded.append({**row, "reason": "unavailable"})
                continue
            try:
                decoded = decode_image(row["bytes"], cfg.max_pixels)
            except ImageRejected as rejected:
                stats[f"dropped_{rejected.reason}"] += 1
                excluded.append({**row, "reason": rejected.reason})
                continue
            stats["images_decoded"] += 1
            row.pop("status", None)
            row.update(width=decoded.width, height=decoded.height, format=decoded.format,
                       image=decoded.image, dropped=None)
            decoded_rows.append(row)
        rejected = apply_filters(filters, decoded_rows, stats)
        excluded += [{**row, "reason": reason} for row, reason in rejected]
        kept = []
        for row in decoded_rows:
            if row.pop("dropped") is None:
                row["phash"] = phash(row.pop("image"))
                kept.append(row)
        stats["images_out"] = len(kept)
        ctx.workspace.write_table(self.output, shard, pa.Table.from_pylist(
            kept, schema=IMAGES_FILTERED_SCHEMA))
        self.write_excluded(ctx, shard, excluded, EXCLUDED_IMAGE_SCHEMA)
        return dict(stats)


# ---------------------------------------------------------------- sentences
class ExtractSentencesStage(FilteringStage):
    name = "extract_sentences"
    description = "Split texts into sentences and apply the quality and semantic filters."
    config_paths = tuple(f"extract.sentences.{name}" for name in (
        "splitter", "split_on_newlines", "remove_emoji", "remove_urls", "min_words",
        "max_words", "min_complexity", "require_action", "spacy_model", "entropy",
        "min_entropy", "perplexity_scorer", "perplexity_model", "min_perplexity",
        "max_perplexity", "filters", "keep_excluded"))

    section = "sentences"

    def __init__(self, texts: str = datasets.TEXTS, output: str = datasets.SENTENCES_FILTERED,
                 extra_filters: list[RecordFilter] | tuple = ()) -> None:
        super().__init__(texts, output, extra_filters)

    def setup(self, ctx: Context) -> None:
        from realsyn.models.perplexity import make_scorer

        cfg = ctx.config.extract.sentences
        need_parse = cfg.min_complexity > 0 or cfg.require_action
        self.nlp = load_parser(cfg.spacy_model) if need_parse else None
        self.scorer = make_scorer(cfg.perplexity_scorer, cfg.perplexity_model,
                                  threads=cfg.perplexity_threads)
        self.filters = [*paper_filters.sentence_filters(cfg, self.nlp is not None,
                                                        self.scorer is not None),
                        *_user_filters(cfg.filters), *self.extra_filters]
        self.measures = paper_filters.SentenceMeasures(cfg, self.nlp, self.scorer)

    def process(self, ctx: Context, shard: str) -> dict[str, Any]:
        cfg = ctx.config.extract.sentences
        table = ctx.workspace.read_table(self.source, shard)
        stats: Counter = Counter({RECORDS: table.num_rows})
        records = []
        for row in table.to_pylist():
            for index, sentence in enumerate(split_sentences(row["text"] or "",
                                                             cfg.split_on_newlines)):
                records.append({"doc_id": row["doc_id"], "position": row["position"],
                                "index": index,
                                **paper_filters.sentence_record(sentence, cfg, stats)})
        stats["sentences_extracted"] = len(records)
        rejected = apply_filters(self.filters, records, stats, self.measures)
        kept = []
        for record in records:
            if record.pop("dropped") is not None:
                continue
            kept.append({
                "sentence_id": sentence_id(record["doc_id"], record["position"],
                                           record["index"], record["text"]),
                **record,
                "perplexity": None if math.isnan(record["perplexity"])
                else record["perplexity"],
            })
        stats["sentences_out"] = len(kept)
        ctx.workspace.write_table(self.output, shard, pa.Table.from_pylist(
            kept, schema=SENTENCES_FILTERED_SCHEMA))
        self.write_excluded(ctx, shard, [{**record, "reason": reason}
                                         for record, reason in rejected],
                            EXCLUDED_SENTENCE_SCHEMA)
        return dict(stats)

    def finalize(self, ctx: Context, stats: dict[str, Any]) -> None:
        from realsyn.models.perplexity import scorer_identity

        cfg = ctx.config.extract.sentences
        ctx.workspace.update_manifest(perplexity_scorer=scorer_identity(
            cfg.perplexity_scorer, cfg.perplexity_model))


# ---------------------------------------------------------------- dedup helpers
def _read_column_by_shard(ctx: Context, dataset: str, columns: list[str]
                          ) -> tuple[list[str], list[int], pa.Table | None]:
    shards, lengths, tables = [], [], []
    for shard, table in ctx.workspace.iter_tables(dataset, columns):
        shards.append(shard)
        lengths.append(table.num_rows)
        tables.append(table)
    return shards, lengths, (pa.concat_tables(tables) if tables else None)


def _write_kept(ctx: Context, source: str, target: str, shards: list[str], lengths: list[int],
                keep: np.ndarray, array_source: str | None = None) -> None:
    """Write the kept rows of every shard of `source` (and of its aligned array) to `target`."""
    start = 0
    for shard, length in zip(shards, lengths, strict=True):
        mask = keep[start:start + length]
        start += length
        table = ctx.workspace.read_table(source, shard)
        ctx.workspace.write_table(target, shard, table.filter(pa.array(mask)))
        if array_source is not None:
            array = np.asarray(ctx.workspace.read_array(array_source, shard))
            ctx.workspace.write_array(target, shard, np.ascontiguousarray(array[mask]))


def _image_priority(table: pa.Table) -> np.ndarray:
    """Representative rule for images: the largest (width x height) wins."""
    width = table.column("width").to_numpy(zero_copy_only=False).astype(np.float64)
    height = table.column("height").to_numpy(zero_copy_only=False).astype(np.float64)
    return width * height


class FunnelStage(GlobalStage):
    """A dedup stage: stores the extraction funnel, which the pipeline prints once."""

    def finalize(self, ctx: Context, stats: dict[str, Any]) -> None:
        funnel.store(ctx.workspace)

    def summary(self, ctx: Context, stats: dict[str, Any]) -> str:
        return (f"images {stats.get('images_in', 0)} -> {stats.get('images_out', 0)}, "
                f"sentences {stats.get('sentences_in', 0)} -> {stats.get('sentences_out', 0)}")

    def closing_report(self, ctx: Context) -> str | None:
        return funnel.format_funnel(funnel.build(ctx.workspace))


class DedupStage(FunnelStage):
    name = "dedup"
    description = "Perceptual image dedup (pHash) and exact + MinHash sentence dedup."
    config_paths = ("extract.images.phash_max_distance", "extract.sentences.minhash_threshold",
                    "extract.sentences.minhash_num_perm", "extract.sentences.minhash_ngram")

    def __init__(self, images: str = datasets.IMAGES_FILTERED,
                 sentences: str = datasets.SENTENCES_FILTERED,
                 images_out: str = datasets.IMAGES_DEDUP,
                 sentences_out: str = datasets.SENTENCES_DEDUP) -> None:
        self.images, self.sentences = images, sentences
        self.images_out, self.sentences_out = images_out, sentences_out

    def reads(self, config) -> list[str]:
        return [datasets.dataset(self.images), datasets.dataset(self.sentences)]

    def writes(self, config) -> list[str]:
        return [datasets.dataset(self.images_out), datasets.dataset(self.sentences_out)]

    def run(self, ctx: Context) -> dict[str, Any]:
        stats: Counter = Counter()
        stats.update(self._images(ctx))
        stats.update(self._sentences(ctx))
        stats[RECORDS] = stats["images_in"] + stats["sentences_in"]
        return dict(stats)

    def _images(self, ctx: Context) -> dict[str, int]:
        cfg = ctx.config.extract.images
        shards, lengths, table = _read_column_by_shard(
            ctx, self.images, ["phash", "width", "height"])
        if table is None:
            return {"images_in": 0, "images_out": 0}
        hashes = table.column("phash").to_numpy(zero_copy_only=False)
        labels = dedup.group_labels(len(hashes), linking_pairs(hashes, cfg.phash_max_distance))
        keep = keep_one_per_group(labels, _image_priority(table))
        _write_kept(ctx, self.images, self.images_out, shards, lengths, keep)
        return {"images_in": len(hashes), "images_out": int(keep.sum()),
                "dropped_perceptual_duplicate": int(len(hashes) - keep.sum())}

    def _sentences(self, ctx: Context) -> dict[str, int]:
        cfg = ctx.config.extract.sentences
        shards, lengths, table = _read_column_by_shard(ctx, self.sentences, ["text"])
        if table is None:
            return {"sentences_in": 0, "sentences_out": 0}
        texts = table.column("text").to_pylist()
        count = len(texts)
        exact = dedup.exact_pairs(texts)
        exact_labels = dedup.group_labels(count, exact)
        # MinHash only over one member per exact group: the others are joined already.
        firsts = np.flatnonzero(keep_one_per_group(exact_labels, np.zeros(count)))
        near = dedup.minhash_pairs([texts[i] for i in firsts], cfg.minhash_threshold,
                                   cfg.minhash_num_perm, cfg.minhash_ngram)
        labels = dedup.group_labels(count, exact, firsts[near])
        keep = keep_one_per_group(labels, np.zeros(count))  # first occurrence wins
        _write_kept(ctx, self.sentences, self.sentences_out, shards, lengths, keep)
        return {"sentences_in": count, "sentences_out": int(keep.sum()),
                "dropped_exact_duplicate": int(count - len(firsts)),
                "dropped_near_duplicate": int(len(firsts) - keep.sum())}



class SemanticDedupStage(FunnelStage):
    name = "semantic_dedup"
    description = "Semantic image and paraphrase dedup on the embeddings (k-means partitions)."
    config_paths = ("extract.images.semantic_dedup", "extract.images.semantic_dedup_threshold",
                    "extract.sentences.semantic_dedup", "extract.sentences.paraphrase_model",
                    "extract.sentences.paraphrase_threshold", "extract.partition_size",
                    "extract.partition_probes", "extract.kmeans_iterations", "extract.seed")

    def __init__(self, images: str = datasets.IMAGES_DEDUP,
                 sentences: str = datasets.SENTENCES_DEDUP,
                 images_out: str = datasets.IMAGES_FINAL,
                 sentences_out: str = datasets.SENTENCES_FINAL) -> None:
        self.images, self.sentences = images, sentences
        self.images_out, self.sentences_out = images_out, sentences_out

    def reads(self, config) -> list[str]:
        return [location for name in (self.images, self.sentences)
                for location in (datasets.dataset(name), datasets.array(name))]

    def writes(self, config) -> list[str]:
        return [location for name in (self.images_out, self.sentences_out)
                for location in (datasets.dataset(name), datasets.array(name))]

    def run(self, ctx: Context) -> dict[str, Any]:
        images = ctx.config.extract.images
        sentences = ctx.config.extract.sentences
        stats: Counter = Counter()
        stats.update(self._one(ctx, self.images, self.images_out, "images",
                               images.semantic_dedup_threshold if images.semantic_dedup
                               else None, "dropped_semantic_duplicate", _image_priority))
        stats.update(self._one(ctx, self.sentences, self.sentences_out, "sentences",
                               sentences.paraphrase_threshold if sentences.semantic_dedup
                               else None, "dropped_paraphrase",
                               lambda table: np.zeros(table.num_rows),
                               self._paraphrase_vectors(ctx)))
        stats[RECORDS] = stats["images_in"] + stats["sentences_in"]
        return dict(stats)

    @staticmethod
    def _paraphrase_vectors(ctx: Context):
        """None (group on the embed stage's vectors), or a function giving the vectors of
        the configured paraphrase model for a table with a "text" column."""
        cfg = ctx.config.extract.sentences
        if not (cfg.semantic_dedup and cfg.paraphrase_model):
            return None
        from realsyn.models.paraphrase import ParaphraseEncoder

        encoder = ParaphraseEncoder(cfg.paraphrase_model, ctx.config.embed.encoder.device,
                                    cfg.paraphrase_batch_size)
        return lambda table: encoder.embed(table.column("text").to_pylist())

    def _one(self, ctx: Context, source: str, target: str, kind: str,
             threshold: float | None, reason: str, priority,
             grouping_vectors=None) -> dict[str, int]:
        """Group `source` rows within `threshold` and keep one per group. The groups come
        from `grouping_vectors(table)` when given, else from the embed stage's arrays, which
        are carried over to `target` either way (retrieval needs them)."""
        workspace = ctx.workspace
        extract = ctx.config.extract
        columns = ["width", "height"] if kind == "images" else ["sentence_id"]
        if grouping_vectors is not None:
            columns.append("text")
        shards, lengths, table = _read_column_by_shard(ctx, source, columns)
        if table is None:
            return {f"{kind}_in": 0, f"{kind}_out": 0}
        missing = sorted(set(shards) - set(workspace.array_shards(source)))
        if missing:
            raise RuntimeError(f"semantic_dedup needs the embeddings of {source!r} (run the "
                               f"embed stage first); missing array shards: {missing[:5]}")
        arrays = []
        for shard, length in zip(shards, lengths, strict=True):
            array = np.asarray(workspace.read_array(source, shard), dtype=np.float32)
            if array.shape[0] != length:
                raise RuntimeError(f"array {source}/{shard} has {array.shape[0]} rows but the "
                                   f"dataset shard has {length}: rerun embed")
            arrays.append(array)
        vectors = np.concatenate(arrays) if arrays else np.zeros((0, 1), np.float32)
        if grouping_vectors is not None:
            vectors = grouping_vectors(table)
        count = len(vectors)
        if threshold is None:
            keep = np.ones(count, dtype=bool)
        else:
            pairs = dedup.semantic_pairs(vectors, threshold, extract.partition_size,
                                         extract.partition_probes, extract.kmeans_iterations,
                                         extract.seed)
            keep = keep_one_per_group(dedup.group_labels(count, pairs), priority(table))
        _write_kept(ctx, source, target, shards, lengths, keep, array_source=source)
        return {f"{kind}_in": count, f"{kind}_out": int(keep.sum()),
                f"dropped_{kind}_{reason.removeprefix('dropped_')}": int(count - keep.sum())}
