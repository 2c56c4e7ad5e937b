"""Benchmark of the generate stage on CPU with llama.cpp: synthetic sentences per second beside
the bare backend's throughput on the very same prompts (the orchestration overhead).

    python benchmarks/bench_generate.py [--rows 12] [--threads N] [--parallel 1]

1. A llama.cpp server (xllamacpp, the shipped Qwen2.5 0.5B GGUF) listens on 127.0.0.1.
2. `stage`: the generate stage over real photos (skimage / scikit-learn / matplotlib samples,
   repeated with other retrieved texts when --rows exceeds 12) with a fresh request cache:
   classifier labels, zero-shot + classifier tags, caption and fusion requests, validation,
   parquet output. Model loading happens before the clock starts (stage.setup).
3. `bare`: the exact requests the stage sent (read back from its request cache), sent
   straight to the same server with the same concurrency, no cache, no stage.
4. `cached`: the stage again over the same rows; every answer comes from the request cache,
   which is the cost of orchestration alone.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=12)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--parallel", type=int, default=1,
                        help="llama.cpp slots; more than 1 makes answers timing-dependent")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, \
            LlamaCppServer(threads=args.threads, parallel=args.parallel,
                           context_per_slot=1024) as server:
        write_inputs(Path(tmp), rows_for(args.rows))
        config = parse_config({
            "workspace": tmp, "embed": {"encoder": {"backend": "offline", "device": "cpu"}},
            "generate": {"batch_size": 32, "llm": {
                "backend": "openai", "base_url": server.base_url, "model": "bench",
                "concurrency": args.parallel, "timeout_s": 600}}})
        stage_s, stats, stage = run_stage(config)
        stage.models.close()
        payloads = sent_requests(Path(tmp) / "generate" / "llm-cache.sqlite")
        bare_s, bare_ok = run_bare(server.base_url, payloads, args.parallel)
        cached_s, cached_stats, cached_stage = run_stage(config)
        cached_stage.models.close()

    sentences = args.rows
    figures = {
        "rows": sentences, "llm_requests": len(payloads), "syn_ok": stats.get("syn_ok", 0),
        "stage_s": round(stage_s, 2), "bare_backend_s": round(bare_s, 2),
        "cached_stage_s": round(cached_s, 3),
        "stage_sentences_per_s": round(sentences / stage_s, 3),
        "bare_sentences_per_s": round(sentences / bare_s, 3),
        "bare_requests_per_s": round(len(payloads) / bare_s, 3),
        "cached_sentences_per_s": round(sentences / cached_s, 1),
        "orchestration_overhead_pct": round(100 * (stage_s - bare_s) / bare_s, 1),
        "cache_hits_on_rerun": cached_stats.get("cache_hits", 0), "bare_ok": bare_ok,
    }
    print(f"rows={sentences}  llm requests={len(payloads)} (caption + fusion)  "
          f"syn_ok={figures['syn_ok']}")
    print(f"stage  (tags, captions, fusion, checks, parquet): {stage_s:7.2f} s  "
          f"{figures['stage_sentences_per_s']:.3f} sentences/s")
    print(f"bare backend, same {len(payloads)} prompts:          {bare_s:7.2f} s  "
          f"{figures['bare_sentences_per_s']:.3f} sentences/s "
          f"({figures['bare_requests_per_s']:.3f} requests/s)")
    print(f"orchestration overhead: {figures['orchestration_overhead_pct']:+.1f} %")
    print(f"stage rerun, all cached: {cached_s:7.3f} s  "
          f"{figures['cached_sentences_per_s']:.1f} sentences/s "
          f"(cache hits {figures['cache_hits_on_rerun']})")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
