"""The scaling benchmark at a tiny size: its synthetic corpus plants exact, near and semantic
copies, and the dedup stages it runs drop exactly those (its timings come from full runs)."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from tests.extract.oracle_dedup_pairs import exact_pairs, minhash_pairs

from realsyn.config import RetrieveConfig
from realsyn.extract import dedup
from realsyn.workspace import Workspace

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def planted(bench, n: int, dim: int, shard_size: int, seed: int) -> dict[str, dict[str, int]]:
    """Copies per kind: textual ones (the dedup stage's) and semantic ones; for sentences
    also the textual ones the single-process reference (exact + MinHash pairs) joins, since
    MinHash may miss a near copy (copies are planted within a shard: the reference runs
    shard by shard)."""
    topics, gap = bench.corpus_basis(n, dim, seed)
    counts = {}
    for kind, total in ((bench.SENTENCES, n), (bench.IMAGES, n // 4)):
        textual = semantic = joined = 0
        for number, start, stop in bench.shard_bounds(total, shard_size):
            part = bench.shard_content(kind, number, start, stop, topics, gap, seed)
            assert len(part["vectors"]) == stop - start
            textual += part["planted"][0]
            semantic += part["planted"][1]
            if kind == bench.SENTENCES:
                labels = dedup.group_labels(len(part["texts"]),
                                            exact_pairs(part["texts"]),
                                            minhash_pairs(part["texts"]))
                joined += len(labels) - len(np.unique(labels))
        counts[kind] = {"textual": textual, "semantic": semantic, "joined": joined}
    return counts


def test_scale_bench_drops_the_planted_copies(tmp_path, monkeypatch):
    # on the path while it runs: its stand-in stages run in spawned workers that import it
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_scale

    args = argparse.Namespace(n=4000, dim=32, shard_size=1000, seed=3, workers=2,
                              task_memory_mb=16)
    root = str(tmp_path / "ws")
    bench_scale.make_corpus(root, args.n, args.dim, args.shard_size, args.seed)
    report = bench_scale.run_scale(root, args)
    expected = planted(bench_scale, args.n, args.dim, args.shard_size, args.seed)
    assert all(kind["textual"] > 5 < kind["semantic"] for kind in expected.values()), expected
    # nearly every near copy is near enough for MinHash at the default threshold
    sentences = expected["sentences"]
    assert sentences["textual"] >= sentences["joined"] >= 0.97 * sentences["textual"]

    textual, semantic = report["dedup"]["dropped"], report["semantic_dedup"]["dropped"]
    assert textual.get("dropped_perceptual_duplicate", 0) == expected["images"]["textual"]
    assert (textual.get("dropped_exact_duplicate", 0) + textual.get("dropped_near_duplicate", 0)
            == sentences["joined"])
    assert textual.get("dropped_exact_duplicate", 0) > 0 < textual.get("dropped_near_duplicate", 0)
    assert semantic.get("dropped_images_semantic_duplicate", 0) == expected["images"]["semantic"]
    # a near copy MinHash missed still has its source's vector: a paraphrase
    assert semantic.get("dropped_sentences_paraphrase", 0) == (
        sentences["semantic"] + sentences["textual"] - sentences["joined"])

    # the embed stand-in's arrays are row-aligned with the kept rows, and carried to final
    workspace = Workspace(root)
    kept = workspace.count_rows("images_final")
    assert kept == args.n // 4 - expected["images"]["textual"] - expected["images"]["semantic"]
    assert sum(len(workspace.read_array("images_final", shard))
               for shard in workspace.shards("images_final")) == kept
    assert report["retrieve"]["records"] == kept and report["balance"]["records"] > 0
    for stage in ("dedup", "embed", "semantic_dedup", "retrieve", "generate", "balance"):
        assert report[stage]["bytes_written"] > 0, stage
        # measured apart (kept for it): the stages that pass data between steps
        assert (report[stage]["scratch_bytes"] > 0) == (stage in (
            "dedup", "semantic_dedup", "retrieve", "balance")), stage
    # every task's own peak RSS is in its stats, so each step of each stage has one
    for stage in ("dedup", "semantic_dedup", "retrieve", "balance"):
        assert report[stage]["task_peak_rss_mib"].keys() == report[stage]["task_seconds"].keys()
        assert min(report[stage]["task_peak_rss_mib"].values()) > 0, stage
    assert report["_rss"]["largest_task_mib"] == max(
        peak for stage in report.values() if "task_peak_rss_mib" in stage
        for peak in stage["task_peak_rss_mib"].values())
    json.dumps(report)  # what the driver prints
    assert 0 < report["_search"]["flat_s_per_madd"] < 1e-6  # a flat search's rate, measured

    # the paper-scale estimate covers the dedup steps too
    scale = {"sentences": args.n, "images": args.n // 4, "wall_s": 1.0, **report}
    estimate = bench_scale.estimate({"1": scale}, args.n, args.dim)
    steps = {row["step"].split(":")[0] for row in estimate["steps"]}
    assert {"dedup", "semantic_dedup", "retrieve", "balance"} <= steps
    assert estimate["total_hours"] > 0 and estimate["storage_tb"] > 0


def test_step_rates_fit_every_scale_and_every_pair(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_scale

    # a fixed cost of 2 s and 1 s per unit: every fit finds the slope
    assert bench_scale.step_rates([3.0, 5.0, 12.0], [1.0, 3.0, 10.0]) == [
        pytest.approx(1.0)] * 4
    # noisy: the least-squares line first, then the line through each pair of scales
    rates = bench_scale.step_rates([2.0, 5.0, 9.0], [1.0, 3.0, 10.0])
    assert rates[0] == pytest.approx(np.polyfit([1, 3, 10], [2, 5, 9], 1)[0])
    assert rates[1:] == [pytest.approx(1.5), pytest.approx(7 / 9), pytest.approx(4 / 7)]
    # a falling pair (noise) gives the larger scale's seconds per unit, an upper bound
    assert bench_scale.step_rates([4.0, 3.0], [1.0, 10.0]) == [pytest.approx(0.3)]
    assert bench_scale.step_rates([0.0, 0.0], [1.0, 10.0]) == []  # the step did not run


def test_the_estimate_is_a_range_over_the_fits(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_scale

    n, dim = 1000, 16
    units = {scale: bench_scale.scale_units(n * scale, dim, bench_scale.DEFAULT_LISTS)
             for scale in (1, 3, 10)}
    noise = {1: 1.0, 3: 1.3, 10: 0.9}  # the 3N run was slow
    results = {str(scale): {"retrieve": {
        "task_seconds": {"assign": 0.5 + 1e-9 * units[scale]["retrieve:assign"] * noise[scale]},
        "bytes_written": 1000 * scale, "scratch_bytes": 100 * scale}} for scale in (1, 3, 10)}
    result = bench_scale.estimate(results, n, dim)
    (assign,) = [row for row in result["steps"] if row["step"] == "retrieve:assign"]
    low, high = assign["paper_hours_range"]
    assert low < assign["paper_hours"] < high
    assert result["total_hours_range"][0] < result["total_hours"] < result["total_hours_range"][1]
    assert result["largest_step_hours"] == max(row["paper_hours_range"][1]
                                               for row in result["steps"])
    assert result["scales"] == [1, 3, 10]
    two = bench_scale.estimate({k: results[k] for k in ("1", "10")}, n, dim)
    assert two["total_hours_range"] == [two["total_hours"]] * 2  # one line: a point


def test_flat_searches_are_priced_at_the_measured_flat_rate(monkeypatch):
    """The default routing scores every list key: at the paper's scale that search is most of
    `route`, at the bench's a fraction of a second, so it is priced from the flat search rate
    the runs measured (like semantic_dedup's centroid searches), and `route` itself per row."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_scale

    assert RetrieveConfig().routing_centre_probes is None  # flat routing is the default
    n, dim, rate = 1000, 16, 2e-11
    units = {scale: bench_scale.scale_units(n * scale, dim, bench_scale.DEFAULT_LISTS)
             for scale in (1, 3, 10)}
    assert [units[scale]["retrieve:route"] for scale in (1, 3, 10)] == [250, 750, 2500]
    results = {str(scale): {
        "retrieve": {"task_seconds": {"route": 0.1 + 1e-4 * units[scale]["retrieve:route"]},
                     "bytes_written": 1000 * scale, "scratch_bytes": 100 * scale},
        "_search": {"flat_s_per_madd": rate * factor}}
        for scale, factor in ((1, 1.0), (3, 1.5), (10, 0.5))}
    steps = {row["step"]: row for row in bench_scale.estimate(results, n, dim)["steps"]}
    paper, cores = bench_scale.PAPER, 64 * 32
    lists = paper["clusters"] * bench_scale.DEFAULT_LISTS["lists_per_cluster"]
    key_search = steps["retrieve:route (list key search)"]
    hours = rate * paper["images"] * lists * (paper["dim"] + 1) / cores / 3600
    assert key_search["paper_hours"] == pytest.approx(hours, abs=0.01)  # the median rate
    assert key_search["paper_hours_range"] == [pytest.approx(hours / 2, abs=0.01),
                                               pytest.approx(1.5 * hours, abs=0.01)]
    # retrieve's k-means never trains on fewer points than centres: 6M at the paper's lists
    assert bench_scale.training_points(paper["sentences"], lists, 1_000_000) == lists
    assert bench_scale.training_points(paper["images"], 1e6, 1_000_000) == 1_000_000
    # the step's own fit: 1e-4 s per routed image
    assert steps["retrieve:route"]["paper_hours"] == pytest.approx(
        1e-4 * paper["images"] / cores / 3600, abs=0.01)


def test_the_documented_estimate_is_the_committed_measurement(monkeypatch):
    """The paper-scale figures of docs/cluster.md and the README come from the committed
    results (benchmarks/measured/scale.json), so anyone can reproduce them."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_scale

    measured = json.loads((BENCHMARKS / "measured" / "scale.json").read_text())
    assert sorted(measured["scales"], key=int) == ["1", "3", "10"]  # at least three scales
    result = bench_scale.estimate(measured["scales"], measured["args"]["n"],
                                  measured["args"]["dim"], measured["retrieve_lists"])
    low, high = result["total_hours_range"]
    stated = f"{result['total_hours']} h, range {low} h to {high} h"
    root = BENCHMARKS.parent
    for page in (root / "docs" / "cluster.md", root / "README.md"):
        assert stated in " ".join(page.read_text().replace("*", "").split()), page
