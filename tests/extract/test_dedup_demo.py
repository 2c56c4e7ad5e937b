"""The partitioned dedup stages on the demo corpus: the same groups and kept records as the
single-process rules (brute force, tests/extract/dedup_oracle.py), the funnel that
docs/stages/extract.md states."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from realsyn.config import load_config
from realsyn.pipeline import run_pipeline
from realsyn.workspace import Workspace

from . import dedup_oracle as oracle

ROOT = Path(__file__).resolve().parents[2]
STAGES = ["ingest", "extract_images", "extract_sentences", "dedup", "embed", "semantic_dedup"]


def _areas(table) -> np.ndarray:
    return (np.asarray(table.column("width"), dtype=np.float64)
            * np.asarray(table.column("height"), dtype=np.float64))


@pytest.mark.slow
def test_demo_corpus_keeps_the_single_process_records(tmp_path):
    # Semantic partitions of 100 (the demo has 164 images and 1,061 sentences to group), so
    # pairs across partition borders must be found by the routing (exact: no fan-out cap).
    config = load_config(ROOT / "configs" / "sample.yaml", {
        "workspace": str(tmp_path / "ws"), "extract.partition_size": 100,
        "extract.max_training_points": 500, "extract.partition_max_probes": None})
    run_pipeline(config, only=STAGES, report=lambda line: None)
    ws = Workspace(str(tmp_path / "ws"))
    extract = config.extract

    images = ws.read_dataset("images_filtered")
    labels = oracle.closure(images.num_rows, oracle.hamming_pairs(
        np.asarray(images.column("phash")), extract.images.phash_max_distance))
    expected = [images.column("image_id")[i].as_py() for i in oracle.kept(labels,
                                                                          _areas(images))]
    assert ws.read_dataset("images_dedup").column("image_id").to_pylist() == expected

    sentences = ws.read_dataset("sentences_filtered")
    texts = sentences.column("text").to_pylist()
    labels = oracle.closure(len(texts), oracle.sentence_pairs(
        texts, extract.sentences.minhash_threshold, extract.sentences.minhash_num_perm,
        extract.sentences.minhash_ngram))
    expected = [sentences.column("sentence_id")[i].as_py() for i in oracle.kept(labels)]
    assert ws.read_dataset("sentences_dedup").column("sentence_id").to_pylist() == expected

    semantic = ws.stage_stats("semantic_dedup")
    assert semantic["images_partitions"] > 1 and semantic["sentences_partitions"] > 5
    for source, target, column, threshold, by_area in (
            ("images_dedup", "images_final", "image_id",
             extract.images.semantic_dedup_threshold, True),
            ("sentences_dedup", "sentences_final", "sentence_id",
             extract.sentences.paraphrase_threshold, False)):
        table = ws.read_dataset(source)
        vectors = np.concatenate([np.asarray(ws.read_array(source, shard), np.float32)
                                  for shard in ws.shards(source)])
        labels = oracle.closure(len(vectors), oracle.cosine_pairs(vectors, threshold))
        kept = oracle.kept(labels, _areas(table) if by_area else None)
        ids = table.column(column).to_pylist()
        assert ws.read_dataset(target).column(column).to_pylist() == [ids[i] for i in kept]

    # The demo's funnel in docs/stages/extract.md (measured with the single-process stages).
    funnel = ws.read_json("report/funnel.json")
    assert funnel["images"]["after_perceptual_dedup"] == 164
    assert funnel["images"]["after_semantic_dedup"] == 79
    assert funnel["sentences"]["after_exact_near_dedup"] == 1061
    assert funnel["sentences"]["after_paraphrase_dedup"] == 967
