"""Cluster count and cap derived from the corpus size: several clusters and a binding cap on a
few hundred images, the paper's 1M clusters and t = 20 at its scale."""

from __future__ import annotations

import numpy as np
from balance_helpers import grouped_vectors, write_generated, write_images_final

from realsyn.balance import sampling
from realsyn.balance.stage import BalanceStage
from realsyn.executors.local import LocalExecutor

PAPER_IMAGES = 168_300_000  # in the band, before k-means (spec section 4)


def test_paper_scale_keeps_the_papers_clusters_and_cap():
    clusters = sampling.default_n_clusters(PAPER_IMAGES, 168, 0.5)
    assert clusters == round(PAPER_IMAGES / 168)  # 1.0M: sqrt(n) (12,973) does not decide
    sizes = np.full(clusters, PAPER_IMAGES // clusters)
    assert sampling.auto_cap(sizes, 20) == 20


def test_small_corpus_gets_about_sqrt_n_clusters_and_the_cap_falls_to_the_mean():
    assert sampling.default_n_clusters(300, 168, 0.5) == 18  # ceil(sqrt(300))
    assert sampling.default_n_clusters(300, 168, 0.0) == 2  # the paper's ratio alone
    assert sampling.default_n_clusters(3, 168, 0.5) == 2
    assert sampling.default_n_clusters(0, 168, 0.5) == 1
    assert sampling.auto_cap(np.array([30, 10, 5, 0]), 20) == 15  # 45 members / 3 clusters
    assert sampling.auto_cap(np.array([400, 300]), 20) == 20
    assert sampling.auto_cap(np.array([1, 1, 1]), 20) == 1
    assert sampling.auto_cap(np.zeros(0, np.int64), 20) == 20


def test_a_300_image_corpus_gets_several_clusters_and_the_cap_binds_on_the_largest(
        make_context):
    ctx = make_context({})  # no balance settings: the quantile band, derived clusters and cap
    sizes = [60, 45, 40, 30, 25, 20, 20, 15, 15, 10, 10, 5, 5]  # 300 images, uneven groups
    vectors, _ = grouped_vectors(sizes, seed=5)
    ids = [f"img{i:03d}" for i in range(len(vectors))]
    write_images_final(ctx.workspace, ids, vectors, shard_size=128)
    write_generated(ctx.workspace, ids, np.random.default_rng(5).normal(0.3, 0.05, len(ids)),
                    shard_size=100)
    stats = LocalExecutor(1).run(BalanceStage(), ctx)
    report = ctx.workspace.read_json("report/balance.json")
    before, after = report["clusters_before"], report["clusters_after"]
    in_band = stats["scored"] - stats["dropped_below_band"] - stats["dropped_above_band"]
    assert report["kmeans_clusters"] == int(np.ceil(np.sqrt(in_band)))
    assert before["clusters"] >= 10
    t = report["cap_t"]
    assert t == in_band // before["clusters"]  # the mean non-empty cluster size
    assert before["max"] > t and after["max"] == t  # the cap binds on the largest
    assert stats["dropped_cluster_cap"] > 0
    assert after["entropy_bits"] > before["entropy_bits"]
    assert report["cap_setting"][0].startswith("balance.auto_cap")
