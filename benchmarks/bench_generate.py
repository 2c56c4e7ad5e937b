"""Benchmark of the generate stage on CPU with llama.cpp: synthetic sentences per second beside
the bare backend's throughput on the very same prompts (the orchestration overhead).

    python benchmarks/bench_generate.py [--rows 12 48] [--rounds 2] [--threads N] [--parallel 1]
    python benchmarks/bench_generate.py --backend openai --base-url http://HOST:8000/v1 \
        --model NAME --parallel 64 [--gpus 1]

1. `--backend llamacpp` (default): a llama.cpp server (xllamacpp, the shipped Qwen2.5 0.5B GGUF)
   listens on 127.0.0.1. `--backend openai`: any OpenAI-compatible server that is already
   running (vLLM with prefix caching, SGLang, a llama.cpp server), reached at --base-url.
2. `stage`: the generate stage over real photos (skimage / scikit-learn / matplotlib samples,
   repeated with other retrieved texts when --rows exceeds 12) with a fresh request cache:
   classifier labels, zero-shot + classifier tags, caption and fusion requests, validation,
   parquet output. Model loading happens before the clock starts (stage.setup).
3. `bare`: the exact requests the stage sent (read back from its request cache), sent
   straight to the same server with the same concurrency, no cache, no stage. The server's
   `usage` answers give the prompt and completion tokens, hence tokens/s.
4. `cached`: the stage again over the same rows; every answer comes from the request cache,
   which is the cost of orchestration alone.
Stage and bare runs alternate (A/B/A/B, `--rounds` pairs per row count) so that the load of a
shared machine falls on both alike; every pair is printed with the load average around it, and
stage/bare is the ratio of the summed times.

`--prefix-ab WORKSPACE` measures instead the stage against itself over a finished run's
`retrieved` rows (the demo's 78 with `WORKSPACE=workspace/sample`), with the in-process llama.cpp
backend: `generate.llm.prefix_slots` 2 (each prompt prefix kept in its own slot, the default)
against 1 (caption and fusion prompts take turns on one slot), alternated A/B/B/A over --rounds,
and checks that both write byte-identical `generated` shards.

`--layout-ab WORKSPACE` runs the whole stage through the local executor over the same rows, model
loading included, as 2 workers of 1 llama.cpp thread against 1 worker of 2 threads (alternated),
for `generate.llm.threads` and `executor.workers` on a 2-core machine.

The last line prices the paper's scale from the stage's rows/s: 198M rows (RealSyn's images that
reach generation) / (rows/s per GPU) / 3600 = GPU-hours, with --gpus the GPUs behind the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "generate"))  # the real photos and their texts

from generate_inputs import photo_rows, write_inputs  # noqa: E402

from realsyn.config import parse_config  # noqa: E402
from realsyn.generate.stage import GenerateStage  # noqa: E402
from realsyn.models.llm.llamacpp import LlamaCppServer  # noqa: E402
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


def run_stage(config, shards: list[str] | None = None) -> tuple[float, dict, GenerateStage]:
    """The stage over `shards` (default: every shard of its input), models loaded before the
    clock starts; seconds, the shards' numeric stats summed, and the stage (to close)."""
    workspace = Workspace(config.workspace)
    ctx = Context(config, workspace)
    stage = GenerateStage()
    stage.setup(ctx)  # model loading is not part of the throughput
    stage.quality.result()  # nor spaCy, which setup loads in the background
    totals: dict = {}
    started = time.perf_counter()
    for shard in shards or workspace.shards(stage.retrieved):
        for key, value in stage.process(ctx, shard).items():
            if isinstance(value, int | float):
                totals[key] = totals.get(key, 0) + value
    elapsed = time.perf_counter() - started
    return elapsed, totals, stage


def sent_requests(cache_path: Path) -> list[dict]:
    with sqlite3.connect(cache_path) as db:
        rows = db.execute("SELECT request, response FROM responses ORDER BY created").fetchall()
    return [json.loads(request) for request, _ in rows]


PAPER_ROWS = 198_000_000  # images of RealSyn that reach generation (spec: 198M)


async def _replay(url: str, model: str, payloads: list[dict], concurrency: int,
                  api_key: str | None) -> list[dict]:
    """Each payload posted once, `concurrency` at a time; the answers' bodies."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    limit = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=600)) as session:
        async def post(payload: dict) -> dict:
            body = {**payload, "model": model}
            async with limit, session.post(url, json=body) as response:
                return await response.json() if response.status < 400 else {}
        return await asyncio.gather(*(post(p) for p in payloads))


def run_bare(base_url: str, model: str, payloads: list[dict], concurrency: int,
             api_key: str | None = None) -> tuple[float, int, int, int]:
    """Seconds, answers and the prompt and completion tokens the server reports."""
    url = base_url.rstrip("/") + "/chat/completions"
    started = time.perf_counter()
    answers = asyncio.run(_replay(url, model, payloads, concurrency, api_key))
    elapsed = time.perf_counter() - started
    usage = [answer.get("usage") or {} for answer in answers]
    return (elapsed, sum(bool(answer.get("choices")) for answer in answers),
            sum(u.get("prompt_tokens", 0) for u in usage),
            sum(u.get("completion_tokens", 0) for u in usage))


def stage_then_bare(base_url: str, model: str, rows: int, parallel: int,
                    api_key: str | None = None) -> dict:
    """One A/B pair: the stage from an empty cache, then the bare backend on its prompts."""
    with tempfile.TemporaryDirectory() as tmp:
        write_inputs(Path(tmp), rows_for(rows))
        config = parse_config({
            "workspace": tmp, "embed": {"encoder": {"backend": "offline", "device": "cpu"}},
            "generate": {"llm": {
                "backend": "openai", "base_url": base_url, "model": model,
                "api_key": api_key, "concurrency": parallel, "timeout_s": 600}}})
        stage_s, stats, stage = run_stage(config)
        stage.models.close()
        payloads = sent_requests(Path(tmp) / "generate" / "llm-cache.sqlite")
        bare_s, bare_ok, prompt_tokens, completion_tokens = run_bare(
            base_url, model, payloads, parallel, api_key)
        cached_s, cached_stats, cached_stage = run_stage(config)
        cached_stage.models.close()
    return {"rows": rows, "llm_requests": len(payloads), "syn_ok": stats.get("syn_ok", 0),
            "stage_s": round(stage_s, 2), "bare_backend_s": round(bare_s, 2),
            "stage_sentences_per_s": round(rows / stage_s, 3),
            "bare_sentences_per_s": round(rows / bare_s, 3),
            "stage_over_bare": round(bare_s / stage_s, 3),
            "llm_waited_for_tags_s": stats.get("wait_for_tags_s", 0),
            "cached_stage_s": round(cached_s, 3),
            "cache_hits_on_rerun": cached_stats.get("cache_hits", 0), "bare_ok": bare_ok,
            "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "bare_tokens_per_s": round((prompt_tokens + completion_tokens) / bare_s, 1),
            "bare_completion_tokens_per_s": round(completion_tokens / bare_s, 1)}


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def copy_of_inputs(source: Path, tmp: str, llm: dict, workers: int = 1,
                   generate: dict | None = None):
    """A workspace in `tmp` holding what generate reads from `source`, and its config with the
    in-process llama.cpp backend set as `llm` says (and other `generate` fields as `generate`
    says)."""
    from realsyn import datasets

    for name in (datasets.RETRIEVED, datasets.IMAGES_FINAL, datasets.SENTENCES_FINAL):
        shutil.copytree(source / "datasets" / name, Path(tmp) / "datasets" / name)
    raw = yaml.safe_load((source / "config.yaml").read_text())
    raw["workspace"] = tmp
    raw.setdefault("executor", {})["workers"] = workers
    raw.setdefault("generate", {}).update(generate or {})
    raw["generate"].setdefault("llm", {}).update({"backend": "llamacpp", **llm})
    return parse_config(raw)


def layout_ab(args: argparse.Namespace) -> dict:
    """The stage through the local executor, model loading included: workers x threads."""
    from realsyn.executors.local import LocalExecutor

    runs = []
    for round_ in range(args.rounds):
        layouts = ((2, 1), (1, 2)) if round_ % 2 == 0 else ((1, 2), (2, 1))
        for workers, threads in layouts:
            before = load_average()
            with tempfile.TemporaryDirectory() as tmp:
                config = copy_of_inputs(args.layout_ab, tmp, {"threads": threads}, workers)
                started = time.perf_counter()
                LocalExecutor(workers).run(GenerateStage(), Context(config, Workspace(tmp)))
                seconds = time.perf_counter() - started
            runs.append({"workers": workers, "threads": threads, "stage_s": round(seconds, 2),
                         "load_before": before, "load_after": load_average()})
            print(f"round {round_ + 1} {workers} workers x {threads} threads: {seconds:7.1f} s"
                  f"  load {before} -> {load_average()}", flush=True)
    totals = {f"{w}x{t}": round(sum(r["stage_s"] for r in runs if (r["workers"], r["threads"])
                                    == (w, t)), 1) for w, t in ((2, 1), (1, 2))}
    print(f"summed: {totals}")
    return {"runs": runs, "totals": totals}


def stage_over_workspace(source: Path, prefix_slots: int, threads: int | None) -> tuple[float, dict,
                                                                                   dict]:
    """The generate stage over every shard of `source`'s retrieved rows, in a copy of what it
    reads; seconds (models loaded first), summed stats and the bytes of each generated shard."""
    from realsyn import datasets

    with tempfile.TemporaryDirectory() as tmp:
        config = copy_of_inputs(source, tmp, {"prefix_slots": prefix_slots, "threads": threads})
        elapsed, totals, stage = run_stage(config)
        stage.models.close()
        folder = Path(tmp) / "datasets" / datasets.GENERATED
        produced = {path.name: path.read_bytes() for path in sorted(folder.glob("*.parquet"))}
    return elapsed, totals, produced


def prefix_ab(args: argparse.Namespace) -> dict:
    """Prefix slots on against off, alternated so a shared machine's load falls on both."""
    runs = []
    for round_ in range(args.rounds):
        for slots in ((1, 2) if round_ % 2 == 0 else (2, 1)):
            before = load_average()
            seconds, stats, produced = stage_over_workspace(args.prefix_ab, slots, args.threads)
            runs.append({"prefix_slots": slots, "stage_s": round(seconds, 2),
                         "rows": stats.get("records_in"), "syn_ok": stats.get("syn_ok"),
                         "llm_requests": stats.get("llm_requests"), "produced": produced,
                         "load_before": before, "load_after": load_average()})
            print(f"round {round_ + 1} prefix_slots={slots}: stage {seconds:7.1f} s  rows "
                  f"{stats.get('records_in')}  syn_ok {stats.get('syn_ok')}  load {before} -> "
                  f"{load_average()}", flush=True)
    off = sum(r["stage_s"] for r in runs if r["prefix_slots"] == 1)
    on = sum(r["stage_s"] for r in runs if r["prefix_slots"] == 2)
    identical = all(r["produced"] == runs[0]["produced"] for r in runs)
    print(f"prefix slots off {off:.1f} s, on {on:.1f} s: {off / on:.2f}x faster; generated "
          f"shards byte-identical in every run: {identical}")
    for run in runs:
        del run["produced"]
    return {"runs": runs, "off_s": off, "on_s": on, "speedup": round(off / on, 3),
            "identical": identical}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[12, 48])
    parser.add_argument("--rounds", type=int, default=2,
                        help="stage/bare pairs per row count, interleaved (A/B/A/B)")
    parser.add_argument("--backend", choices=["llamacpp", "openai"], default="llamacpp",
                        help="llamacpp: start the shipped model here; openai: a running server")
    parser.add_argument("--base-url", default=None,
                        help="the OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--model", default="bench", help="model name sent to the server")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--gpus", type=int, default=1,
                        help="GPUs behind the server, for the paper-scale GPU-hours")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads")
    parser.add_argument("--parallel", type=int, default=1,
                        help="requests in flight (llama.cpp slots); more than 1 makes "
                             "llama.cpp's answers timing-dependent")
    parser.add_argument("--prefix-ab", type=Path, default=None, metavar="WORKSPACE",
                        help="A/B of prefix_slots 2 against 1 over this finished run's rows")
    parser.add_argument("--layout-ab", type=Path, default=None, metavar="WORKSPACE",
                        help="2 workers x 1 thread against 1 x 2 over this finished run's rows")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args()
    if (args.backend == "openai") != (args.base_url is not None):
        parser.error("--base-url is needed with --backend openai, and only there")
    return args


def run_pairs(args: argparse.Namespace, base_url: str) -> list[dict]:
    pairs = []
    for rows in args.rows:
        for round_ in range(args.rounds):
            before = load_average()
            pair = {"round": round_ + 1,
                    **stage_then_bare(base_url, args.model, rows, args.parallel, args.api_key),
                    "load_before": before, "load_after": load_average()}
            pairs.append(pair)
            print(f"rows={rows:3d} round {round_ + 1}: stage {pair['stage_s']:7.2f} s "
                  f"({pair['stage_sentences_per_s']:.3f}/s)  bare {pair['bare_backend_s']:7.2f}"
                  f" s ({pair['bare_sentences_per_s']:.3f}/s, {pair['bare_tokens_per_s']} tok/s"
                  f", {pair['bare_completion_tokens_per_s']} completion tok/s)  stage/bare "
                  f"{pair['stage_over_bare']:.3f}  llm waited for tags "
                  f"{pair['llm_waited_for_tags_s']:.1f} s  syn_ok={pair['syn_ok']}  "
                  f"requests={pair['llm_requests']}  cached rerun {pair['cached_stage_s']:.2f}"
                  f" s  load {pair['load_before']} -> {pair['load_after']}", flush=True)
    return pairs


def summarise(pairs: list[dict], row_counts: list[int], gpus: int) -> dict:
    summary = {}
    for rows in row_counts:
        mine = [p for p in pairs if p["rows"] == rows]
        stage_s = sum(p["stage_s"] for p in mine)
        bare_s = sum(p["bare_backend_s"] for p in mine)
        tokens = sum(p["prompt_tokens"] + p["completion_tokens"] for p in mine)
        rows_per_s_per_gpu = rows * len(mine) / stage_s / gpus
        summary[rows] = {"stage_s": round(stage_s, 2), "bare_s": round(bare_s, 2),
                         "stage_over_bare": round(bare_s / stage_s, 3),
                         "bare_tokens_per_s": round(tokens / bare_s, 1),
                         "rows_per_s_per_gpu": round(rows_per_s_per_gpu, 4),
                         "paper_scale_gpu_hours": round(PAPER_ROWS / rows_per_s_per_gpu / 3600)}
        print(f"rows={rows:3d}: over {len(mine)} interleaved pairs stage {stage_s:.1f} s, "
              f"bare {bare_s:.1f} s: stage/bare = {summary[rows]['stage_over_bare']:.3f}; "
              f"{summary[rows]['bare_tokens_per_s']} tokens/s; at "
              f"{rows_per_s_per_gpu:.3f} rows/s per GPU, {PAPER_ROWS:,} rows take "
              f"{summary[rows]['paper_scale_gpu_hours']:,} GPU-hours")
    return summary


def main() -> None:
    args = parse_args()
    if args.prefix_ab or args.layout_ab:
        figures = prefix_ab(args) if args.prefix_ab else layout_ab(args)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        return
    if args.backend == "openai":
        pairs = run_pairs(args, args.base_url)
    else:
        with LlamaCppServer(threads=args.threads, parallel=args.parallel,
                            context_per_slot=1024) as server:
            pairs = run_pairs(args, server.base_url)
    summary = summarise(pairs, args.rows, args.gpus)
    if args.json:
        args.json.write_text(json.dumps({"pairs": pairs, "summary": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
