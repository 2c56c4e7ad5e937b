"""The `balance` stage on synthetic `generated` + `images_final` workspaces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import oracle_balance
import pyarrow as pa
import pytest
from balance_helpers import grouped_vectors, unit, write_generated, write_images_final

from realsyn.balance.stage import BalanceStage
from realsyn.executors.local import LocalExecutor

SIZES = [40, 30, 20, 12, 8]


def scores_for(n: int) -> np.ndarray:
    """Every 10th pair below the band, every 10th+1 above, one without score, rest inside."""
    scores = np.full(n, 0.55)
    scores[0::10] = 0.40
    scores[1::10] = 0.70
    scores[5] = np.nan
    return scores


def build(ctx, with_scores: bool = True, syn_texts=None, vectors=None):
    if vectors is None:
        vectors, _ = grouped_vectors(SIZES)
    ids = [f"img{i:03d}" for i in range(len(vectors))]
    write_images_final(ctx.workspace, ids, vectors, shard_size=32)
    # four generated rows whose images are not in images_final
    gen_ids = ids + [f"lost{i}" for i in range(4)]
    scores = np.r_[scores_for(len(ids)), [0.55] * 4]
    write_generated(ctx.workspace, gen_ids, scores, syn_texts, with_scores=with_scores)
    return ids, scores[: len(ids)]


def run(ctx, stage=None):
    return LocalExecutor(1).run(stage or BalanceStage(), ctx)


def test_target_sets_cap_and_is_deterministic(make_context):
    outputs = []
    for name in ("a", "b"):
        ctx = make_context({"n_clusters": 5, "target": 30, "fill_target": True}, name=name)
        build(ctx)
        stats = run(ctx)
        assert stats["records_out"] == 30
        outputs.append(ctx.workspace.read_dataset("balanced"))
        files = [ctx.workspace.read_bytes(f"datasets/balanced/{s}.parquet")
                 for s in ctx.workspace.shards("balanced")]
        outputs.append(files)
    assert outputs[0].equals(outputs[2])
    assert outputs[1] == outputs[3]  # byte-identical shards


def test_everything_outside_band_gives_empty_output(make_context):
    ctx = make_context({"min_similarity": 0.9, "max_similarity": 0.95})
    build(ctx)
    stats = run(ctx)
    assert stats["records_out"] == 0
    table = ctx.workspace.read_dataset("balanced")
    assert table.num_rows == 0 and "balance_score" in table.column_names


def test_zero_embedding_counts_as_missing(make_context):
    ctx = make_context({"band": "cosines", "n_clusters": 2, "cap": 100})
    vectors, _ = grouped_vectors([10, 10])
    vectors[3] = 0  # what `embed` writes for an undecodable image
    ids, scores = build(ctx, vectors=vectors)
    stats = run(ctx)
    assert stats["dropped_no_embedding"] == 4 + 1
    out = ctx.workspace.read_dataset("balanced").column("image_id").to_pylist()
    assert ids[3] not in out
    in_band = (scores >= 0.51) & (scores <= 0.61)
    in_band[3] = False
    assert out == [ids[i] for i in np.flatnonzero(in_band)]


@pytest.fixture(scope="module")
def encoder():
    """The real offline joint encoder (loaded once per process by load_encoder)."""
    from realsyn.config import EncoderConfig
    from realsyn.models.encoders import load_encoder

    return load_encoder(EncoderConfig())  # the config the stage itself loads


@pytest.mark.slow
def test_syn_text_and_mean_scored_with_a_real_text_encoder(make_context, encoder):
    # Image vectors in the joint space, placed where "a photo of a cat" / "... truck" are.
    subjects = ["a photo of a cat", "a photo of a truck"] * 6
    vectors = unit(encoder.embed_texts(subjects).astype(np.float32))
    syn = ["A cat sleeping on a sofa.", "Quarterly tax forms are due in April."] * 6
    ctx = make_context({"score_text": "syn_text", "min_similarity": 0.3, "max_similarity": 1.0,
                        "n_clusters": 2, "cap": 100})
    ids, _ = build(ctx, syn_texts=syn + [None] * 4, vectors=vectors)
    stats = run(ctx, BalanceStage(encoder=encoder))
    # the cat images match their syn_text, the truck images do not
    out = ctx.workspace.read_dataset("balanced").to_pylist()
    assert [r["image_id"] for r in out] == ids[0::2]
    assert stats["dropped_below_band"] == 6

    # mean: stored score1..3 and the embedded syn_text, averaged
    ctx = make_context({"score_text": "mean", "min_similarity": -1.0, "max_similarity": 1.0,
                        "n_clusters": 2, "cap": 100}, name="mean")
    build(ctx, syn_texts=syn + [None] * 4, vectors=vectors)
    run(ctx, BalanceStage(encoder=encoder))
    out = {r["image_id"]: r for r in ctx.workspace.read_dataset("balanced").to_pylist()}
    generated = {r["image_id"]: r for r in ctx.workspace.read_dataset("generated").to_pylist()}
    for i, image_id in enumerate(ids):
        if image_id not in out:
            continue
        syn_score = float(vectors[i] @ encoder.embed_texts([syn[i]])[0])
        stored = [generated[image_id][f"score{k}"] for k in (1, 2, 3)]
        stored = [s for s in stored if s is not None and not np.isnan(s)]  # missing: left out
        assert out[image_id]["balance_score"] == pytest.approx(
            np.mean([*stored, syn_score]), abs=2e-3)


def test_encoder_mismatch_is_refused_before_loading(make_context):
    ctx = make_context({"n_clusters": 2})
    build(ctx, with_scores=False)
    ctx.workspace.update_manifest(encoder={"identity": "open_clip:some-other-model", "dim": 16})
    with pytest.raises(Exception, match="some-other-model"):
        run(ctx)


@pytest.mark.slow
def test_text1_without_stored_scores_uses_the_configured_encoder(make_context, encoder):
    """The real offline encoder (load_encoder) scores real photos against real captions."""
    from PIL import Image

    from realsyn.models.encoders import encoder_identity

    ctx = make_context({"min_similarity": 0.25, "max_similarity": 1.0, "n_clusters": 1,
                        "cap": 100})
    images = Path(__file__).resolve().parents[2] / "examples/sample_corpus/images"
    photo = images / "filters/examples/taj_orig.jpg"
    with Image.open(photo) as image:
        vector = encoder.embed_images([image.convert("RGB")])[0]
    vectors = np.repeat(vector[None, :], 2, axis=0)
    ids = ["taj-a", "taj-b"]
    write_images_final(ctx.workspace, ids, vectors, shard_size=10)
    ctx.workspace.update_manifest(encoder={"identity": encoder_identity(
        ctx.config.embed.encoder), "dim": int(vectors.shape[1])})
    write_generated(ctx.workspace, ids, np.zeros(2), with_scores=False)
    # text1 of taj-a describes the photo, text1 of taj-b does not
    table = ctx.workspace.read_table("generated", "00000")
    texts = ["A white marble palace with a dome and a reflecting pool.",
             "A spreadsheet of quarterly tax figures."]
    table = table.set_column(table.column_names.index("text1"), "text1", pa.array(texts))
    ctx.workspace.write_table("generated", "00000", table)
    stats = run(ctx)
    expected = encoder.embed_texts(texts) @ vector
    out = ctx.workspace.read_dataset("balanced").to_pylist()
    kept = [i for i in (0, 1) if expected[i] >= 0.25]
    assert kept == [0], expected  # the encoder tells the palace from the spreadsheet
    assert [r["image_id"] for r in out] == [ids[i] for i in kept]
    for r in out:
        assert r["balance_score"] == pytest.approx(expected[ids.index(r["image_id"])], abs=5e-3)
    assert stats["dropped_below_band"] == 2 - len(kept)


@pytest.mark.parametrize(("partitions", "workers"), [(1, 1), (3, 2)])
def test_kept_set_is_the_single_process_rule(make_context, partitions, workers):
    """Partitioned (join, clusters) and on two workers, the kept set is what one process
    gets from the same rule: the same k-means, then each cluster's `cap` members of smallest
    seeded hash of the image id (`oracle_balance.balance_clusters` with those rank keys)."""
    from realsyn.dataflow.digest import stable_hashes

    ctx = make_context({"band": "cosines", "n_clusters": 5, "target": 33, "fill_target": True,
                        "seed": 4, "partitions": partitions})
    ids, scores = build(ctx)
    stats = LocalExecutor(workers).run(BalanceStage(), ctx)
    band_rows = np.flatnonzero((scores >= 0.51) & (scores <= 0.61))
    embeddings = np.concatenate([ctx.workspace.read_array("images_final", s)
                                 for s in ctx.workspace.array_shards("images_final")])
    labels = oracle_balance.cluster_images(embeddings[band_rows].astype(np.float32), 5, 20, 4)
    keys = stable_hashes([ids[row] for row in band_rows], 4)
    # The rule by brute force (not sampling's planner): t is the largest cap whose capped
    # total fits the target; each cluster keeps its members of smallest key (ties: lower
    # row), min(size, t) of them, and `extra` clusters larger than t keep one more, so that
    # the total is the target. Which clusters get one more is the seeded draw: any may.
    members = {c: sorted(np.flatnonzero(labels == c), key=lambda r: (keys[r], r))
               for c in np.unique(labels).tolist()}
    sizes = {c: len(rows) for c, rows in members.items()}

    def capped(t: int) -> int:
        return sum(min(size, t) for size in sizes.values())

    t = max(t for t in range(max(sizes.values()) + 1) if capped(t) <= 33)
    extra = 33 - capped(t)
    out = ctx.workspace.read_dataset("balanced")
    position = {ids[row]: at for at, row in enumerate(band_rows)}
    kept = [position[image] for image in out.column("image_id").to_pylist()]
    assert kept == sorted(kept)  # in input order
    assert out.column("balance_cluster").to_pylist() == labels[kept].tolist()
    grown = 0
    for c, rows in members.items():
        mine = sorted((r for r in kept if labels[r] == c), key=lambda r: (keys[r], r))
        assert mine == rows[:len(mine)], c  # the smallest keys of the cluster
        assert len(mine) == min(sizes[c], t) or (len(mine) == t + 1 < sizes[c] + 1), c
        grown += len(mine) == t + 1
    assert 0 < extra == grown
    assert stats["records_out"] == len(kept) == 33 and stats["cap_t"] == t
    report = ctx.workspace.read_json("report/balance.json")
    assert report["clusters_after"]["members"] == 33
