"""A user stage for the dry-run tests: named by dotted path in a config's `pipeline`, like any
stage outside the package. It counts the words of each shard of sentences."""

from __future__ import annotations

import pyarrow as pa
from pydantic import BaseModel, Field

from realsyn import datasets
from realsyn.stage import RECORDS, Context, Stage


class WordCounts(Stage):
    name = "word_counts"

    class Config(BaseModel):
        min_words: int = Field(default=1, ge=0)

    def __init__(self, config: Config | None = None, sentences: str = "sentences_dedup",
                 output: str = "word_counts"):
        self.config = config or self.Config()
        self.sentences, self.output = sentences, output

    def reads(self, config):
        return [datasets.dataset(self.sentences)]

    def writes(self, config):
        return [datasets.dataset(self.output)]

    def fingerprint_extra(self, config):
        return self.config.model_dump()

    def shards(self, ctx: Context) -> list[str]:
        return ctx.workspace.shards(self.sentences)

    def process(self, ctx: Context, shard: str) -> dict:
        words = ctx.workspace.read_table(self.sentences, shard, ["words"]).column("words")
        kept = [w for w in words.to_pylist() if w >= self.config.min_words]
        ctx.workspace.write_table(self.output, shard, pa.table({"words": kept}))
        return {RECORDS: len(words), "kept": len(kept)}
