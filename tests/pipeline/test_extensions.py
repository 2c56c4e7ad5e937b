"""Extending the pipeline from outside the package: this file defines its own filters and
stage, used from Python and named by dotted path from YAML."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest
from pydantic import BaseModel, Field
from small_pipeline import slice_corpus, small_config

from realsyn import datasets
from realsyn.config import ConfigError, parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.extract.stages import ExtractImagesStage, ExtractSentencesStage
from realsyn.filters import RecordFilter
from realsyn.ingest.sources import filesystem
from realsyn.ingest.stage import IngestStage
from realsyn.pipeline import Pipeline, WiringError, run_pipeline
from realsyn.records import image_item, make_document, text_item
from realsyn.stage import RECORDS, Context, Stage
from realsyn.workspace import Workspace


class NoDigits(RecordFilter):
    max_digits: int = Field(default=0, ge=0)

    def keep(self, record):
        digits = sum(ch.isdigit() for ch in record["text"])
        return digits <= self.max_digits or "too_many_digits"


class WideOnly(RecordFilter):
    def keep(self, record):
        return record["width"] >= record["height"] or "portrait"


class SentenceLengths(Stage):
    """A user stage: a histogram of sentence lengths, with its own validated settings."""

    name = "sentence_lengths"

    class Config(BaseModel):
        bins: int = Field(default=4, ge=1)

    def __init__(self, config: Config | None = None, sentences: str = "sentences_filtered",
                 output: str = "sentence_lengths"):
        self.config = config or self.Config()
        self.sentences, self.output = sentences, output

    def reads(self, config):
        return [datasets.dataset(self.sentences)]

    def writes(self, config):
        return [datasets.dataset(self.output)]

    def fingerprint_extra(self, config):
        return self.config.model_dump()

    def process(self, ctx: Context, shard: str) -> dict:
        words = ctx.workspace.read_dataset(self.sentences, ["words"]).column("words")
        counts = Counter(min(w // 5, self.config.bins - 1) for w in words.to_pylist())
        ctx.workspace.write_table(self.output, shard, pa.table({
            "bin": list(range(self.config.bins)),
            "sentences": [counts.get(b, 0) for b in range(self.config.bins)]}))
        return {RECORDS: len(words)}


class CaptionFiles:
    """A user reader: files of `image path<TAB>caption` lines, one document per line."""

    class Config(BaseModel):
        min_words: int = Field(default=1, ge=1)

    def __init__(self, config: Config):
        self.config = config

    def __call__(self, unit, options, stats):
        fs, path = filesystem(unit.file.path)
        with fs.open(path, "rt") as handle:
            for number, line in enumerate(handle):
                image, _, caption = line.rstrip("\n").partition("\t")
                if len(caption.split()) < self.config.min_words:
                    stats["records_dropped_short_caption"] += 1
                    continue
                yield make_document(f"{unit.file.relpath}#line={number}", None,
                                    [image_item(image), text_item(caption)])


def test_a_user_reader_named_from_yaml(tmp_path):
    corpus = slice_corpus(tmp_path / "corpus")
    images = sorted(p.relative_to(corpus.parent) for p in (corpus.parent / "images").rglob(
        "*.jpg"))[:3]
    (corpus.parent / "photos.cap").write_text(
        f"{images[0]}\tA cat sits on a warm mat.\n{images[1]}\tShort\n"
        f"{images[2]}\tA rocket stands on its launch pad.\n")
    config = small_config(tmp_path / "ws", corpus)
    config["inputs"] = [{"path": str(corpus.parent / "photos.cap"),
                         "reader": {"reader": "test_extensions:CaptionFiles",
                                    "config": {"min_words": 2}}}]
    results = run_pipeline(parse_config(config), only=["ingest"], report=lambda line: None)
    workspace = Workspace(config["workspace"])
    assert workspace.count_rows("documents") == 2
    assert results["ingest"]["records_dropped_short_caption"] == 1
    assert workspace.read_dataset("images").column("status").to_pylist() == ["ok", "ok"]
    texts = workspace.read_dataset("texts").column("text").to_pylist()
    assert texts == ["A cat sits on a warm mat.", "A rocket stands on its launch pad."]
    # Its settings are part of the ingest fingerprint.
    config["inputs"][0]["reader"]["config"] = {"min_words": 1}
    results = run_pipeline(parse_config(config), only=["ingest"], report=lambda line: None)
    assert workspace.count_rows("documents") == 3


@pytest.fixture
def config(tmp_path):
    corpus = slice_corpus(tmp_path / "corpus")
    data = small_config(tmp_path / "ws", corpus)
    data["extract"]["sentences"]["keep_excluded"] = True
    return data


def ran(lines):
    return [line[1:line.index("]")] for line in lines
            if line.startswith("[") and "skipped" not in line]


def test_a_user_filter_and_stage_from_python(config):
    resolved = parse_config(config)
    pipeline = Pipeline([IngestStage(), ExtractImagesStage(extra_filters=[WideOnly()]),
                         ExtractSentencesStage(extra_filters=[NoDigits()]),
                         SentenceLengths(SentenceLengths.Config(bins=3))])
    lines = []
    results = pipeline.run(resolved, executor=LocalExecutor(1), report=lines.append)
    workspace = Workspace(resolved.workspace)
    texts = workspace.read_dataset("sentences_filtered", ["text"]).column("text").to_pylist()
    assert texts and not any(ch.isdigit() for text in texts for ch in text)
    dropped = results["extract_sentences"]["dropped_too_many_digits"]
    excluded = workspace.read_dataset("excluded/extract_sentences")
    assert dropped > 0 and excluded.column("reason").to_pylist().count("too_many_digits") \
        == dropped
    # Rejected sentences keep where they came from and why.
    assert set(excluded.column_names) == {"doc_id", "position", "index", "text", "reason"}
    assert "too_few_words" in excluded.column("reason").to_pylist()
    sizes = [(row["width"], row["height"]) for row in workspace.read_dataset(
        "images_filtered", ["width", "height"]).to_pylist()]
    assert sizes and all(w >= h for w, h in sizes)
    assert results["extract_images"]["dropped_portrait"] > 0
    histogram = workspace.read_dataset("sentence_lengths")
    assert sum(histogram.column("sentences").to_pylist()) == len(texts)

    # Same resume and fingerprint rules as the CLI: nothing changed, nothing runs ...
    lines.clear()
    assert pipeline.run(resolved, executor=LocalExecutor(1), report=lines.append) == {}
    # ... and a filter's parameter is part of its stage's fingerprint.
    pipeline.stages[2] = ExtractSentencesStage(extra_filters=[NoDigits(max_digits=2)])
    lines.clear()
    pipeline.run(resolved, executor=LocalExecutor(1), report=lines.append)
    assert ran(lines) == ["extract_sentences", "sentence_lengths"]


def test_the_same_extensions_named_from_yaml(config, tmp_path):
    config["extract"]["sentences"]["filters"] = [
        {"filter": "test_extensions:NoDigits", "params": {"max_digits": 0}}]
    config["pipeline"] = ["ingest", "extract_sentences",
                          {"stage": "test_extensions:SentenceLengths", "config": {"bins": 3}}]
    run_pipeline(parse_config(config), report=lambda line: None)
    workspace = Workspace(config["workspace"])
    texts = workspace.read_dataset("sentences_filtered", ["text"]).column("text").to_pylist()
    assert texts and not any(ch.isdigit() for text in texts for ch in text)
    assert workspace.read_dataset("sentence_lengths").num_rows == 3
    assert "too_many_digits" in workspace.read_dataset(
        "excluded/extract_sentences").column("reason").to_pylist()


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"extract": {"sentences": {"filters": [{"filter": "test_extensions:NoDigits",
                                             "params": {"max_digits": -1}}]}}},
     "extract.sentences.filters.0", "max_digits"),
    ({"extract": {"images": {"filters": [{"filter": "test_extensions:Missing"}]}}},
     "extract.images.filters.0", "has no 'Missing'"),
    ({"extract": {"images": {"filters": [{"filter": "test_extensions:SentenceLengths"}]}}},
     "extract.images.filters.0", "not a realsyn.filters.RecordFilter"),
    ({"pipeline": ["ingest", {"stage": "test_extensions:SentenceLengths",
                              "config": {"bins": 0}}]}, "pipeline.1", "bins"),
    ({"pipeline": ["ingest", "no_such_stage"]}, "pipeline.1", "unknown stage"),
    ({"inputs": [{"path": "x", "reader": {"reader": "test_extensions:CaptionFiles",
                                          "config": {"min_words": 0}}}]},
     "inputs.0.reader", "min_words"),
])
def test_extensions_are_validated_with_their_own_models(change, field, message):
    with pytest.raises(ConfigError) as error:
        parse_config(change)
    assert field in str(error.value) and message in str(error.value)


def test_wiring_is_checked_before_anything_runs(config):
    resolved = parse_config(config)
    pipeline = Pipeline([IngestStage(), SentenceLengths()])
    with pytest.raises(WiringError, match="'sentence_lengths' reads datasets/"
                                          "sentences_filtered"):
        pipeline.run(resolved, report=lambda line: None)
    assert not Workspace(resolved.workspace).exists("datasets/documents")
