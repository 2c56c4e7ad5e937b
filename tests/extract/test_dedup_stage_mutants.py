"""The dedup stage on a small planted corpus over three uneven shards, against the brute-force
oracle of tests/extract/dedup_oracle.py (scripts/mutation.py mutates
realsyn/extract/dedup_stage.py; the larger corpus whose shuffles split into several partitions
is tests/extract/test_partitioned_dedup.py::test_stages_keep_the_single_process_records)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from realsyn.config import parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.extract.dedup_stage import DedupStage, image_priority
from realsyn.stage import Context
from realsyn.workspace import Workspace

from . import dedup_oracle as oracle

SHARDS = ["00000", "00001", "00002"]
RADIUS, THRESHOLD, NUM_PERM, NGRAM = 5, 0.7, 64, 4


def planted_texts(rng) -> list[str]:
    """Sentences with exact repeats (case, punctuation and spacing changed), one-word edits,
    an edit of an edit, and unrelated sentences."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(rng.choice(letters, size=int(rng.integers(4, 9)))) for _ in range(300)]
    base = [" ".join(rng.choice(words, size=14)).capitalize() + "." for _ in range(60)]
    texts = list(base)
    for i in range(0, 12):
        texts.append("  " + base[i].upper().replace(" ", "   ").rstrip(".") + "!")
    for i in range(12, 24):
        edited = base[i].split()
        edited[i % 14] += "s"
        texts.append(" ".join(edited))
        if i % 4 == 0:  # an edit of the edit
            edited[(i + 7) % 14] += "x"
            texts.append(" ".join(edited))
    texts.append(texts[-1])  # an exact repeat of a near copy
    return [texts[i] for i in rng.permutation(len(texts))]


def planted_images(rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pHashes with copies at 0..RADIUS + 3 bits and a chain, and their sizes: one copy is so
    large that its area overflows 32 bits."""
    base = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, 40, dtype=np.int64)
    hashes = list(base)
    for k in range(16):
        flips = rng.choice(64, size=k % (RADIUS + 4), replace=False)
        mask = np.uint64(sum(1 << int(bit) for bit in flips))
        hashes.append((base[k].view(np.uint64) ^ mask).view(np.int64))
    chain = base[20].view(np.uint64)
    for bit in (0, 9, 18, 27, 36, 45):  # each link 3 bits from the last, the ends 18 apart
        chain ^= np.uint64(0b111 << bit)
        hashes.append(chain.view(np.int64))
    hashes = np.array(hashes, dtype=np.int64)
    width = rng.integers(100, 900, len(hashes)).astype(np.int32)
    height = rng.integers(100, 900, len(hashes)).astype(np.int32)
    width[40], height[40] = 60_000, 60_000  # a copy of image 0 at 0 bits, the largest
    order = rng.permutation(len(hashes))
    return hashes[order], width[order], height[order]


@pytest.fixture
def deduped(tmp_path):
    rng = np.random.default_rng(5)
    texts = planted_texts(rng)
    hashes, width, height = planted_images(rng)
    ws = Workspace(str(tmp_path / "ws"))
    text_cuts = [0, 30, 41, len(texts)]
    image_cuts = [0, 9, 40, len(hashes)]
    for k, shard in enumerate(SHARDS):
        lo, hi = text_cuts[k], text_cuts[k + 1]
        ws.write_table("sentences_filtered", shard, pa.table({
            "sentence_id": [f"s{i}" for i in range(lo, hi)], "text": texts[lo:hi]}))
        lo, hi = image_cuts[k], image_cuts[k + 1]
        ws.write_table("images_filtered", shard, pa.table({
            "image_id": [f"i{i}" for i in range(lo, hi)], "phash": hashes[lo:hi],
            "width": width[lo:hi], "height": height[lo:hi]}))
    config = parse_config({
        "workspace": ws.url, "executor": {"task_memory_mb": 16, "keep_scratch": True},
        "extract": {"images": {"phash_max_distance": RADIUS},
                    "sentences": {"minhash_threshold": THRESHOLD,
                                  "minhash_num_perm": NUM_PERM, "minhash_ngram": NGRAM}}})
    ctx = Context(config=config, workspace=ws)
    stats = LocalExecutor(workers=1).run(DedupStage(), ctx)
    return ctx, stats, texts, hashes, width.astype(np.int64) * height


def ids_by_shard(ws, dataset: str, column: str) -> dict[str, list[str]]:
    return {shard: ws.read_table(dataset, shard).column(column).to_pylist()
            for shard in ws.shards(dataset)}


def test_the_kept_records_are_the_oracle_s_in_their_shards(deduped):
    ctx, _, texts, hashes, areas = deduped
    ws = ctx.workspace
    image_pairs = oracle.hamming_pairs(hashes, RADIUS)
    kept_images = oracle.kept(oracle.closure(len(hashes), image_pairs), areas)
    sentence_pairs = oracle.sentence_pairs(texts, THRESHOLD, NUM_PERM, NGRAM)
    kept_sentences = oracle.kept(oracle.closure(len(texts), sentence_pairs))
    assert 0 < len(kept_images) < len(hashes) and 0 < len(kept_sentences) < len(texts)
    assert int(np.argmax(areas)) in kept_images  # the overflowing area wins its group
    for dataset, column, prefix, kept, cuts in (
            ("images_dedup", "image_id", "i", kept_images, [0, 9, 40, len(hashes)]),
            ("sentences_dedup", "sentence_id", "s", kept_sentences, [0, 30, 41, len(texts)])):
        assert ids_by_shard(ws, dataset, column) == {
            shard: [f"{prefix}{i}" for i in kept if cuts[k] <= i < cuts[k + 1]]
            for k, shard in enumerate(SHARDS)}, dataset
    # the sentences keep their text, the images every column
    kept_texts = ws.read_dataset("sentences_dedup").column("text").to_pylist()
    assert kept_texts == [texts[i] for i in kept_sentences]
    images = ws.read_dataset("images_dedup")
    assert images.column("phash").to_pylist() == hashes[kept_images].tolist()
    assert images.column_names == ["image_id", "phash", "width", "height"]


def test_the_counts_name_each_reason(deduped):
    ctx, stats, texts, hashes, areas = deduped
    kept_images = oracle.kept(oracle.closure(len(hashes), oracle.hamming_pairs(hashes, RADIUS)),
                              areas)
    kept_sentences = oracle.kept(oracle.closure(len(texts), oracle.sentence_pairs(
        texts, THRESHOLD, NUM_PERM, NGRAM)))
    distinct = len({oracle.normalize_text(text) for text in texts})
    assert stats["images_in"] == len(hashes) and stats["images_out"] == len(kept_images)
    assert stats["sentences_in"] == len(texts)
    assert stats["sentences_out"] == len(kept_sentences)
    assert stats["records_in"] == len(hashes) + len(texts)
    assert stats["dropped_perceptual_duplicate"] == len(hashes) - len(kept_images)
    assert stats["dropped_exact_duplicate"] == len(texts) - distinct > 0
    assert stats["dropped_near_duplicate"] == distinct - len(kept_sentences) > 0
    # every bucket entry and candidate edge the steps counted is in their scratch
    ws = ctx.workspace
    entries = sum(ws.read_partition(f"scratch/dedup/{kind}_buckets", part).num_rows
                  for kind in ("images", "exact", "near")
                  for part in ws.partitions(f"scratch/dedup/{kind}_buckets"))
    assert stats["bucket_entries"] == entries > len(hashes) + 2 * len(texts)
    edges = sum(ws.read_partition(f"scratch/dedup/{kind}_edges", 0).num_rows
                for kind in ("images", "sentences"))
    assert stats["candidate_edges"] == edges >= len(oracle.hamming_pairs(hashes, RADIUS))


def test_exact_buckets_hold_one_normalised_text_per_sentence(deduped):
    ctx, _, texts, _, _ = deduped
    ws = ctx.workspace
    exact = pa.concat_tables([ws.read_partition("scratch/dedup/exact_buckets", part)
                              for part in ws.partitions("scratch/dedup/exact_buckets")])
    assert sorted(exact.column("text").to_pylist()) == sorted(
        oracle.normalize_text(text) for text in texts)
    near = pa.concat_tables([ws.read_partition("scratch/dedup/near_buckets", part)
                             for part in ws.partitions("scratch/dedup/near_buckets")])
    assert near.num_rows % len(texts) == 0 and near.num_rows > len(texts)
    assert {len(signature) for signature in near.column("signature").to_pylist()} == {NUM_PERM}


def test_image_priority_is_the_area_without_overflow():
    table = pa.table({"width": pa.array([60_000, 3, 0], pa.int32()),
                      "height": pa.array([60_000, 7, 5], pa.int32())})
    assert image_priority(table).tolist() == [3.6e9, 21.0, 0.0]


def test_the_stage_names_its_inputs_outputs_and_settings(tmp_path):
    config = parse_config({"workspace": str(tmp_path / "ws"),
                           "extract": {"images": {"phash_max_distance": 3},
                                       "sentences": {"minhash_threshold": 0.66}}})
    stage = DedupStage("im", "se", "im_out", "se_out")
    assert stage.reads(config) == ["datasets/im", "datasets/se"]
    assert stage.writes(config) == ["datasets/im_out", "datasets/se_out"]
    assert DedupStage().reads(config) == ["datasets/images_filtered",
                                          "datasets/sentences_filtered"]
    assert DedupStage().writes(config) == ["datasets/images_dedup", "datasets/sentences_dedup"]
    assert stage.drop_input("perceptual_duplicate") == "images_in"
    assert stage.drop_input("exact_duplicate") == stage.drop_input("near_duplicate") == (
        "sentences_in")
    assert stage.drop_settings(config) == {
        "perceptual_duplicate": ("extract.images.phash_max_distance", 3),
        "near_duplicate": ("extract.sentences.minhash_threshold", 0.66)}
    assert [step.name for step in stage.steps(config)] == ["keys", "pairs", "groups", "filter"]


def test_each_shuffle_is_split_by_the_size_of_its_own_data(tmp_path):
    """Under the smallest budget (16 MB), the MinHash bands of 1,200 sentences at 256
    permutations (tens of kB each) need several partitions while the pHash buckets of 30 images
    fit in one; the kept sentences are still the oracle's."""
    rng = np.random.default_rng(9)
    letters = np.array(list("abcdefghij"))
    texts = [" ".join("".join(rng.choice(letters, size=6)) for _ in range(8))
             for _ in range(1_000)]
    texts += texts[:100] + [text.upper() for text in texts[100:200]]
    hashes = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, 30, dtype=np.int64)
    ws = Workspace(str(tmp_path / "ws"))
    for k, shard in enumerate(SHARDS[:2]):
        ws.write_table("sentences_filtered", shard, pa.table({
            "sentence_id": [f"s{i}" for i in range(k * 600, (k + 1) * 600)],
            "text": texts[k * 600:(k + 1) * 600]}))
        ws.write_table("images_filtered", shard, pa.table({
            "image_id": [f"i{i}" for i in range(k * 15, (k + 1) * 15)],
            "phash": hashes[k * 15:(k + 1) * 15], "width": np.full(15, 50, np.int32),
            "height": np.full(15, 50, np.int32)}))
    config = parse_config({
        "workspace": ws.url, "executor": {"task_memory_mb": 16, "keep_scratch": True},
        "extract": {"sentences": {"minhash_threshold": 0.5, "minhash_num_perm": 256}}})
    stats = LocalExecutor(workers=1).run(DedupStage(), Context(config=config, workspace=ws))
    assert len(ws.partitions("scratch/dedup/near_buckets")) > 1
    assert len(ws.partitions("scratch/dedup/images_buckets")) == 1
    assert len(ws.partitions("scratch/dedup/exact_buckets")) == 1
    assert stats["dropped_exact_duplicate"] == 200
    kept = oracle.kept(oracle.closure(len(texts), oracle.sentence_pairs(texts, 0.5, 256, 5)))
    assert ws.read_dataset("sentences_dedup").column("sentence_id").to_pylist() == [
        f"s{i}" for i in kept]


def test_every_reason_is_counted_even_at_zero(tmp_path):
    """Distinct records: the stats still name each kind's reasons, at 0."""
    rng = np.random.default_rng(3)
    hashes = np.array([0, -1, 0x0F0F0F0F0F0F0F0F, 0x7000FFFF0000FFFF], dtype=np.int64)
    words = ["".join(rng.choice(list("abcdefghij"), size=7)) for _ in range(40)]
    ws = Workspace(str(tmp_path / "ws"))
    ws.write_table("images_filtered", "00000", pa.table({
        "image_id": ["a", "b", "c", "d"], "phash": hashes, "width": np.full(4, 64, np.int32),
        "height": np.full(4, 64, np.int32)}))
    ws.write_table("sentences_filtered", "00000", pa.table({
        "sentence_id": ["s0", "s1"], "text": [" ".join(words[:20]), " ".join(words[20:])]}))
    config = parse_config({"workspace": ws.url})
    stats = LocalExecutor(workers=1).run(DedupStage(), Context(config=config, workspace=ws))
    assert {key: value for key, value in stats.items() if key.startswith("dropped_")} == {
        "dropped_perceptual_duplicate": 0, "dropped_exact_duplicate": 0,
        "dropped_near_duplicate": 0}
    assert (stats["images_out"], stats["sentences_out"]) == (4, 2)
    assert ws.read_dataset("images_dedup").column("image_id").to_pylist() == list("abcd")
