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

from realsyn.extract import dedup, funnel
from realsyn.extract.images import ImageRejected, decode_image, quality_reason
from realsyn.extract.phash import linking_pairs, phash
from realsyn.extract.sentences import SentenceFilter, load_parser, split_sentences
from realsyn.extract.union_find import keep_one_per_group
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


def _input_shards(ctx: Context, dataset: str) -> list[str]:
    return ctx.workspace.shards(dataset)


# ---------------------------------------------------------------- images
class ExtractImagesStage(Stage):
    name = "extract_images"
    description = "Decode images safely, apply the quality filter, compute pHash."

    def shards(self, ctx: Context) -> list[str]:
        return _input_shards(ctx, "images")

    def process(self, ctx: Context, shard: str) -> dict[str, Any]:
        cfg = ctx.config.extract.images
        table = ctx.workspace.read_table("images", shard)
        stats: Counter = Counter({RECORDS: table.num_rows})
        kept = []
        for row in table.to_pylist():
            if row.get("status") not in (None, "ok") or not row.get("bytes"):
                stats["dropped_unavailable"] += 1
                continue
            try:
                decoded = decode_image(row["bytes"], cfg.max_pixels)
            except ImageRejected as rejected:
                stats[f"dropped_{rejected.reason}"] += 1
                continue
            stats["images_decoded"] += 1
            reason = quality_reason(decoded.width, decoded.height, cfg.min_side,
                                    cfg.min_aspect, cfg.max_aspect)
            if reason:
                stats[f"dropped_{reason}"] += 1
                continue
            row.pop("status", None)
            row.update(width=decoded.width, height=decoded.height, format=decoded.format,
                       phash=phash(decoded.image))
            kept.append(row)
        stats["images_out"] = len(kept)
        ctx.workspace.write_table("images_filtered", shard, pa.Table.from_pylist(
            kept, schema=IMAGES_FILTERED_SCHEMA))
        return dict(stats)


# ---------------------------------------------------------------- sentences
class ExtractSentencesStage(Stage):
    name = "extract_sentences"
    description = "Split texts into sentences and apply the quality and semantic filters."

    def setup(self, ctx: Context) -> None:
        from realsyn.models.perplexity import make_scorer

        cfg = ctx.config.extract.sentences
        need_parse = cfg.min_complexity > 0 or cfg.require_action
        nlp = load_parser(cfg.spacy_model) if need_parse else None
        scorer = make_scorer(cfg.perplexity_scorer, cfg.perplexity_model,
                             threads=cfg.perplexity_threads)
        self.filter = SentenceFilter(cfg, nlp=nlp, scorer=scorer)

    def shards(self, ctx: Context) -> list[str]:
        return _input_shards(ctx, "texts")

    def process(self, ctx: Context, shard: str) -> dict[str, Any]:
        cfg = ctx.config.extract.sentences
        table = ctx.workspace.read_table("texts", shard)
        origins, sentences = [], []
        for row in table.to_pylist():
            for index, sentence in enumerate(split_sentences(row["text"] or "",
                                                             cfg.split_on_newlines)):
                origins.append((row["doc_id"], row["position"], index))
                sentences.append(sentence)
        candidates, counts = self.filter.run(sentences)
        stats: Counter = Counter({RECORDS: table.num_rows, "sentences_extracted": len(sentences)})
        stats.update(counts)
        kept = []
        for candidate in candidates:
            if candidate.dropped:
                continue
            doc_id, position, index = origins[candidate.source]
            kept.append({
                "sentence_id": sentence_id(doc_id, position, index, candidate.text),
                "doc_id": doc_id, "position": position, "index": index,
                "text": candidate.text, "words": candidate.words,
                "complexity": candidate.complexity, "has_action": candidate.has_action,
                "entropy": candidate.entropy,
                "perplexity": None if math.isnan(candidate.perplexity) else candidate.perplexity,
            })
        stats["sentences_out"] = len(kept)
        stats.pop("kept", None)
        ctx.workspace.write_table("sentences_filtered", shard, pa.Table.from_pylist(
            kept, schema=SENTENCES_FILTERED_SCHEMA))
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


class DedupStage(GlobalStage):
    name = "dedup"
    description = "Perceptual image dedup (pHash) and exact + MinHash sentence dedup."

    def run(self, ctx: Context) -> dict[str, Any]:
        stats: Counter = Counter()
        stats.update(self._images(ctx))
        stats.update(self._sentences(ctx))
        stats[RECORDS] = stats["images_in"] + stats["sentences_in"]
        return dict(stats)

    def _images(self, ctx: Context) -> dict[str, int]:
        cfg = ctx.config.extract.images
        shards, lengths, table = _read_column_by_shard(
            ctx, "images_filtered", ["phash", "width", "height"])
        if table is None:
            return {"images_in": 0, "images_out": 0}
        hashes = table.column("phash").to_numpy(zero_copy_only=False)
        labels = dedup.group_labels(len(hashes), linking_pairs(hashes, cfg.phash_max_distance))
        keep = keep_one_per_group(labels, _image_priority(table))
        _write_kept(ctx, "images_filtered", "images_dedup", shards, lengths, keep)
        return {"images_in": len(hashes), "images_out": int(keep.sum()),
                "dropped_perceptual_duplicate": int(len(hashes) - keep.sum())}

    def _sentences(self, ctx: Context) -> dict[str, int]:
        cfg = ctx.config.extract.sentences
        shards, lengths, table = _read_column_by_shard(ctx, "sentences_filtered", ["text"])
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
        _write_kept(ctx, "sentences_filtered", "sentences_dedup", shards, lengths, keep)
        return {"sentences_in": count, "sentences_out": int(keep.sum()),
                "dropped_exact_duplicate": int(count - len(firsts)),
                "dropped_near_duplicate": int(len(firsts) - keep.sum())}

    def finalize(self, ctx: Context, stats: dict[str, Any]) -> None:
        funnel.store(ctx.workspace)

    def summary(self, ctx: Context, stats: dict[str, Any]) -> str:
        return funnel.format_funnel(funnel.build(ctx.workspace))


class SemanticDedupStage(GlobalStage):
    name = "semantic_dedup"
    description = "Semantic image and paraphrase dedup on the embeddings (k-means partitions)."

    def run(self, ctx: Context) -> dict[str, Any]:
        images = ctx.config.extract.images
        sentences = ctx.config.extract.sentences
        stats: Counter = Counter()
        stats.update(self._one(ctx, "images_dedup", "images_final", "images",
                               images.semantic_dedup_threshold if images.semantic_dedup
                               else None, "dropped_semantic_duplicate", _image_priority))
        stats.update(self._one(ctx, "sentences_dedup", "sentences_final", "sentences",
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

    def finalize(self, ctx: Context, stats: dict[str, Any]) -> None:
        funnel.store(ctx.workspace)

    def summary(self, ctx: Context, stats: dict[str, Any]) -> str:
        return funnel.format_funnel(funnel.build(ctx.workspace))

