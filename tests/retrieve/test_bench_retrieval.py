"""The retrieval benchmark runs end to end at a tiny size (its figures are checked loosely:
the point is that the script works; the real figures come from full-size runs)."""

import json
from pathlib import Path

from realsyn.config import RetrieveConfig

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_synthetic_benchmark_small(tmp_path, capsys, monkeypatch):
    # on the path while it runs: its index build runs in a spawned process that imports it
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_retrieval

    bench_retrieval.main(["synthetic", "--sentences", "6000", "--queries", "400", "--dim", "32",
                          "--topics", "20", "--super-topics", "5", "--exact-queries", "100",
                          "--nprobe", "1,4,14", "--threads", "1", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "retrieval-synthetic-6000.json").read_text())
    rows = {row["nprobe"]: row for row in result["rows"]}
    assert set(rows) == {1, 4, 14} and result["build"]["meta"]["n_clusters"] == 14
    # all 14 lists probed: exact search, and the same results as faiss IVF-Flat
    assert rows[14]["recall@3"] == 1.0 and abs(rows[14]["score_ratio"] - 1) < 1e-5
    assert all(row["same_as_ivf"] > 0.999 for row in rows.values())
    # one probe keeps nearly the topic precision of exact search (all lists probed)
    assert rows[1]["topic_precision@3"] >= rows[14]["topic_precision@3"] - 0.02
    out = capsys.readouterr().out
    assert "| synthetic/images | 1 |" in out
    # routing comparison on held-out images: paper routing over the paper's lists, learned
    # routing over them and over the default's finer lists, each nprobe, costs relative to the
    # paper's at nprobe 1
    routing = {(r["routing"], r["nprobe"]): r for r in result["routing_rows"]}
    default, split = RetrieveConfig().lists_probed, RetrieveConfig().list_split
    fine = f"learned, {split}x lists"
    adaptive = {(f"{fine}, margin {m}", default + 2) for m in (0.02, 0.05)}
    oracle = {("oracle, paper lists", n) for n in (1, 2, 3)} | {
        (f"oracle, {split}x lists", n) for n in (2, 3, 4)}
    assert set(routing) == {("paper", n) for n in (1, 2, 4, 8)} | {
        ("learned, paper lists", n) for n in (2, 3)} | {
        (fine, n) for n in (1, 2, 4, 8, default, default + 1)} | {
        (f"{fine}, size penalty 0", default)} | adaptive | oracle
    assert routing["paper", 1]["clusters"] == 14 and routing[fine, 1]["clusters"] == 14 * split
    # adaptive routing probes between one list and its most per image
    for key in adaptive:
        assert 1 <= routing[key]["lists_per_query"] <= default + 2
    assert routing[fine, 2]["lists_per_query"] == 2
    # no routing of whole lists beats the one that knows each list's true best score
    assert routing["oracle, paper lists", 2]["score_ratio"] >= max(
        routing[name, 2]["score_ratio"] for name in ("paper", "learned, paper lists")) - 1e-6
    for n in (2, 4):
        assert routing[f"oracle, {split}x lists", n]["score_ratio"] >= routing[fine, n][
            "score_ratio"] - 1e-6
    assert routing["paper", 1]["cost_vs_paper_nprobe1"] == 1.0
    assert routing[fine, 1]["fit_images"] == 200 and routing["paper", 1]["eval_images"] == 200
    assert f"| synthetic/images | {fine} | 1 |" in out
