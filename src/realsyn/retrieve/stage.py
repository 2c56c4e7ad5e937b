"""The `retrieve` stage: each image's top-k real sentences by hierarchical search, as steps of
parallel tasks, none of which holds a whole dataset.

Reads dataset + row-aligned arrays `sentences_final` (to index) and `images_final` (queries),
writes dataset `retrieved` with the shard keys of `images_final`. Steps (tasks in brackets):

    scan    [sentence shard]  usable rows of each shard
    train   [one]             k-means centres on a bounded seeded sample (max_training_points):
                              one per list, lists_per_cluster per paper-sized cluster;
                              the partition count (data size / executor.task_memory_mb), the
                              seeded image samples of the routing fit and of the audit
    assign  [sentence shard]  each sentence to its centre -> list partitions (cluster ranges)
    fit     [list partition]  learned routing: the fit images' best score per list
    router  [one]             the router (paper's centres, or the learned keys)
    route   [image shard]     each image's probed lists -> queries partitioned like the lists
    search  [list partition]  the partition's lists against the queries routed there from
                              every image shard, one product per list and query batch; the
                              audit images against every list
    merge   [image shard]     each image's best candidates over all partitions -> `retrieved`
    cap     [list partition]  (a cap: max_uses_per_sentence or max_uses_share) each sentence
                              keeps its best images
    write   [image shard]     (a cap) the capped top-k -> `retrieved`
    reuse   [list partition]  how many images use each sentence as text1
    report  [one]             the reuse and audit figures, `report/retrieve.json`

Searching the same lists (each query against each member, float16 vectors in float32 products)
and breaking ties by index position, the results are those of the single-process search
(retrieve/search.py over the index that tests/retrieve/oracle_index.py builds);
tests/retrieve/test_partitioned_retrieve.py checks it. The centres persist under
`index/retrieve/` (centroid_cache.py).

The cap is a reduce by sentence: each sentence keeps the `uses_cap` images (config.py) that
score it highest, first among the images that hold it in their top-k, then, with the capacity
left, among the images' further candidates (ties: lower global image row); each image then takes
its top-k among the pairs left. No sentence serves more than the cap.

This module wires the steps; they live in modules named for what they do: index_steps.py
(scan, train, assign), routing_steps.py (fit, router, route), search_steps.py (search, merge),
cap_steps.py (cap, write) and report_steps.py (reuse, report), over lists.py (the partitioned
lists and scratch files), candidates.py, output.py, quality.py and centroid_cache.py.
"""

from __future__ import annotations

from typing import Any

from realsyn import datasets
from realsyn.dataflow.rows import aligned_shards
from realsyn.retrieve.cap_steps import CapSteps
from realsyn.retrieve.centroid_cache import INDEX_DIR
from realsyn.retrieve.index_steps import IndexSteps
from realsyn.retrieve.lists import (
    AUDIT,
    CANDIDATES,
    CAPPED,
    CELLS,
    CENTROIDS,
    COARSE,
    FIT,
    LISTS,
    META,
    PAIRS,
    PROBES,
    QUERIES,
    REUSE,
    ROUTER,
    ROUTER_COARSE,
    ROUTING,
    ROWS,
    SIZES,
    TEXT1,
    USABLE,
    read_meta,
)
from realsyn.retrieve.queries import ImageRows
from realsyn.retrieve.report_steps import REPORT, ReportSteps
from realsyn.retrieve.routing import LEARNED
from realsyn.retrieve.routing_steps import RoutingSteps
from realsyn.retrieve.search_steps import SearchSteps
from realsyn.stage import GLOBAL_SHARD, Context, Step, SteppedStage

SENTENCES = datasets.SENTENCES_FINAL
IMAGES = datasets.IMAGES_FINAL
OUTPUT = datasets.RETRIEVED


class RetrieveStage(IndexSteps, RoutingSteps, SearchSteps, CapSteps, ReportSteps, SteppedStage):
    name = "retrieve"
    description = "Hierarchical retrieval of each image's top-k real sentences (k-means + IVF)."
    config_paths = ("retrieve", "embed.encoder")
    version = "3"  # 3: exact search when cheap, fallback probes, the two-round cap
    reports = (REPORT,)
    caches = (INDEX_DIR,)  # the centres, reused while the sentence vectors are the same

    def __init__(self, sentences: str = SENTENCES, images: str = IMAGES,
                 output: str = OUTPUT) -> None:
        self.sentences, self.images, self.output = sentences, images, output

    def reads(self, config) -> list[str]:
        return [location for name in (self.sentences, self.images)
                for location in (datasets.dataset(name), datasets.array(name))]

    def writes(self, config) -> list[str]:
        return [datasets.dataset(self.output)]

    # The scratch (scratch/<stage>) holds the steps' data only: the centres reused across runs
    # are a cache, in index/retrieve.
    def steps(self, config) -> list[Step]:
        learned, capped = config.retrieve.routing == LEARNED, config.retrieve.capped
        fitted = (FIT, SIZES) if learned else ()
        steps = [Step("scan", self.sentence_shards, self.scan, writes=(USABLE, ROWS)),
                 Step("train", self.single, self.train, reads=(ROWS, USABLE),
                      writes=(CENTROIDS, COARSE, CELLS, META)),
                 Step("assign", self.assign_shards, self.assign,
                      reads=(META, USABLE, CENTROIDS, COARSE, CELLS), writes=(LISTS,))]
        if learned:
            steps.append(Step("fit", self.list_partitions, self.fit, reads=(META, LISTS),
                              writes=fitted))
        steps += [Step("router", self.single, self.fit_router,
                       reads=(META, CENTROIDS, COARSE, CELLS, *fitted),
                       writes=(ROUTER, ROUTER_COARSE, ROUTING)),
                  Step("route", self.image_shards, self.route,
                       reads=(META, ROUTER, ROUTER_COARSE, CELLS, ROUTING),
                       writes=(PROBES, QUERIES)),
                  Step("search", self.list_partitions, self.search,
                       reads=(META, LISTS, QUERIES, ROUTING), writes=(CANDIDATES, AUDIT)),
                  # capped, the merged candidates go to the cap, and its write step writes
                  Step("merge", self.image_shards, self.merge,
                       reads=(META, PROBES, CANDIDATES, AUDIT),
                       writes=(PAIRS,) if capped else (TEXT1,))]
        if capped:
            steps += [Step("cap", self.list_partitions, self.cap, reads=(META, PAIRS),
                           writes=(CAPPED,)),
                      Step("write", self.capped_shards, self.write_capped,
                           reads=(META, PROBES, CANDIDATES, CAPPED), writes=(TEXT1,))]
        steps += [Step("reuse", self.list_partitions, self.reuse, reads=(META, TEXT1),
                       writes=(REUSE,)),
                  Step("report", self.single, self.report, reads=(META, ROUTING, REUSE))]
        return steps

    # ------------------------------------------------------------------ task lists
    def sentence_shards(self, ctx: Context) -> list[str]:
        return aligned_shards(ctx.workspace, self.sentences)

    def image_shards(self, ctx: Context) -> list[str]:
        return aligned_shards(ctx.workspace, self.images)

    @staticmethod
    def single(ctx: Context) -> list[str]:
        return [GLOBAL_SHARD]

    def assign_shards(self, ctx: Context) -> list[str]:
        return self.sentence_shards(ctx) if read_meta(ctx)["n_clusters"] else []

    def capped_shards(self, ctx: Context) -> list[str]:
        return self.image_shards(ctx) if read_meta(ctx)["n_clusters"] else []

    @staticmethod
    def list_partitions(ctx: Context) -> list[str]:
        meta = read_meta(ctx)
        return [f"{p:05d}" for p in range(meta["partitions"])] if meta["n_clusters"] else []

    def image_rows(self, ctx: Context, meta: dict[str, Any]) -> ImageRows:
        """The run's images by global row (the train step's plan numbers them)."""
        return ImageRows(ctx.workspace, self.images, list(meta["image_offsets"]),
                         meta["image_rows"])
