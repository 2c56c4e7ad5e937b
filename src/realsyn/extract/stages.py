"""The extraction stages (spec section 1) over the workspace datasets.

    images  --extract_images-->     images_filtered     --dedup-->  images_dedup
    texts   --extract_sentences-->  sentences_filtered  --dedup-->  sentences_dedup
    (embed writes row-aligned arrays images_dedup / sentences_dedup)
    images_dedup + array     --semantic_dedup-->  images_final + array
    sentences_dedup + array  --semantic_dedup-->  sentences_final + array

The dedup stages (dedup_stage.py, semantic_dedup_stage.py) keep the shard keys of their
inputs, so row-aligned arrays stay aligned.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pyarrow as pa

from realsyn import datasets, progress
from realsyn.extract import paper_filters
from realsyn.extract.dedup_stage import DedupStage
from realsyn.extract.images import ImageRejected, decode_image
from realsyn.extract.phash import phash
from realsyn.extract.semantic_dedup_stage import SemanticDedupStage
from realsyn.extract.sentences import (
    load_parser,
    split_sentences,
)
from realsyn.filters import RecordFilter, apply_filters, build_filter
from realsyn.records import IMAGE_SCHEMA, SENTENCE_SCHEMA, sentence_id
from realsyn.stage import RECORDS, Context, Stage

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
        progress.expect(table.num_rows)
        decoded_rows, excluded = [], []
        for row in table.to_pylist():
            progress.advance()  # decoding is most of the shard's time
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

    def drop_settings(self, config) -> dict[str, tuple[str, Any]]:
        cfg = config.extract.images
        ingest = config.ingest
        return {"unavailable": ("ingest.allow_paths_outside_root / ingest.fetch.enabled",
                                f"{ingest.allow_paths_outside_root} / "
                                f"{ingest.fetch.enabled}"),
                "too_small": ("extract.images.min_side", cfg.min_side),
                "aspect_ratio": ("extract.images.min_aspect/max_aspect",
                                 f"{cfg.min_aspect:.3g}/{cfg.max_aspect:.3g}"),
                "too_many_pixels": ("extract.images.max_pixels", cfg.max_pixels)}


# ---------------------------------------------------------------- sentences
class ExtractSentencesStage(FilteringStage):
    name = "extract_sentences"
    description = "Split texts into sentences and apply the quality and semantic filters."
    config_paths = tuple(f"extract.sentences.{name}" for name in (
        "splitter", "split_on_newlines", "remove_emoji", "remove_urls", "min_words",
        "max_words", "min_complexity", "require_action", "completeness", "spacy_model",
        "entropy",
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

    def drop_input(self, reason: str) -> str:
        return "sentences_extracted"  # the filters judge sentences; records_in counts texts

    def drop_settings(self, config) -> dict[str, tuple[str, Any]]:
        cfg = config.extract.sentences
        return {reason: (f"extract.sentences.{name}", getattr(cfg, name)) for reason, name in (
            ("too_few_words", "min_words"), ("too_many_words", "max_words"),
            ("low_complexity", "min_complexity"), ("no_action", "require_action"),
            ("low_entropy", "min_entropy"), ("low_perplexity", "min_perplexity"),
            ("high_perplexity", "max_perplexity"))}

    def finalize(self, ctx: Context, stats: dict[str, Any]) -> None:
        from realsyn.models.perplexity import scorer_identity

        cfg = ctx.config.extract.sentences
        ctx.workspace.update_manifest(perplexity_scorer=scorer_identity(
            cfg.perplexity_scorer, cfg.perplexity_model))


__all__ = ["DedupStage", "ExtractImagesStage", "ExtractSentencesStage", "FilteringStage",
           "SemanticDedupStage"]
