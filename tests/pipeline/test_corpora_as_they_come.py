"""Corpora as they come (issue 31): a shard, or a whole corpus, without images or without
sentences reaches every stage and step, and the run finishes with counted outputs of the
right schema instead of a traceback."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from corpus_variants import VARIANTS, variant_corpus
from small_pipeline import run, small_config

from realsyn import datasets
from realsyn.config import parse_config
from realsyn.pipeline import Pipeline
from realsyn.workspace import Workspace

RELEASE_COLUMNS = {"raw_image_url", "text1", "text2", "text3", "syn_text"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each variant run once through the whole pipeline: name -> (workspace, config, stats)."""
    done = {}
    for name in VARIANTS:
        folder = tmp_path_factory.mktemp(name)
        config = small_config(folder / "ws", variant_corpus(folder / "corpus", name))
        stats, _ = run(config)
        done[name] = (Workspace(str(folder / "ws")), config, stats)
    return done


def rows(workspace: Workspace, dataset: str) -> list[int]:
    return [workspace.shard_rows(dataset, shard) for shard in workspace.shards(dataset)]


def release(workspace: Workspace) -> pq.Table:
    return pq.read_table(Path(workspace.url.removeprefix("file://")) / "output" / "release")


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_stage_finishes_with_outputs_of_the_right_schema(runs, name):
    workspace, config, stats = runs[name]
    assert list(stats) == Pipeline.from_config(parse_config(config)).names
    assert set(release(workspace).column_names) >= RELEASE_COLUMNS
    # Every shard of every dataset has its row-aligned array where the stage keeps one.
    for dataset in (datasets.IMAGES_FINAL, datasets.SENTENCES_FINAL):
        for shard in workspace.shards(dataset):
            array = workspace.read_array(dataset, shard)
            assert array.shape == (workspace.shard_rows(dataset, shard), 384)


def test_a_first_shard_without_images_still_pairs_the_others(runs):
    workspace, _, stats = runs["images_empty_in_first_shard"]
    for dataset in (datasets.IMAGES_FILTERED, datasets.IMAGES_FINAL, datasets.RETRIEVED,
                    datasets.GENERATED, datasets.BALANCED):
        counts = rows(workspace, dataset)
        assert counts[0] == 0 and sum(counts) > 0, (dataset, counts)
    assert release(workspace).num_rows == stats["write"]["records_out"] > 0


def test_a_first_shard_without_sentences_still_pairs_its_images(runs):
    workspace, _, stats = runs["sentences_empty_in_first_shard"]
    for dataset in (datasets.TEXTS, datasets.SENTENCES_FILTERED, datasets.SENTENCES_FINAL):
        counts = rows(workspace, dataset)
        assert counts[0] == 0 and sum(counts) > 0, (dataset, counts)
    # Its images find sentences in the other shards.
    assert rows(workspace, datasets.RETRIEVED)[0] > 0
    assert stats["retrieve"]["dropped_no_sentence"] == 0


def test_a_shard_whose_every_sentence_is_filtered_out(runs):
    workspace, _, stats = runs["every_sentence_of_a_shard_filtered"]
    assert rows(workspace, datasets.TEXTS)[0] > 0
    assert rows(workspace, datasets.SENTENCES_FILTERED)[0] == 0
    assert stats["extract_sentences"]["dropped_too_few_words"] > 0
    assert release(workspace).num_rows > 0


def test_a_text_only_corpus_writes_an_empty_release(runs):
    workspace, _, stats = runs["text_only"]
    assert sum(rows(workspace, datasets.SENTENCES_FINAL)) > 0
    assert sum(rows(workspace, datasets.IMAGES_FINAL)) == 0
    assert stats["retrieve"]["records_in"] == 0
    assert release(workspace).num_rows == stats["write"].get("records_out", 0) == 0


def test_an_image_only_corpus_counts_every_image_as_without_sentence(runs):
    workspace, _, stats = runs["image_only"]
    images = sum(rows(workspace, datasets.IMAGES_FINAL))
    assert images > 0 and sum(rows(workspace, datasets.SENTENCES_FINAL)) == 0
    assert stats["retrieve"]["dropped_no_sentence"] == images
    assert release(workspace).num_rows == 0


def test_one_document_in_all(runs):
    workspace, _, stats = runs["one_document"]
    assert stats["ingest"]["documents_out"] == 1
    assert release(workspace).num_rows == stats["write"]["records_out"] >= 1


def test_every_dataset_a_stage_reads_reaches_it_with_an_empty_shard(runs):
    """Systematic: every per-record dataset of the pipeline (and so every stage and step that
    reads it) met a zero-row shard in some variant, for images and for sentences alike."""
    stages = Pipeline.from_config(parse_config(runs["text_only"][1])).stages
    read = {location.removeprefix("datasets/") for stage in stages
            for location in stage.reads(parse_config(runs["text_only"][1]))
            if location.startswith("datasets/")}
    with_empty_shard = {
        dataset for name in ("images_empty_in_first_shard", "sentences_empty_in_first_shard")
        for dataset in read if 0 in rows(runs[name][0], dataset)}
    # The documents table is never read by a stage; every other dataset must be covered.
    assert read - with_empty_shard <= {datasets.DOCUMENTS}, read - with_empty_shard
    assert {datasets.IMAGES_DEDUP, datasets.SENTENCES_DEDUP} <= with_empty_shard
