"""The per-stage throughput script reads a finished workspace as the run report does and prints
one markdown row per stage with records/s per core."""

from pathlib import Path

import pytest

from realsyn.workspace import Workspace

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def bench_stages(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_stages

    monkeypatch.setattr(bench_stages, "cores", lambda: 2)
    return bench_stages


def finished_workspace(path: Path) -> Path:
    workspace = Workspace(path)
    workspace.write_json("stages/ingest/stats.json", {"records_in": 56, "wall_s": 9.0})
    workspace.write_json("stages/ingest/timing.json", {"records_in": 56, "wall_s": 2.0})
    workspace.write_json("stages/generate/stats.json", {"records_in": 79, "wall_s": 100.0})
    return path


def test_rows_come_from_the_run_logs_timing_else_the_shards_wall_time(tmp_path, bench_stages):
    rows = {r["stage"]: r for r in bench_stages.read_rows(finished_workspace(tmp_path / "ws"))}
    assert set(rows) == {"ingest", "generate"}
    assert rows["ingest"]["wall_s"] == 2.0 and rows["ingest"]["source"] == "run wall time"
    assert rows["ingest"]["records_per_s_per_core"] == pytest.approx(56 / 2.0 / 2)
    assert rows["generate"]["source"] == "sum over shards"
    assert rows["generate"]["records_per_s_per_core"] == pytest.approx(79 / 100.0 / 2)


def test_no_run_prints_the_markdown_table_of_each_corpus(tmp_path, bench_stages, capsys):
    finished_workspace(tmp_path / "demo")
    finished_workspace(tmp_path / "elsewhere")
    bench_stages.main(["--no-run", "--out", str(tmp_path),
                       "--workspace", f"handbook={tmp_path / 'elsewhere'}"])
    out = capsys.readouterr().out
    assert "| stage | record | demo: records in |" in out and "handbook: wall s" in out
    assert "| ingest | documents | 56 | 2.0 | 14 | 56 | 2.0 | 14 |" in out
    assert "| generate | images | 79 | 100.0 | 0.4 | 79 | 100.0 | 0.4 |" in out
    assert (tmp_path / "throughput.json").exists()


def test_no_run_without_a_workspace_says_so(tmp_path, bench_stages):
    with pytest.raises(SystemExit, match="no workspace for demo"):
        bench_stages.main(["--no-run", "--corpus", "demo", "--out", str(tmp_path)])
