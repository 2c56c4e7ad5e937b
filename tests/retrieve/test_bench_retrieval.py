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
    # routing comparison on held-out images: both routings, each nprobe, costs relative to
    # the paper's at nprobe 1
    routing = {(r["routing"], r["nprobe"]): r for r in result["routing_rows"]}
    default = RetrieveConfig().lists_probed
    adaptive = {(f"learned, margin {m}", default) for m in (0.02, 0.05)}
    oracle = {("oracle (true best score)", n) for n in (1, 2, 3)}
    assert set(routing) == {(name, n) for name in ("paper", "learned") for n in (1, 2, 4, 8)
                            } | {("learned", default), ("learned, size penalty 0", default)
                                 } | adaptive | oracle
    # adaptive routing probes between one list and its most per image
    for key in adaptive:
        assert 1 <= routing[key]["lists_per_query"] <= default
    assert routing["learned", 2]["lists_per_query"] == 2
    # no routing of whole lists beats the one that knows each list's true best score
    for n in (1, 2):
        assert routing["oracle (true best score)", n]["score_ratio"] >= max(
            routing[name, n]["score_ratio"] for name in ("paper", "learned")) - 1e-6
    assert routing["paper", 1]["cost_vs_paper_nprobe1"] == 1.0
    assert routing["learned", 1]["fit_images"] == 200 and routing["paper", 1]["eval_images"] == 200
    assert "| synthetic/images | learned | 1 |" in out
