"""Benchmark of the generate stage on CPU with llama.cpp: synthetic sentences per second beside
the bare backend's throughput on the very same prompts (the orchestration overhead).

    python benchmarks/bench_generate.py [--rows 12 48] [--rounds 2] [--threads N] [--parallel 1]

1. A llama.cpp server (xllamacpp, the shipped Qwen2.5 0.5B GGUF) listens on 127.0.0.1.
2. `stage`: the generate stage over real photos (skimage / scikit-learn / matplotlib samples,
   repeated with other retrieved texts when --rows exceeds 12) with a fresh request cache:
   classifier labels, zero-shot + classifier tags, caption and fusion requests, validation,
   parquet output. Model loading happens before the clock starts (stage.setup).
3. `bare`: the exact requests the stage sent (read back from its request cache), sent
   straight to the same server with the same concurrency, no cache, no stage.
4. `cached`: the stage again over the same rows; every answer comes from the request cache,
   which is the cost of orchestration alone.
Stage and bare runs alternate (A/B/A/B, `--rounds` pairs per row count) so that the load of a
shared machine falls on both alike; every pair is printed with the load average around it, and
stage/bare is the ratio of the summed times.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "generate"))  # the real photos and their texts

from generate_inputs import photo_rows, write_inputs  # noqa: E402

from realsyn.config import parse_config  # noqa: E402
from realsyn.generate.stage import GenerateStage  # noqa: E402
from realsyn.models.llm import ChatRequest, LLMClient  # noqa: E402
from realsyn.models.llm.llamacpp import LlamaCppServer  # noqa: E402
from realsyn.models.llm.openai import OpenAIBackend  # noqa: E402
from realsyn.stage import Context  # noqa: E402
from realsyn.workspace import Workspace  # noqa: E402


def rows_for(count: int) -> list[dict]:
    base = photo_rows()
    rows = []
    for i in range(count):
        row = dict(base[i % len(base)])
        shift = (i // len(base)) % 3  # later rounds use text2 / text3 as the retrieved text1
        texts = [row["text1"], row["text2"], row["text3"]]
        row["text1"], row["text2"], row["text3"] = texts[shift:] + texts[:shift]
        row["name"] = f"{row['name']}-{i}"
        rows.append(row)
    return rows


def run_stage(config) -> tuple[float, dict, GenerateStage]:
    workspace = Workspace(config.workspace)
    ctx = Context(config, workspace)
    stage = GenerateStage()
    stage.setup(ctx)  # model loading is not part of the throughput
    stage.quality.result()  # nor spaCy, which setup loads in the background
    started = time.perf_counter()
    stats = stage.process(ctx, "00000")
    elapsed = time.perf_counter() - started
    return elapsed, stats, stage


def sent_requests(cache_path: Path) -> list[dict]:
    with sqlite3.connect(cache_path) as db:
        rows = db.execute("SELECT request, response FROM responses ORDER BY created").fetchall()
    return [json.loads(request) for request, _ in rows]


def run_bare(base_url: str, payloads: list[dict], concurrency: int) -> tuple[float, int]:
    backend = OpenAIBackend(base_url, model="bench", timeout_s=600, max_concurrency=concurrency)
    client = LLMClient(backend, None, retries=0, concurrency=concurrency)
    requests = [ChatRequest.of(p["messages"], max_tokens=p["max_tokens"],
                               temperature=p["temperature"], seed=p["seed"]) for p in payloads]
    started = time.perf_counter()
    results = client.complete_many(requests)
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed, sum(r.ok for r in results)


def stage_then_bare(server: LlamaCppServer, rows: int, parallel: int) -> dict:
    """One A/B pair: the stage from an empty cache, then the bare backend on its prompts."""
    with tempfile.TemporaryDirectory() as tmp:
        write_inputs(Path(tmp), rows_for(rows))
        config = parse_config({
            "workspace": tmp, "embed": {"encoder": {"backend": "offline", "device": "cpu"}},
            "generate": {"llm": {
                "backend": "openai", "base_url": server.base_url, "model": "bench",
                "concurrency": parallel, "timeout_s": 600}}})
        stage_s, stats, stage = run_stage(config)
        stage.models.close()
        payloads = sent_requests(Path(tmp) / "generate" / "llm-cache.sqlite")
        bare_s, bare_ok = run_bare(server.base_url, payloads, parallel)
        cached_s, cached_stats, cached_stage = run_stage(config)
        cached_stage.models.close()
    return {"rows": rows, "llm_requests": len(payloads), "syn_ok": stats.get("syn_ok", 0),
            "stage_s": round(stage_s, 2), "bare_backend_s": round(bare_s, 2),
            "stage_sentences_per_s": round(rows / stage_s, 3),
            "bare_sentences_per_s": round(rows / bare_s, 3),
            "stage_over_bare": round(bare_s / stage_s, 3),
            "llm_waited_for_tags_s": stats.get("wait_for_tags_s", 0),
            "cached_stage_s": round(cached_s, 3),
            "cache_hits_on_rerun": cached_stats.get("cache_hits", 0), "bare_ok": bare_ok}


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[12, 48])
    parser.add_argument("--rounds", type=int, default=2,
                        help="stage/bare pairs per row count, interleaved (A/B/A/B)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--parallel", type=int, default=1,
                        help="llama.cpp slots; more than 1 makes answers timing-dependent")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args()

    pairs = []
    with LlamaCppServer(threads=args.threads, parallel=args.parallel,
                        context_per_slot=1024) as server:
        for rows in args.rows:
            for round_ in range(args.rounds):
                before = load_average()
                pair = {"round": round_ + 1, **stage_then_bare(server, rows, args.parallel),
                        "load_before": before, "load_after": load_average()}
                pairs.append(pair)
                print(f"rows={rows:3d} round {round_ + 1}: stage {pair['stage_s']:7.2f} s "
                      f"({pair['stage_sentences_per_s']:.3f}/s)  bare {pair['bare_backend_s']:7.2f}"
                      f" s ({pair['bare_sentences_per_s']:.3f}/s)  stage/bare "
                      f"{pair['stage_over_bare']:.3f}  llm waited for tags "
                      f"{pair['llm_waited_for_tags_s']:.1f} s  syn_ok={pair['syn_ok']}  "
                      f"requests={pair['llm_requests']}  cached rerun {pair['cached_stage_s']:.2f}"
                      f" s  load {pair['load_before']} -> {pair['load_after']}", flush=True)
    summary = {}
    for rows in args.rows:
        mine = [p for p in pairs if p["rows"] == rows]
        stage_s = sum(p["stage_s"] for p in mine)
        bare_s = sum(p["bare_backend_s"] for p in mine)
        summary[rows] = {"stage_s": round(stage_s, 2), "bare_s": round(bare_s, 2),
                         "stage_over_bare": round(bare_s / stage_s, 3)}
        print(f"rows={rows:3d}: over {len(mine)} interleaved pairs stage {stage_s:.1f} s, "
              f"bare {bare_s:.1f} s: stage/bare = {summary[rows]['stage_over_bare']:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"pairs": pairs, "summary": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
