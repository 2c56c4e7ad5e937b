"""Partitioned dedup (#13 point 3): bucket edges, components over edges, k-means partitioned
semantic search, and the two stepped stages, each checked against a brute-force oracle of
the single-process rules (tests/extract/dedup_oracle.py), never against the code's helpers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from realsyn.config import SentenceFilterConfig, parse_config
from realsyn.dataflow.components import component_labels, edge_components, keep_one_per_group
from realsyn.executors.local import LocalExecutor
from realsyn.extract import lsh_keys
from realsyn.extract import semantic_partition as sp
from realsyn.extract.buckets import pair_blocks, partition_of
from realsyn.extract.stages import DedupStage, SemanticDedupStage
from realsyn.stage import Context
from realsyn.workspace import Workspace

from . import dedup_oracle as oracle
from .planted_sentences import paraphrase_corpus
from .test_dedup import REPEAT_NEGATIVES, REPEATS


def _same_groups(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a[:, None] == a[None, :], b[:, None] == b[None, :]))


def _planted_hashes(seed: int, originals: int = 300, copies: int = 60) -> np.ndarray:
    """Random hashes, copies of some at distances 0..15, and exact repeats."""
    rng = np.random.default_rng(seed)
    base = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, originals,
                        dtype=np.int64)
    planted = []
    for k in range(copies):
        flips = rng.choice(64, size=k % 16, replace=False)
        mask = np.uint64(sum(1 << int(bit) for bit in flips))
        planted.append((base[k].view(np.uint64) ^ mask).view(np.int64))
    return np.concatenate([base, np.array(planted, dtype=np.int64), base[:7], base[:3]])


# ---------------------------------------------------------------- building blocks
def test_pair_blocks_list_every_pair_of_each_bucket_once():
    keys = np.array([7, 3, 7, 5, 7, 3, 9])
    found = sorted(tuple(sorted(pair)) for left, right in pair_blocks(keys)
                   for pair in zip(left.tolist(), right.tolist(), strict=True))
    assert found == [(0, 2), (0, 4), (1, 5), (2, 4)]
    assert list(pair_blocks(np.array([], dtype=np.int64))) == []


@pytest.mark.parametrize("block", [1, 5, 64, 10**6])
def test_pair_blocks_give_every_pair_once_in_bounded_blocks(block):
    keys = np.random.default_rng(block).integers(0, 30, 400)
    expected = {(i, j) for i in range(len(keys)) for j in range(i + 1, len(keys))
                if keys[i] == keys[j]}
    largest_bucket = int(np.bincount(keys).max())
    found = []
    for left, right in pair_blocks(keys, block):
        assert 0 < len(left) <= block + largest_bucket
        found += [tuple(sorted(pair)) for pair in zip(left.tolist(), right.tolist(), strict=True)]
    assert len(found) == len(set(found)) and set(found) == expected


def test_edge_components_on_sparse_global_ids():
    shard = np.int64(1) << 32
    nodes, labels = edge_components(np.array([5, shard + 2, 9]), np.array([shard + 2, 7, 11]))
    assert nodes.tolist() == [5, 7, 9, 11, shard + 2]
    assert labels[0] == labels[1] == labels[4] and labels[2] == labels[3] != labels[0]
    empty_nodes, empty_labels = edge_components(np.array([]), np.array([]))
    assert empty_nodes.size == empty_labels.size == 0


def test_component_labels_match_the_oracle_closure():
    rng = np.random.default_rng(4)
    pairs = rng.integers(0, 3000, size=(2000, 2))
    assert _same_groups(component_labels(3000, pairs), oracle.closure(3000, pairs))


def test_keep_one_per_group_by_priority_then_order_key():
    labels = np.array([0, 0, 0, 1, 1])
    keep = keep_one_per_group(labels, np.array([1, 5, 5, 0, 0]), order_key=np.array(
        [10, 30, 20, 50, 40]))
    assert keep.tolist() == [False, False, True, False, True]


@pytest.mark.parametrize("radius", [0, 2, 6, 10, 13])
@pytest.mark.parametrize("partitions", [1, 4])
def test_phash_bucket_edges_match_brute_force(radius, partitions):
    hashes = _planted_hashes(radius)
    rows, keys = lsh_keys.phash_keys(hashes, radius)
    assert len(keys) == len(hashes) * lsh_keys.phash_entries_per_hash(radius)
    where = partition_of(keys, partitions)
    edges = [lsh_keys.phash_edges(keys[where == p], rows[where == p], hashes[rows[where == p]],
                                  radius) for p in range(partitions)]
    expected = oracle.closure(len(hashes), oracle.hamming_pairs(hashes, radius))
    assert _same_groups(component_labels(len(hashes), *edges), expected)
    assert len(set(expected.tolist())) < len(hashes)  # duplicates exist


def _sentences() -> list[str]:
    texts, _ = paraphrase_corpus()
    repeats = [text for group in REPEATS for text in group] + REPEAT_NEGATIVES
    return texts + repeats + texts[:5]  # exact repeats across the whole list


@pytest.mark.parametrize("partitions", [1, 3])
def test_exact_and_minhash_bucket_edges_match_todays_rule(partitions):
    texts = _sentences()
    config = SentenceFilterConfig()
    ids = np.arange(len(texts), dtype=np.int64) + (np.int64(3) << 32)  # ids need not be 0..n-1
    normalised, exact = lsh_keys.exact_keys(texts)
    bands, rows = lsh_keys.band_layout(config.minhash_threshold, config.minhash_num_perm)
    signatures = lsh_keys.minhash_signatures(texts, config.minhash_num_perm,
                                             config.minhash_ngram)
    band_keys = lsh_keys.band_keys(signatures, bands, rows).ravel()
    band_ids = np.repeat(ids, bands)
    band_signatures = np.repeat(signatures, bands, axis=0)
    exact_where = partition_of(exact, partitions)
    band_where = partition_of(band_keys, partitions)
    edges = []
    for p in range(partitions):
        chosen = np.flatnonzero(exact_where == p)
        edges.append(lsh_keys.exact_edges([normalised[i] for i in chosen], ids[chosen]))
        chosen = band_where == p
        edges.append(lsh_keys.minhash_edges(band_keys[chosen], band_ids[chosen],
                                            band_signatures[chosen], config.minhash_threshold))
    edges = np.concatenate(edges) - ids[0]
    found = component_labels(len(texts), edges)
    expected = oracle.closure(len(texts), oracle.sentence_pairs(
        texts, config.minhash_threshold, config.minhash_num_perm, config.minhash_ngram))
    assert _same_groups(found, expected)
    assert len(set(expected.tolist())) < len(texts) - 10  # exact and near groups exist


def _clusters(rng, count: int, dim: int, spread: float) -> np.ndarray:
    centres = rng.normal(size=(-(-count // 12), dim))  # groups of 12 near one centre
    points = np.repeat(centres, 12, axis=0)[:count] + rng.normal(scale=spread, size=(count, dim))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize(("dim", "threshold", "spread", "sample"), [
    (32, 0.97, 0.08, 480),   # the single-process test's data, trained on everything
    (64, 0.9, 0.02, 300),    # many partitions, centroids from a small sample
    (16, 0.95, 0.05, 40),    # low dimension: groups chain across partition borders
])
def test_semantic_partitions_find_the_exhaustive_groups(dim, threshold, spread, sample):
    rng = np.random.default_rng(dim)
    points = _clusters(rng, 960, dim, spread)
    centroids = sp.train_centroids(points[rng.choice(len(points), sample, replace=False)],
                                   sp.partition_count(len(points), 40), 10, 0)
    assert len(centroids) > 1
    home, similarity = sp.assign(points, centroids)
    caps = sp.partition_caps(home, similarity, len(centroids))
    rows, parts, capped = sp.route(points, centroids, caps, threshold)
    assert capped == 0
    assert np.all(np.isin(np.stack([np.arange(len(points)), home], axis=1).tolist(),
                          np.stack([rows, parts], axis=1).tolist()))  # home is always searched
    edges = [sp.partition_edges(np.flatnonzero(home == p), points[home == p],
                                rows[parts == p], points[rows[parts == p]], threshold)
             for p in range(len(centroids))]
    expected = oracle.closure(len(points), oracle.cosine_pairs(points, threshold))
    assert len(set(expected.tolist())) < len(points)
    assert _same_groups(component_labels(len(points), *edges), expected)
    print(f"dim {dim}: {len(centroids)} partitions, {len(rows) / len(points):.1f} searched "
          "per point")


@pytest.mark.parametrize("max_probes", [1, 2, 5])
def test_route_caps_the_fan_out_at_the_nearest_admitted_partitions(max_probes):
    """Diffuse points (the bound admits nearly every partition): each point is routed to the
    partitions the exact bound admits among its `max_probes` nearest centres, its home always,
    and the points whose `max_probes` nearest were all admitted (the cap may have cut more)
    are counted."""
    rng = np.random.default_rng(max_probes)
    points = _clusters(rng, 600, 24, 0.6)
    centroids = sp.train_centroids(points, 12, 10, 0)
    home, similarity = sp.assign(points, centroids)
    caps = sp.partition_caps(home, similarity, len(centroids))
    exact_rows, exact_parts, _ = sp.route(points, centroids, caps, 0.8)
    rows, parts, capped = sp.route(points, centroids, caps, 0.8, 1, max_probes)
    admitted = np.zeros((len(points), len(centroids)), dtype=bool)
    admitted[exact_rows, exact_parts] = True
    nearest = np.argsort(-(points @ centroids.T), axis=1)[:, :max_probes]
    expected = np.zeros_like(admitted)
    expected[np.arange(len(points))[:, None], nearest] = True
    expected &= admitted
    routed = np.zeros_like(admitted)
    routed[rows, parts] = True
    assert np.array_equal(routed, expected)
    assert routed[np.arange(len(points)), home].all()
    at_cap = int(admitted[np.arange(len(points))[:, None], nearest].all(axis=1).sum())
    assert capped == at_cap > 0
    assert at_cap >= int((admitted.sum(axis=1) > max_probes).sum())  # every one cut short


# ---------------------------------------------------------------- the stages
SHARDS = ["00000", "00001", "00002"]


def _near_copy(text: str, rng) -> str:
    words = text.split()
    words[int(rng.integers(len(words)))] += "s"
    return " ".join(words)


def _planted_corpus(rng):
    """Sentences and image records over 3 shards: exact repeats, one-letter edits, pHash
    copies at 0..12 bits, random vectors with planted neighbours."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(rng.choice(letters, size=int(rng.integers(3, 9)))) for _ in range(800)]
    base = [" ".join(rng.choice(words, size=12)).capitalize() + "." for _ in range(3000)]
    texts = list(base)
    for i in rng.choice(len(base), 1000, replace=False):
        texts.append(base[i] if i % 2 else _near_copy(base[i], rng))
    order = rng.permutation(len(texts))
    texts = [texts[i] for i in order]
    hashes = _planted_hashes(7, originals=7000, copies=1500)
    areas = rng.integers(50, 400, size=len(hashes)) * 100
    return texts, hashes, areas


def _workspace(root, texts, hashes, areas, rng, dim=24):
    ws = Workspace(str(root))
    text_split = np.array_split(np.arange(len(texts)), len(SHARDS))
    image_split = np.array_split(np.arange(len(hashes)), len(SHARDS))
    sentence_vectors = _clusters(rng, len(texts), dim, 0.05)
    image_vectors = _clusters(rng, len(hashes), dim, 0.04)
    for shard, rows, image_rows in zip(SHARDS, text_split, image_split, strict=True):
        ws.write_table("sentences_filtered", shard, pa.table({
            "sentence_id": [f"s{i}" for i in rows], "text": [texts[i] for i in rows]}))
        ws.write_table("images_filtered", shard, pa.table({
            "image_id": [f"i{i}" for i in image_rows], "phash": hashes[image_rows],
            "width": (areas[image_rows] // 100).astype(np.int32),
            "height": np.full(len(image_rows), 100, np.int32)}))
    return ws, sentence_vectors, image_vectors


def _ids(ws, dataset: str, column: str) -> list[str]:
    return ws.read_dataset(dataset).column(column).to_pylist()


@pytest.mark.parametrize("max_probes", [None, 3])
def test_stages_keep_the_single_process_records(tmp_path, max_probes):
    """Both stages on 3 shards with the bucket shuffles split into several partitions (the
    smallest task budget) and semantic partitions of 150 trained on a 200-vector sample: the
    kept records equal the brute-force oracle's, in dataset order, with exact routing and with
    the fan-out capped at 3 of the 20-odd partitions (the planted groups are tight)."""
    rng = np.random.default_rng(11)
    texts, hashes, areas = _planted_corpus(rng)
    ws, sentence_vectors, image_vectors = _workspace(tmp_path / "ws", texts, hashes, areas, rng)
    config = parse_config({
        # scratch kept: the test looks at the shuffle's partitions
        "workspace": ws.url, "executor": {"task_memory_mb": 16, "keep_scratch": True},
        "extract": {"partition_size": 150, "max_training_points": 200,
                    "partition_max_probes": max_probes,
                    "images": {"semantic_dedup": True, "semantic_dedup_threshold": 0.95},
                    "sentences": {"paraphrase_threshold": 0.95}}})
    ctx = Context(config=config, workspace=ws)
    stats = LocalExecutor(workers=1).run(DedupStage(), ctx)
    assert len(ws.partitions("scratch/dedup/near_buckets")) > 1  # the shuffle really splits
    assert len(ws.partitions("scratch/dedup/images_buckets")) > 1

    cfg = config.extract
    image_labels = oracle.closure(len(hashes), oracle.hamming_pairs(
        hashes, cfg.images.phash_max_distance))
    kept_images = oracle.kept(image_labels, areas)
    assert _ids(ws, "images_dedup", "image_id") == [f"i{i}" for i in kept_images]
    sentence_labels = oracle.closure(len(texts), oracle.sentence_pairs(
        texts, cfg.sentences.minhash_threshold, cfg.sentences.minhash_num_perm,
        cfg.sentences.minhash_ngram))
    kept_sentences = oracle.kept(sentence_labels)
    assert _ids(ws, "sentences_dedup", "sentence_id") == [f"s{i}" for i in kept_sentences]
    exact_groups = len({oracle.normalize_text(text) for text in texts})
    assert stats["images_in"] == len(hashes) and stats["images_out"] == len(kept_images)
    assert stats["dropped_perceptual_duplicate"] == len(hashes) - len(kept_images)
    assert stats["dropped_exact_duplicate"] == len(texts) - exact_groups
    assert stats["dropped_near_duplicate"] == exact_groups - len(kept_sentences)
    assert stats["dropped_near_duplicate"] > 0 and stats["dropped_exact_duplicate"] > 0
    assert ws.shards("sentences_dedup") == SHARDS

    # semantic_dedup on the kept rows, with vectors aligned to them
    for name, vectors, kept in (("images_dedup", image_vectors, kept_images),
                                ("sentences_dedup", sentence_vectors, kept_sentences)):
        start = 0
        for shard in SHARDS:
            rows = ws.shard_rows(name, shard)
            ws.write_array(name, shard, vectors[kept][start:start + rows].astype(np.float16))
            start += rows
    stats = LocalExecutor(workers=1).run(SemanticDedupStage(), ctx)
    assert stats["images_partitions"] > 10 and stats["sentences_partitions"] > 10
    for kind, count in (("images", len(kept_images)), ("sentences", len(kept_sentences))):
        if max_probes is None:
            assert stats[f"{kind}_routes_at_cap"] == 0
        else:  # the cap bit: some vectors' 3 nearest partitions were all admitted
            assert stats[f"{kind}_routes_at_cap"] > 0
            assert stats[f"{kind}_routed_queries"] <= max_probes * count
    for name, out, column, priority, threshold in (
            ("images_dedup", "images_final", "image_id", areas, 0.95),
            ("sentences_dedup", "sentences_final", "sentence_id", None, 0.95)):
        table = ws.read_dataset(name)
        vectors = np.concatenate([np.asarray(ws.read_array(name, s), np.float32)
                                  for s in SHARDS])
        labels = oracle.closure(len(vectors), oracle.cosine_pairs(vectors, threshold))
        ids = table.column(column).to_pylist()
        rank = None if priority is None else priority[[int(i[1:]) for i in ids]]
        expected = [ids[i] for i in oracle.kept(labels, rank)]
        assert len(expected) < len(ids), name  # semantic duplicates were planted
        assert _ids(ws, out, column) == expected, name
        final = np.concatenate([np.asarray(ws.read_array(out, s)) for s in SHARDS])
        assert np.array_equal(final, np.concatenate(
            [np.asarray(ws.read_array(name, s)) for s in SHARDS])[oracle.kept(labels, rank)])
    assert stats["dropped_images_semantic_duplicate"] == stats["images_in"] - stats[
        "images_out"] > 0
