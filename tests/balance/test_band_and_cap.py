"""The balance stage's band and cap counts against an oracle written here: a loop over the
scores for the band, and per-cluster counts for the cap. The stage's k-means is judged apart
(its labels must be a fixed point of spherical k-means on the in-band images) and then used
only as labels, so the test does not depend on which planted groups it merges or splits, nor
on which members of a cluster are kept."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
from balance_helpers import grouped_vectors, unit, write_generated, write_images_final

from realsyn.balance.stage import BalanceStage
from realsyn.executors.local import LocalExecutor

SIZES = [40, 30, 20, 12, 8]
CLUSTERS, CAP = 5, 10
# Band edges that float32 (the score columns' type) holds exactly, so scores can sit on them.
LOW, HIGH = 0.5, 0.625
LOST = 4  # generated rows whose image has no embedding


def planted_workspace(ctx) -> tuple[list[str], np.ndarray, np.ndarray]:
    """images_final in well-separated groups and `generated` with seeded scores around the
    band, some exactly on its edges and one missing; returns (ids, scores, vectors)."""
    vectors, _ = grouped_vectors(SIZES)
    ids = [f"img{i:03d}" for i in range(len(vectors))]
    rng = np.random.default_rng(7)
    scores = rng.uniform(0.35, 0.75, len(ids))
    scores[[3, 50]], scores[[4, 60]], scores[9] = LOW, HIGH, np.nan
    write_images_final(ctx.workspace, ids, vectors, shard_size=32)
    lost = [f"lost{i}" for i in range(LOST)]
    write_generated(ctx.workspace, ids + lost, np.r_[scores, [0.55] * LOST])
    # as the stage reads them back
    return ids, scores.astype(np.float32).astype(np.float64), vectors


def band_oracle(ids: list[str], scores: np.ndarray) -> tuple[list[str], int, int]:
    """(ids inside [LOW, HIGH], how many below, how many above), one score at a time."""
    inside, below, above = [], 0, 0
    for image_id, score in zip(ids, scores.tolist(), strict=True):
        if math.isnan(score):
            continue
        if score < LOW:
            below += 1
        elif score > HIGH:
            above += 1
        else:
            inside.append(image_id)
    return inside, below, above


def assert_spherical_kmeans_fixed_point(labels: dict[str, int], vectors: dict[str, np.ndarray]):
    """Every image is closest (cosine) to the normalised mean of its own cluster."""
    members: dict[int, list[np.ndarray]] = {}
    for image_id, label in labels.items():
        members.setdefault(label, []).append(vectors[image_id])
    centres = {label: unit(np.mean(rows, axis=0, keepdims=True))[0]
               for label, rows in members.items()}
    for image_id, label in labels.items():
        nearest = max(centres, key=lambda c: float(centres[c] @ vectors[image_id]))
        assert nearest == label, (image_id, label, nearest)


def run_balance(make_context, name: str, cap: int):
    ctx = make_context({"n_clusters": CLUSTERS, "cap": cap, "min_similarity": LOW,
                        "max_similarity": HIGH}, name=name)
    ids, scores, vectors = planted_workspace(ctx)
    stats = LocalExecutor(1).run(BalanceStage(), ctx)
    return ctx, ids, scores, vectors, stats


def test_band_and_cap_counts(make_context):
    # Uncapped, every in-band image comes out with its cluster: the labels of the oracle.
    ctx, ids, scores, vectors, stats = run_balance(make_context, "uncapped", cap=1000)
    inside, below, above = band_oracle(ids, scores)
    assert len(inside) + below + above == len(ids) - 1 and below and above
    assert stats["records_in"] == len(ids) + LOST
    assert (stats["dropped_no_embedding"], stats["dropped_no_score"]) == (LOST, 1)
    assert (stats["dropped_below_band"], stats["dropped_above_band"]) == (below, above)
    uncapped = ctx.workspace.read_dataset("balanced").to_pylist()
    assert sorted(r["image_id"] for r in uncapped) == inside  # the edges are inside
    labels = {r["image_id"]: r["balance_cluster"] for r in uncapped}
    by_id = dict(zip(ids, vectors, strict=True))
    assert len(set(labels.values())) == CLUSTERS
    assert_spherical_kmeans_fixed_point(labels, {i: by_id[i] for i in inside})
    sizes = Counter(labels.values())
    assert max(sizes.values()) > CAP > min(sizes.values())  # clusters above and below t

    ctx, ids, scores, _, stats = run_balance(make_context, "capped", cap=CAP)
    expected = {label: min(size, CAP) for label, size in sizes.items()}
    assert (stats["dropped_below_band"], stats["dropped_above_band"]) == (below, above)
    assert stats["records_out"] == sum(expected.values())
    assert stats["dropped_cluster_cap"] == len(inside) - sum(expected.values())
    out = ctx.workspace.read_dataset("balanced").to_pylist()
    # The same clustering (same seed, same in-band images), at most t kept from each cluster.
    assert all(labels[r["image_id"]] == r["balance_cluster"] for r in out)
    assert Counter(r["balance_cluster"] for r in out) == expected
    assert all(LOW <= r["balance_score"] <= HIGH for r in out)
    # the locator points at the image's row in images_final
    for r in out:
        images = ctx.workspace.read_table("images_final", r["image_shard"])
        assert images.column("image_id")[r["image_row"]].as_py() == r["image_id"]
    kept_rows = [ids.index(r["image_id"]) for r in out]
    assert kept_rows == sorted(kept_rows)  # input order is kept
    assert {"text1", "text3", "score2", "sentence_id1", "syn_text", "syn_status"} <= set(out[0])

    report = ctx.workspace.read_json("report/balance.json")
    assert report["cap_t"] == CAP and report["clusters_before"]["clusters"] == CLUSTERS
    assert report["clusters_after"]["max"] == CAP
    assert report["clusters_after"]["normalized_entropy"] > report["clusters_before"][
        "normalized_entropy"]
    assert sum(c for _, c in report["score_histogram"]) == len(ids) - 1
