"""The paper's image and sentence filters (spec section 1) as record filters.

Image records are rows of `images` after decoding (`width`, `height`, the decoded `image`).
Sentence records carry `text` (cleaned), `words`, `doc_id`, `position`, and, once measured,
`complexity` / `has_action` ("analysis"), `entropy` and `perplexity`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from realsyn.extract.completeness import incomplete_reason
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
    analyse_many,
    clean_sentence,
    count_words,
    entropy,
    load_parser,
)
from realsyn.filters import Record, RecordFilter, apply_filters

# Measurements of sentences (see SentenceMeasures).
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


class Completeness(RecordFilter):
    """Beyond the paper: drops fragments, each with its own reason (extract/completeness.py).
    Reads the parse for whether the text has a finite verb, whether its root clause is
    subordinate, whether it has a main clause, whether it is a noun with a relative clause and
    whether a verb follows a term and its separator."""

    needs = (ANALYSIS,)

    def keep(self, record: Record) -> bool | str:
        return incomplete_reason(record["text"], record["finite_verb"], record["subordinate"],
                                 record["main_clause"], record["relative_noun"],
                                 record["verb_after_term"]) or True


def image_filters(cfg) -> list[RecordFilter]:
    """The paper's image quality filter from `extract.images`."""
    return [ImageQuality(min_side=cfg.min_side, min_aspect=cfg.min_aspect,
                         max_aspect=cfg.max_aspect)]


def sentence_filters(cfg, parse: bool, perplexity: bool) -> list[RecordFilter]:
    """The paper's sentence filters from `extract.sentences`, cheapest first, and the
    completeness filter (`extract.sentences.completeness`); `parse` and
    `perplexity` say whether a parser and a perplexity scorer are configured."""
    filters: list[RecordFilter] = [NotEmpty(), WordCount(min_words=cfg.min_words,
                                                         max_words=cfg.max_words)]
    if parse:
        filters.append(Complexity(min_complexity=cfg.min_complexity))
        if cfg.require_action:
            filters.append(RequireAction())
    if cfg.completeness:  # beyond the paper: after its quality filters, so their counts stay
        filters.append(Completeness())
    filters.append(MinEntropy(min_entropy=cfg.min_entropy))
    if perplexity:
        filters.append(PerplexityBand(min_perplexity=cfg.min_perplexity,
                                      max_perplexity=cfg.max_perplexity))
    return filters


# ---------------------------------------------------------------- running them
def sentence_record(sentence: str, cfg, stats: Counter) -> Record:
    """A split sentence as the sentence filters see it: cleaned, its words counted, nothing
    measured yet; the cleaning is counted in `stats`."""
    cleaned = clean_sentence(sentence, cfg.remove_emoji, cfg.remove_urls)
    stats["cleaned_emoji"] += cleaned.had_emoji
    stats["cleaned_url"] += cleaned.had_url
    return {"text": cleaned.text, "words": count_words(cleaned.text), "complexity": -1,
            "has_action": False, "finite_verb": False, "subordinate": False,
            "main_clause": False, "relative_noun": False, "verb_after_term": False,
            "entropy": math.nan,
            "perplexity": math.nan, "dropped": None}


class SentenceMeasures:
    """Fills a measurement that sentence filters need into records, in batches (parses and
    perplexities); the parser and the scorer are loaded once by the caller."""

    def __init__(self, cfg, nlp=None, scorer=None):
        self.cfg, self.nlp, self.scorer = cfg, nlp, scorer

    def __call__(self, name: str, records: list[Record]) -> None:
        if not records:
            return
        texts = [record["text"] for record in records]
        if name == ANALYSIS:
            if self.nlp is None:  # a user filter needs a parse the paper's settings skip
                self.nlp = load_parser(self.cfg.spacy_model)
            analyses = analyse_many(self.nlp, texts, self.cfg.parse_batch_size)
            for record, analysis in zip(records, analyses, strict=True):
                record.update(complexity=analysis.complexity, has_action=analysis.has_action,
                              finite_verb=analysis.finite_verb,
                              subordinate=analysis.subordinate,
                              main_clause=analysis.main_clause,
                              relative_noun=analysis.relative_noun,
                              verb_after_term=analysis.verb_after_term)
        elif name == ENTROPY:
            for record in records:
                record["entropy"] = entropy(record["text"], self.cfg.entropy)
        elif name == PERPLEXITY and self.scorer is not None:
            values = self.scorer.perplexities(texts)
            for record, value in zip(records, values, strict=True):
                record["perplexity"] = value
        elif name != PERPLEXITY:
            raise ValueError(f"unknown sentence measurement {name!r} (known: {ANALYSIS}, "
                             f"{ENTROPY}, {PERPLEXITY})")


@dataclass
class Candidate:
    """One sentence after the filters, with what was measured of it."""

    text: str
    source: int  # index of the sentence in the caller's list
    words: int = 0
    complexity: int = -1
    has_action: bool = False
    finite_verb: bool = False
    subordinate: bool = False
    main_clause: bool = False
    relative_noun: bool = False
    verb_after_term: bool = False
    entropy: float = math.nan
    perplexity: float = math.nan
    dropped: str | None = None


class SentenceFilter:
    """The paper's sentence filters over a list of sentences, outside a stage (benchmarks,
    the dry-run census): the same filters and measurements as `extract_sentences`.

    `nlp` is a spaCy pipeline (None skips complexity/action) and `scorer` a perplexity scorer
    (None skips perplexity).
    """

    def __init__(self, config, nlp=None, scorer=None):
        self.config = config
        self.filters = sentence_filters(config, nlp is not None, scorer is not None)
        self.measures = SentenceMeasures(config, nlp, scorer)

    def run(self, sentences: Sequence[str]) -> tuple[list[Candidate], Counter]:
        stats: Counter = Counter()
        records = [sentence_record(sentence, self.config, stats) for sentence in sentences]
        apply_filters(self.filters, records, stats, self.measures)
        stats["kept"] = sum(record["dropped"] is None for record in records)
        return [Candidate(source=source, **record) for source, record in enumerate(records)
                ], stats
