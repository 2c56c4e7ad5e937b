import os

import numpy as np
import pytest
from synthetic_retrieval import topic_data, write_images, write_sentences

from realsyn.commit import MARKER
from realsyn.executors.local import LocalExecutor, StageError
from realsyn.retrieve.centroid_cache import INDEX_DIR, sentence_identity
from realsyn.retrieve.output import retrieved_schema
from realsyn.retrieve.stage import RetrieveStage
from realsyn.stage import Context
from realsyn.workspace import Workspace

N_TOPICS, PER_TOPIC = 6, 120


def populate(ctx, n_images=60, seed=0, bad_image=None):
    sentences, sentence_topic, images, image_topic = topic_data(
        N_TOPICS, PER_TOPIC, n_images, seed=seed, noise=0.15)
    if bad_image is not None:
        images[bad_image] = np.nan
    # the sentences of topic t come from documents "t-0".."t-3"; images from document "t-0"
    sentence_docs = [f"{t}-{i % 4}" for i, t in enumerate(sentence_topic)]
    image_docs = [f"{t}-0" for t in image_topic]
    write_sentences(ctx.workspace, sentences, sentence_docs, shard_size=300)
    write_images(ctx.workspace, images, image_docs, shard_size=25)
    return sentence_topic, image_topic, sentence_docs


def run(ctx):
    return LocalExecutor(workers=1).run(RetrieveStage(), ctx)


def test_retrieves_top3_of_the_right_topic(make_context):
    ctx = make_context({"n_clusters": 4, "lists_per_cluster": 1, "nprobe": 1})
    sentence_topic, image_topic, sentence_docs = populate(ctx, bad_image=7)
    stats = run(ctx)
    assert stats["records_in"] == 60 and stats["retrieved"] == 59
    assert stats["dropped_bad_embedding"] == 1 and stats["dropped_no_sentence"] == 0
    assert stats["sentences_indexed"] == N_TOPICS * PER_TOPIC and stats["clusters"] == 4
    ws = ctx.workspace
    assert ws.shards("retrieved") == ws.shards("images_final") == ["00000", "00001", "00002"]
    table = ws.read_dataset("retrieved")
    assert table.schema == retrieved_schema(3)
    rows = table.to_pylist()
    assert "i7" not in {row["image_id"] for row in rows}
    for row in rows:
        topic = image_topic[int(row["image_id"][1:])]
        scores = [row["score1"], row["score2"], row["score3"]]
        assert scores == sorted(scores, reverse=True)
        for i in (1, 2, 3):
            sentence = int(row[f"sentence_id{i}"][1:])
            assert sentence_topic[sentence] == topic
            assert row[f"text{i}"] == f"sentence number {sentence}"
            assert row[f"sentence_doc_id{i}"] == sentence_docs[sentence]
        assert row["cluster_id1"] == row["image_cluster_id"]  # one probe: the nearest centre


def test_index_is_reused_and_rebuilt_when_inputs_change(make_context):
    ctx = make_context({"n_clusters": 4})
    populate(ctx)
    run(ctx)
    meta = f"{INDEX_DIR}/meta.json"
    built_at = ctx.workspace.read_json(meta)["fingerprint"]
    centres = ctx.workspace.path(INDEX_DIR, "centroids.npy")
    written = os.stat(centres).st_mtime_ns
    ctx.workspace.reset_stage("retrieve")
    ctx.config.retrieve.nprobe = 4  # a search setting: same centres
    first = ctx.workspace.read_dataset("retrieved")
    run(ctx)
    assert ctx.workspace.read_json(meta)["fingerprint"] == built_at
    assert os.stat(centres).st_mtime_ns == written, "the centres are not trained again"
    assert ctx.workspace.read_dataset("retrieved").num_rows == first.num_rows
    ctx.workspace.reset_stage("retrieve")
    ctx.config.retrieve.n_clusters = 2  # a build setting: new centres
    run(ctx)
    assert np.load(centres).shape[0] == 2 * ctx.config.retrieve.list_split
    ctx.workspace.reset_stage("retrieve")
    ctx.config.retrieve.lists_per_cluster = 1  # so is the split of clusters into lists
    run(ctx)
    assert np.load(centres).shape[0] == 2


def test_changed_sentences_rebuild_the_index(tmp_path, make_context):
    """New sentence vectors under the same shard names and counts must not be searched with the
    old index: the result equals a fresh build over the new sentences."""
    ctx = make_context({"n_clusters": 4})
    populate(ctx, seed=0)
    run(ctx)
    new_sentences, new_topic, _, _ = topic_data(N_TOPICS, PER_TOPIC, 60, seed=1, noise=0.15)
    docs = [f"{t}-{i % 4}" for i, t in enumerate(new_topic)]
    write_sentences(ctx.workspace, new_sentences, docs, shard_size=300)
    ctx.workspace.reset_stage("retrieve")
    run(ctx)
    changed = ctx.workspace.read_dataset("retrieved").to_pylist()

    fresh = Context(config=ctx.config.model_copy(update={"workspace": str(tmp_path / "fresh")}),
                    workspace=Workspace(str(tmp_path / "fresh")))
    _, _, images, image_topic = topic_data(N_TOPICS, PER_TOPIC, 60, seed=0, noise=0.15)
    write_sentences(fresh.workspace, new_sentences, docs, shard_size=300)
    write_images(fresh.workspace, images, [f"{t}-0" for t in image_topic], shard_size=25)
    run(fresh)
    assert changed == fresh.workspace.read_dataset("retrieved").to_pylist()


def test_new_sentences_with_the_old_size_and_mtime_rebuild_the_index(tmp_path, make_context):
    """The centroid cache is keyed by what the vectors are, not by file size and mtime: other
    float16 vectors of the same shape, written back with the old mtime (a copy, or a store
    with whole-second times), must not be searched with the old centres."""
    ctx = make_context({"n_clusters": 4})
    populate(ctx, seed=0)
    run(ctx)
    arrays = tmp_path / "ws" / "arrays" / "sentences_final"
    times = {path: path.stat().st_mtime_ns for path in arrays.glob("*.npy")}
    sizes = {path: path.stat().st_size for path in times}
    built_at = ctx.workspace.read_json(f"{INDEX_DIR}/meta.json")["fingerprint"]
    new_sentences, new_topic, _, _ = topic_data(N_TOPICS, PER_TOPIC, 60, seed=1, noise=0.15)
    write_sentences(ctx.workspace, new_sentences, [f"{t}-{i % 4}" for i, t in
                                                   enumerate(new_topic)], shard_size=300)
    for path, mtime in times.items():
        os.utime(path, ns=(mtime, mtime))
    assert {path: path.stat().st_size for path in times} == sizes
    ctx.workspace.reset_stage("retrieve")
    run(ctx)
    assert ctx.workspace.read_json(f"{INDEX_DIR}/meta.json")["fingerprint"] != built_at
    fresh = Context(config=ctx.config.model_copy(update={"workspace": str(tmp_path / "fresh")}),
                    workspace=Workspace(str(tmp_path / "fresh")))
    _, _, images, image_topic = topic_data(N_TOPICS, PER_TOPIC, 60, seed=0, noise=0.15)
    write_sentences(fresh.workspace, new_sentences, [f"{t}-{i % 4}" for i, t in
                                                     enumerate(new_topic)], shard_size=300)
    write_images(fresh.workspace, images, [f"{t}-0" for t in image_topic], shard_size=25)
    run(fresh)
    assert ctx.workspace.read_dataset("retrieved").to_pylist() == \
        fresh.workspace.read_dataset("retrieved").to_pylist()


def test_exclude_own_document_and_min_score(make_context):
    # First without either option: own-document sentences rank among the best (a quarter of
    # each topic's sentences share the image's document), and the third scores spread.
    ctx = make_context({"n_clusters": 3})
    _, image_topic, _ = populate(ctx)
    run(ctx)
    free = ctx.workspace.read_dataset("retrieved").to_pylist()

    def own(row):
        return f"{image_topic[int(row['image_id'][1:])]}-0"

    assert any(row[f"sentence_doc_id{i}"] == own(row) for row in free for i in (1, 2, 3))
    floor = float(np.median([row["score3"] for row in free]))
    ctx.workspace.reset_stage("retrieve")
    ctx.config.retrieve.exclude_own_document = True
    ctx.config.retrieve.min_score = floor
    stats = run(ctx)
    rows = ctx.workspace.read_dataset("retrieved").to_pylist()
    assert stats["retrieved"] == len(rows) > 0
    for row in rows:
        assert row["score1"] is not None and row["text1"]
        for i in (1, 2, 3):
            assert row[f"sentence_doc_id{i}"] != own(row)
            assert row[f"score{i}"] is None or row[f"score{i}"] >= floor
    # the floor cut some slots, and kept others beyond the first
    assert any(row["score3"] is None for row in rows)
    assert any(row["score3"] is not None for row in rows)


def test_images_with_nothing_above_min_score_are_dropped(make_context):
    ctx = make_context({"n_clusters": 2, "min_score": 0.99})
    populate(ctx, n_images=10)
    stats = run(ctx)
    assert stats["dropped_no_sentence"] == 10 and stats["retrieved"] == 0
    assert ctx.workspace.read_dataset("retrieved").num_rows == 0


def test_misaligned_embeddings_fail_clearly(make_context):
    ctx = make_context()
    populate(ctx)
    ctx.workspace.write_array("sentences_final", "00000", np.zeros((3, 32), np.float16))
    with pytest.raises(StageError, match="records but 3 embedding rows"):
        run(ctx)


def test_summary_prints_top_texts_with_scores(make_context):
    ctx = make_context({"n_clusters": 4, "preview_images": 3})
    populate(ctx)
    stage = RetrieveStage()
    stats = LocalExecutor(workers=1).run(stage, ctx)
    lines = stage.summary(ctx, stats).splitlines()
    assert "records_in=60" in lines[0] and "retrieved=60" in lines[0]
    # first, middle and last image of the 60 (spread over the shards)
    images = [line for line in lines if line.startswith("  image ")]
    assert images == [f"  image i{i} https://example.org/{i}.jpg" for i in (0, 30, 59)]
    # the ten most reused text1 sentences, then 3 images with their 3 texts
    assert lines[1].startswith("  text1 reuse: ") and len(lines) == 1 + 11 + 3 * 4
    uses, text = lines[2].split(maxsplit=1)
    assert uses.endswith("x") and text.startswith("sentence number ")
    score, text = lines[13].split(maxsplit=1)
    assert 0 < float(score) <= 1 and text.startswith("sentence number ")


def test_remote_workspace_keeps_the_index_in_the_store(tmp_path, monkeypatch):
    import tempfile
    import uuid

    from realsyn.config import parse_config
    from realsyn.stage import Context
    from realsyn.workspace import Workspace

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the local cache of the index
    url = f"memory://retrieve-{uuid.uuid4().hex}"
    config = parse_config({"workspace": url, "retrieve": {"n_clusters": 3}})
    ctx = Context(config=config, workspace=Workspace(url))
    populate(ctx, n_images=20)
    stats = run(ctx)
    assert stats["retrieved"] == 20
    assert ctx.workspace.exists(f"{INDEX_DIR}/meta.json")
    assert ctx.workspace.exists(f"{INDEX_DIR}/centroids.npy")


def test_no_usable_sentence_drops_every_image(make_context):
    ctx = make_context()
    populate(ctx, n_images=5)
    for shard in ctx.workspace.array_shards("sentences_final"):
        rows = len(ctx.workspace.read_array("sentences_final", shard))
        ctx.workspace.write_array("sentences_final", shard, np.zeros((rows, 32), np.float16))
    stats = run(ctx)
    assert stats["sentences_indexed"] == 0
    assert stats["sentences_dropped_bad_embedding"] == N_TOPICS * PER_TOPIC
    assert stats["dropped_no_sentence"] == 5 and stats["retrieved"] == 0


def test_sentence_identity_is_the_commit_identity_or_the_bytes(make_context):
    ctx = make_context()
    populate(ctx)
    ws = ctx.workspace
    shards = ws.shards("sentences_final")
    by_bytes = sentence_identity(ws, "sentences_final", shards)
    assert len(by_bytes) == len(shards) and len(set(by_bytes)) == len(shards)
    for generation in (1, 2):
        for folder in ("datasets/sentences_final", "arrays/sentences_final"):
            ws.write_json(f"{folder}/{MARKER}", {"fingerprint": "f", "generation": generation})
        assert sentence_identity(ws, "sentences_final", shards) == [f"f@{generation}"] * 2
    ws.fs.rm(ws.path(f"arrays/sentences_final/{MARKER}"))  # one folder written by hand
    assert sentence_identity(ws, "sentences_final", shards) == by_bytes
