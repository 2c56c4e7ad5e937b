"""The paper's image and sentence filters (spec section 1) as record filters.

Image records are rows of `images` after decoding (`width`, `height`, the decoded `image`).
Sentence records carry `text` (cleaned), `words`, `doc_id`, `position`, and, once measured,
`complexity` / `has_action` ("analysis"), `entropy` and `perplexity`.
"""

from __future__ import annotations

import math

from realsyn.extract.images import quality_reason
from realsyn.extract.sentences import (
    EMPTY,
    HIGH_PERPLEXITY,
    LOW_COMPLEXITY,
    LOW_ENTROPY,
    LOW_PERPLEXITY,
    NO_ACTION,
    TOO_FEW_WORDS,
    TOO_MANY_WORDS,
    UNSCORABLE,
)
from realsyn.filters import Record, RecordFilter

# Measurements of sentences (see ExtractSentencesStage.measure).
ANALYSIS, ENTROPY, PERPLEXITY = "analysis", "entropy", "perplexity"


class ImageQuality(RecordFilter):
    """min(width, height) >= min_side and min_aspect <= width / height <= max_aspect."""

    min_side: int = 100
    min_aspect: float = 1 / 3
    max_aspect: float = 3.0

    def keep(self, record: Record) -> bool | str:
        return quality_reason(record["width"], record["height"], self.min_side,
                              self.min_aspect, self.max_aspect) or True


class NotEmpty(RecordFilter):
    def keep(self, record: Record) -> bool | str:
        return bool(record["text"]) or EMPTY


class WordCount(RecordFilter):
    min_words: int = 3
    max_words: int = 81

    def keep(self, record: Record) -> bool | str:
        if record["words"] < self.min_words:
            return TOO_FEW_WORDS
        return record["words"] <= self.max_words or TOO_MANY_WORDS


class Complexity(RecordFilter):
    """CAT caption complexity (number of scene-graph relations) at least `min_complexity`."""

    needs = (ANALYSIS,)
    min_complexity: int = 1

    def keep(self, record: Record) -> bool | str:
        return record["complexity"] >= self.min_complexity or LOW_COMPLEXITY


class RequireAction(RecordFilter):
    needs = (ANALYSIS,)

    def keep(self, record: Record) -> bool | str:
        return bool(record["has_action"]) or NO_ACTION


class MinEntropy(RecordFilter):
    needs = (ENTROPY,)
    min_entropy: float = 0.3

    def keep(self, record: Record) -> bool | str:
        return record["entropy"] >= self.min_entropy or LOW_ENTROPY


class PerplexityBand(RecordFilter):
    needs = (PERPLEXITY,)
    min_perplexity: float = 30.0
    max_perplexity: float = 200.0

    def keep(self, record: Record) -> bool | str:
        value = record["perplexity"]
        if math.isnan(value):
            return UNSCORABLE
        if value < self.min_perplexity:
            return LOW_PERPLEXITY
        return value <= self.max_perplexity or HIGH_PERPLEXITY


def image_filters(cfg) -> list[RecordFilter]:
    """The paper's image quality filter from `extract.images`."""
    return [ImageQuality(min_side=cfg.min_side, min_aspect=cfg.min_aspect,
                         max_aspect=cfg.max_aspect)]


def sentence_filters(cfg, parse: bool, perplexity: bool) -> list[RecordFilter]:
    """The paper's sentence filters from `extract.sentences`, cheapest first; `parse` and
    `perplexity` say whether a parser and a perplexity scorer are configured."""
    filters: list[RecordFilter] = [NotEmpty(), WordCount(min_words=cfg.min_words,
                                                         max_words=cfg.max_words)]
    if parse:
        filters.append(Complexity(min_complexity=cfg.min_complexity))
        if cfg.require_action:
            filters.append(RequireAction())
    filters.append(MinEntropy(min_entropy=cfg.min_entropy))
    if perplexity:
        filters.append(PerplexityBand(min_perplexity=cfg.min_perplexity,
                                      max_perplexity=cfg.max_perplexity))
    return filters
