"""The image queries of a run: what the retrieve stage's tests do not reach (found by mutating
src/realsyn/retrieve/queries.py)."""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa

from realsyn.config import RetrieveConfig
from realsyn.dataflow.digest import signed_hashes
from realsyn.retrieve.queries import (
    ImageRows,
    exact_is_cheap,
    exact_router,
    fallback_nprobe,
    router_from_maxima,
    routing_stats,
    sample_rows,
)
from realsyn.retrieve.routing import EXACT, LEARNED, PAPER, paper_router
from realsyn.workspace import Workspace


def test_exact_search_says_so_and_probes_every_list():
    centroids = np.eye(3, 4, dtype=np.float32)
    router, stats = exact_router(centroids)
    assert router.name == EXACT
    assert stats == {"routing_learned": 0, "search_exact": 1, "lists_probed": 3}


def test_a_fallback_probes_the_share_of_lists_exact_search_of_its_images_would():
    config = RetrieveConfig(nprobe=1, routing_fallback_images=1)
    # one image and a budget of one: every list (exact search of that image)
    assert fallback_nprobe(1, 4, config) == 4
    assert fallback_nprobe(4, 8, config) == 2  # a quarter of the images: a quarter of the lists
    assert fallback_nprobe(400, 8, config) == 1  # at least nprobe


def test_learned_routing_reports_its_fit_time_in_milliseconds():
    config = RetrieveConfig(nprobe=3)
    router = paper_router(np.eye(4, dtype=np.float32), LEARNED)
    stats = routing_stats(router, 17, time.perf_counter() - 1.23456, 100, 4, config)
    seconds = stats.pop("routing_fit_seconds")
    assert 1.234 <= seconds < 1.3 and seconds == round(seconds, 3)
    assert stats == {"routing_learned": 1, "routing_fit_images": 17, "lists_probed": 3}
    stats = routing_stats(paper_router(np.eye(4, dtype=np.float32)), 2, 0.0, 100, 4,
                          RetrieveConfig(nprobe=1, routing_fallback_images=50))
    assert stats == {"routing_learned": 0, "routing_fit_images": 2, "lists_probed": 2,
                     "routing_fallback_too_few_fit_images": 1}


def test_no_fit_images_fall_back_to_the_paper_router():
    centroids = np.eye(3, 4, dtype=np.float32)
    router, usable = router_from_maxima(np.zeros((0, 4), np.float32),
                                        np.zeros((0, 3), np.float32), centroids,
                                        np.array([5, 5, 5]), 1.0, 1)
    assert usable == 0 and router.name == PAPER
    assert np.array_equal(router.keys, paper_router(centroids).keys)


def test_the_learned_router_has_no_size_penalty_unless_asked():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((40, 4)).astype(np.float32)
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    centroids = np.eye(3, 4, dtype=np.float32)
    maxima = (images @ centroids.T).astype(np.float32)
    sizes = np.array([1, 50, 2000])
    router, usable = router_from_maxima(images, maxima, centroids, sizes, 1.0, 8)
    plain, _ = router_from_maxima(images, maxima, centroids, sizes, 1.0, 8, size_penalty=0.0)
    penalised, _ = router_from_maxima(images, maxima, centroids, sizes, 1.0, 8,
                                      size_penalty=1.0)
    assert usable == 40 and router.name == LEARNED
    assert np.array_equal(router.keys, plain.keys)
    assert not np.array_equal(router.keys, penalised.keys)


def test_the_learned_router_keeps_its_margin():
    rng = np.random.default_rng(1)
    images = rng.standard_normal((20, 4)).astype(np.float32)
    centroids = np.eye(3, 4, dtype=np.float32)
    maxima = (images @ centroids.T).astype(np.float32)
    router, _ = router_from_maxima(images, maxima, centroids, np.array([3, 4, 5]), 1.0, 8,
                                   margin=0.05, size_penalty=1.0)
    assert router.name == LEARNED and router.margin == 0.05


def test_exact_search_is_cheap_up_to_the_budget_of_products():
    config = RetrieveConfig(exact_search_max_products=1000)
    assert exact_is_cheap(10, 100, config) and exact_is_cheap(1, 1000, config)
    assert not exact_is_cheap(11, 100, config) and not exact_is_cheap(100, 100, config)


def test_as_many_fit_images_as_the_minimum_fit_the_learned_router():
    rng = np.random.default_rng(2)
    images = rng.standard_normal((8, 4)).astype(np.float32)
    centroids = np.eye(3, 4, dtype=np.float32)
    maxima = (images @ centroids.T).astype(np.float32)
    router, usable = router_from_maxima(images, maxima, centroids, np.array([3, 4, 5]), 1.0, 8)
    assert usable == 8 and router.name == LEARNED


def test_image_rows_read_float32_vectors_and_document_keys_across_shards(tmp_path):
    workspace = Workspace(str(tmp_path))
    data = np.arange(20, dtype=np.float16).reshape(5, 4) / 8
    docs = ["a", "b", "c", "d", "e"]
    for shard, lo, hi in (("00000", 0, 2), ("00001", 2, 5)):
        workspace.write_table("images", shard, pa.table({"doc_id": docs[lo:hi],
                                                         "url": ["u"] * (hi - lo)}))
        workspace.write_array("images", shard, data[lo:hi])
    images = ImageRows(workspace, "images", ["00000", "00001"], [2, 3])
    vectors, keys = images.read(np.array([1, 2, 4]))
    assert vectors.dtype == np.float32
    assert np.array_equal(vectors, data[[1, 2, 4]].astype(np.float32))
    assert keys.tolist() == signed_hashes(["b", "c", "e"]).tolist()
    vectors, keys = images.read(np.zeros(0, np.int64))
    assert vectors.shape == (0, 0) and vectors.dtype == np.float32
    assert keys.shape == (0,) and keys.dtype == np.int64
    assert images.global_rows(np.array(["00001", "00000"]), np.array([1, 0])).tolist() == [3, 0]


def test_only_learned_routing_takes_a_fit_sample():
    fit, audit = sample_rows(100, RetrieveConfig(routing="paper", audit_queries=10))
    assert len(fit) == 0 and len(audit) == 10
    fit, audit = sample_rows(100, RetrieveConfig(routing="learned", audit_queries=10,
                                                 routing_fit_images=30))
    assert len(fit) == 30 and len(audit) == 10 and not set(fit) & set(audit)
    assert fit.tolist() == sorted(fit.tolist()) and audit.tolist() == sorted(audit.tolist())
