"""Per-stage throughput of the whole pipeline: records/s per core for every stage, on the demo
(the shipped sample corpus, configs/sample.yaml) and on a larger real corpus (the Debian
handbook's 127 HTML pages and their images, configs/handbook.yaml).

Each corpus runs through `realsyn run` into an empty workspace under --out; the figures are then
read back from the workspace as the run report reads them (report/data.py `stage_timings`:
`records_in` from each stage's merged stats, the wall time from the run log's
`stages/<stage>/timing.json`). Records/s per core divides by the cores the run could use (the
process's CPU affinity), since every stage spreads its work over all of them (process pool, BLAS,
faiss, llama.cpp threads). The load average before and after each run is printed beside the
table: on a shared machine the figures are lower bounds.

    python benchmarks/bench_stages.py                 # both corpora: run, then print the table
    python benchmarks/bench_stages.py --corpus demo   # one corpus
    python benchmarks/bench_stages.py --no-run        # re-read the workspaces of the last runs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from realsyn.report.data import stage_timings
from realsyn.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
CORPORA = {
    "demo": ROOT / "configs" / "sample.yaml",
    "handbook": ROOT / "configs" / "handbook.yaml",
}
# What one record is at each stage's input, for the table's readers.
RECORD_UNITS = {
    "ingest": "documents",
    "extract_images": "images",
    "extract_sentences": "text items",
    "dedup": "images + sentences",
    "embed": "images + sentences",
    "semantic_dedup": "images + sentences",
    "retrieve": "images",
    "generate": "images",
    "balance": "image-text pairs",
    "write": "samples",
}


def cores() -> int:
    return len(os.sched_getaffinity(0))


def run_corpus(name: str, config: Path, workspace: Path) -> dict:
    """`realsyn run` of one corpus into an empty workspace; the load around it."""
    shutil.rmtree(workspace, ignore_errors=True)
    before = os.getloadavg()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "realsyn", "run", str(config),
                    "--set", f"workspace={workspace}"], check=True, cwd=ROOT)
    return {"corpus": name, "total_wall_s": time.perf_counter() - started,
            "load_before": before[0], "load_after_1min": os.getloadavg()[0],
            "load_after_15min": os.getloadavg()[2]}


def read_rows(workspace: Path) -> list[dict]:
    rows = []
    for timing in stage_timings(Workspace(workspace)):
        rate = timing["rate"]
        rows.append({"stage": timing["stage"], "records_in": timing["records"],
                     "wall_s": timing["wall_s"], "source": timing["source"],
                     "records_per_s_per_core": rate / cores() if rate else None})
    return rows


def markdown(results: dict[str, list[dict]]) -> str:
    names = list(results)
    head = "| stage | record |" + "".join(
        f" {n}: records in | {n}: wall s | {n}: records/s per core |" for n in names)
    lines = [head, "|---|---|" + "---|---|---|" * len(names)]
    stages = list(dict.fromkeys(row["stage"] for rows in results.values() for row in rows))
    for stage in stages:
        cells = [stage, RECORD_UNITS.get(stage, "-")]
        for name in names:
            row = next((r for r in results[name] if r["stage"] == stage), None)
            if row is None or row["wall_s"] is None:
                cells += ["-", "-", "-"]
                continue
            rate = row["records_per_s_per_core"]
            cells += [f"{row['records_in']:,}", f"{row['wall_s']:.1f}",
                      "-" if rate is None else f"{rate:,.0f}" if rate >= 100 else f"{rate:.2g}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", choices=list(CORPORA),
                        help="Corpus to run (repeatable); default: all.")
    parser.add_argument("--out", type=Path, default=RESULTS / "throughput",
                        help="Folder of the workspaces and the results JSON.")
    parser.add_argument("--no-run", action="store_true",
                        help="Only read the workspaces of earlier runs.")
    parser.add_argument("--workspace", action="append", default=[], metavar="CORPUS=PATH",
                        help="With --no-run: read this workspace for the corpus instead of "
                             "the one under --out (e.g. one `make demo` wrote).")
    args = parser.parse_args(argv)
    names = args.corpus or list(CORPORA)
    args.out.mkdir(parents=True, exist_ok=True)
    results, runs = {}, []
    given = dict(item.split("=", 1) for item in args.workspace)
    for name in names:
        workspace = Path(given.get(name, args.out / name)).resolve()
        if not args.no_run:
            runs.append(run_corpus(name, CORPORA[name], workspace))
            print(json.dumps(runs[-1]), flush=True)
        elif not workspace.exists():
            sys.exit(f"no workspace for {name} at {workspace}: run without --no-run first")
        results[name] = read_rows(workspace)
    (args.out / "throughput.json").write_text(json.dumps(
        {"cores": cores(), "runs": runs, "stages": results}, indent=2))
    print(markdown(results))
    for run in runs:
        print(f"{run['corpus']}: {run['total_wall_s']:.0f} s in all on {cores()} cores; load "
              f"average {run['load_before']:.1f} before, {run['load_after_1min']:.1f} (1 min) / "
              f"{run['load_after_15min']:.1f} (15 min) after")


if __name__ == "__main__":
    main()
