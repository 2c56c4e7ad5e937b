"""The image queries of a run: what the retrieve stage's tests do not reach (found by mutating
src/realsyn/retrieve/queries.py)."""

from __future__ import annotations

import time

import numpy as np

from realsyn.config import RetrieveConfig
from realsyn.retrieve.queries import exact_router, fallback_nprobe, routing_stats
from realsyn.retrieve.routing import EXACT, LEARNED, paper_router


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
