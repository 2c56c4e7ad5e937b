"""The shard plan never changes the data (issue 31): a small HTML corpus run with random
ingest.files_per_shard, executor.workers and executor.task_memory_mb gives the datasets and the
output of a one-shard, one-worker run, rows in the same order."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from corpus_variants import html_site
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from small_pipeline import run, small_config

from realsyn import datasets
from realsyn.workspace import Workspace

PAGES = 6
DATASETS = (datasets.DOCUMENTS, datasets.IMAGES, datasets.TEXTS, datasets.IMAGES_FILTERED,
            datasets.SENTENCES_FILTERED, datasets.IMAGES_DEDUP, datasets.SENTENCES_DEDUP,
            datasets.IMAGES_FINAL, datasets.SENTENCES_FINAL, datasets.RETRIEVED,
            datasets.GENERATED, datasets.BALANCED)
# Similarities are float32 sums over float16 embeddings: another partitioning of the search
# (task_memory_mb) adds them in another order, which moves the last bits, never the choice.
SCORE_TOLERANCE = 1e-5
# The tagger's probabilities come from a CNN run on a shard's images as one batch: another
# batch composition moves them in the fourth decimal (float kernels), never the tags named.
TAG_TOLERANCE = 1e-3


def assert_same_tags(got: list[str], expected: list[str]) -> None:
    for left, right in zip(got, expected, strict=True):
        left, right = json.loads(left), json.loads(right)
        assert [name for name, _ in left] == [name for name, _ in right]
        np.testing.assert_allclose([p for _, p in left], [p for _, p in right],
                                   atol=TAG_TOLERANCE)


def run_plan(folder: Path, site: Path, files_per_shard: int, workers: int,
             task_memory_mb: int) -> Workspace:
    config = small_config(folder / "ws", site)
    config["inputs"] = [{"path": str(site), "format": "html"}]
    config["ingest"]["files_per_shard"] = files_per_shard
    config["executor"] = {"workers": workers, "shard_size": 1000,
                          "task_memory_mb": task_memory_mb}
    run(config)
    return Workspace(str(folder / "ws"))


def whole(workspace: Workspace, dataset: str) -> pa.Table:
    """A dataset's shards concatenated in shard order."""
    return pa.concat_tables([workspace.read_table(dataset, shard)
                             for shard in workspace.shards(dataset)])


# Where a row's image lies in images_final: shard and row depend on the plan by definition
# (checked to point at the row's own image instead).
LOCATION_COLUMNS = ("image_shard", "image_row")


def assert_locations_point_at_the_image(workspace: Workspace, table: pa.Table) -> None:
    for image, shard, row in zip(*(table.column(c).to_pylist()
                                   for c in ("image_id", *LOCATION_COLUMNS)), strict=True):
        found = workspace.read_table(datasets.IMAGES_FINAL, shard, ["image_id"])
        assert found.column("image_id")[row].as_py() == image


def assert_same_rows(got: pa.Table, expected: pa.Table, name: str) -> None:
    assert got.column_names == expected.column_names, name
    for column in expected.column_names:
        if column in LOCATION_COLUMNS:
            continue
        left, right = got.column(column), expected.column(column)
        if column == "tags":
            assert_same_tags(left.to_pylist(), right.to_pylist())
        elif pa.types.is_floating(right.type):
            np.testing.assert_allclose(left.to_numpy(), right.to_numpy(),
                                       atol=SCORE_TOLERANCE, err_msg=f"{name}.{column}")
        else:
            assert left.to_pylist() == right.to_pylist(), f"{name}.{column}"


def release(workspace: Workspace) -> pa.Table:
    return pq.read_table(Path(workspace.url.removeprefix("file://")) / "output" / "release")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> tuple[Path, Workspace]:
    """The site, and its run as one shard on one worker with the default task budget."""
    folder = tmp_path_factory.mktemp("one_shard")
    site = html_site(folder / "site", PAGES)
    return site, run_plan(folder, site, PAGES, 1, 1024)


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files_per_shard=st.integers(1, PAGES), workers=st.integers(1, 2),
       task_memory_mb=st.sampled_from([16, 64, 1024]))
def test_any_shard_plan_gives_the_one_shard_output(baseline, tmp_path_factory, files_per_shard,
                                                    workers, task_memory_mb):
    site, one = baseline
    other = run_plan(tmp_path_factory.mktemp("plan"), site, files_per_shard, workers,
                     task_memory_mb)
    assert len(other.shards(datasets.DOCUMENTS)) == -(-PAGES // files_per_shard)
    for dataset in DATASETS:
        assert_same_rows(whole(other, dataset), whole(one, dataset), dataset)
    assert_locations_point_at_the_image(other, whole(other, datasets.BALANCED))
    assert release(other).equals(release(one))
