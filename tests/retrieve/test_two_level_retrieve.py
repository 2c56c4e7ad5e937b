"""The retrieve stage with two-level centres (retrieve.flat_centre_limit forced below the
lists): trained, assigned, cached and routed through the coarse cells, it finds what the flat
index finds on a planted corpus."""

import numpy as np
import pytest
from synthetic_retrieval import topic_data, write_images, write_sentences

from realsyn.config import parse_config
from realsyn.dataflow import kmeans
from realsyn.executors.local import LocalExecutor
from realsyn.retrieve.centroid_cache import INDEX_DIR
from realsyn.retrieve.routing import Router, coarse_keys, paper_router
from realsyn.retrieve.stage import RetrieveStage
from realsyn.stage import Context
from realsyn.workspace import Workspace

N_TOPICS, PER_TOPIC, N_IMAGES = 6, 150, 120


def run(root, **retrieve):
    config = parse_config({"workspace": str(root), "executor": {"workers": 1}, "retrieve": {
        "exact_search_max_products": 0, "max_uses_share": None, "n_clusters": 8,
        "audit_queries": 40, "routing_fit_images": 60, **retrieve}})
    ctx = Context(config=config, workspace=Workspace(config.workspace))
    sentences, sentence_topic, images, image_topic = topic_data(
        N_TOPICS, PER_TOPIC, N_IMAGES, seed=1, noise=0.15)
    write_sentences(ctx.workspace, sentences, [f"{t}-{i % 4}" for i, t in
                                               enumerate(sentence_topic)], shard_size=300)
    write_images(ctx.workspace, images, [f"{t}-0" for t in image_topic], shard_size=40)
    stats = LocalExecutor(workers=1).run(RetrieveStage(), ctx)
    return ctx, stats, sentence_topic, image_topic


@pytest.mark.parametrize("routing", ["paper", "learned"])
def test_two_level_centres_retrieve_the_planted_top3_as_the_flat_ones(tmp_path, routing):
    # 8 clusters x 3 lists = 24 centres over 5 coarse cells, 2 of them probed
    two, stats, sentence_topic, image_topic = run(tmp_path / "two", routing=routing,
                                                  lists_per_cluster=3, flat_centre_limit=8,
                                                  centre_probes=2, routing_centre_probes=2)
    assert stats["clusters"] == 24
    meta = two.workspace.committed.read_json(f"{INDEX_DIR}/meta.json")
    assert meta["two_level"] is True  # the cache keeps the coarse level
    coarse = two.workspace.committed.read_npy(f"{INDEX_DIR}/coarse.npy")
    cells = two.workspace.committed.read_npy(f"{INDEX_DIR}/cells.npy")
    assert len(coarse) == kmeans.coarse_count(24) == 5 and len(cells) == 24
    assert sorted(set(cells.tolist())) == list(range(5))
    rows = two.workspace.read_dataset("retrieved").to_pylist()
    assert len(rows) == N_IMAGES
    for row in rows:  # every image's top-3 from its own topic (the planted answer)
        topic = image_topic[int(row["image_id"][1:])]
        assert all(sentence_topic[int(row[f"sentence_id{i}"][1:])] == topic for i in (1, 2, 3))
    _, flat, _, _ = run(tmp_path / "flat", routing=routing, lists_per_cluster=3)
    assert stats["audit_recall@3"] >= flat["audit_recall@3"] - 0.01
    assert stats["audit_score_ratio"] >= flat["audit_score_ratio"] - 0.01
    # seeded: a second run (a fresh workspace) writes the same rows
    again, _, _, _ = run(tmp_path / "again", routing=routing, lists_per_cluster=3,
                         flat_centre_limit=8, centre_probes=2, routing_centre_probes=2)
    assert again.workspace.read_dataset("retrieved").equals(two.workspace.read_dataset(
        "retrieved"))


def test_the_cached_coarse_level_is_reused(tmp_path, monkeypatch):
    ctx, _, _, _ = run(tmp_path / "ws", flat_centre_limit=4, routing="paper")
    first = ctx.workspace.read_dataset("retrieved")
    ctx.workspace.reset_stage("retrieve")

    def refuse(*args, **kwargs):
        raise AssertionError("the cached centres should have been reused")

    monkeypatch.setattr(kmeans, "train_centres", refuse)
    stats = LocalExecutor(workers=1).run(RetrieveStage(), ctx)  # read back from the cache
    assert stats["retrieved"] == N_IMAGES
    assert ctx.workspace.read_dataset("retrieved").equals(first)


def test_cell_keys_are_the_coarse_centres_moved_by_their_lists_mean_shift():
    rng = np.random.default_rng(0)
    points = kmeans._normalise(rng.standard_normal((400, 8)).astype(np.float32))
    centres = kmeans.train_centres(points, 20, iterations=5, seed=0, flat_limit=4)
    # the paper's keys [c, 0]: each cell's key is its coarse centre [C, 0]
    paper = coarse_keys(paper_router(centres.fine).keys, centres)
    assert np.allclose(paper, np.hstack([centres.coarse, np.zeros((len(centres.coarse), 1))]),
                       atol=1e-6)
    # learned keys c + delta with offsets: the cell's mean delta, its median offset
    delta = rng.standard_normal((20, 8)).astype(np.float32)
    offsets = rng.standard_normal(20).astype(np.float32)
    offsets[0] = -10.0  # an empty list
    keys = np.hstack([centres.fine + delta, offsets[:, None]])
    cell = coarse_keys(keys, centres)
    for c in range(len(centres.coarse)):
        mine = centres.cells == c
        assert np.allclose(cell[c, :8], centres.coarse[c] + delta[mine].mean(axis=0), atol=1e-5)
        assert cell[c, 8] == pytest.approx(np.median(offsets[mine]))
    assert len(coarse_keys(keys, kmeans.Centres.flat(centres.fine))) == 0


def test_a_two_level_router_searches_through_the_cells():
    rng = np.random.default_rng(1)
    points = kmeans._normalise(rng.standard_normal((600, 8)).astype(np.float32))
    centres = kmeans.train_centres(points, 30, iterations=5, seed=0, flat_limit=4)
    keys = paper_router(centres.fine).keys
    cells = coarse_keys(keys, centres)
    queries = points[:100]
    flat = Router(keys).probes(queries, 3)
    every = Router(keys, coarse=cells, cells=centres.cells, centre_probes=len(cells))
    assert type(every._index).__name__ == "IndexIVFFlat"
    assert every.probes(queries, 3).tolist() == flat.tolist()  # every cell: the flat probes
    one = Router(keys, coarse=cells, cells=centres.cells, centre_probes=1).probes(queries, 3)
    assert (one[:, 0] == flat[:, 0]).mean() < 1  # one cell misses some
    assert one.shape == (100, 3) and (one >= -1).all()


def test_a_fallback_that_probes_every_list_searches_them_all(tmp_path):
    # too few fit images: the fallback probes every list of a corpus of <= 200 images, which
    # one coarse cell of five would not hold
    _, stats, _, _ = run(tmp_path / "ws", lists_per_cluster=3, flat_centre_limit=4,
                         routing_centre_probes=1, routing_min_fit_images=1000)
    assert stats["routing_fallback_too_few_fit_images"] == 1 and stats["lists_probed"] == 24
    assert stats["audit_lists_per_image"] == 24
    assert stats["audit_recall@3"] == 1.0 and stats["audit_score_ratio"] == 1.0
