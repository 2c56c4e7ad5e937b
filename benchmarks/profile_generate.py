"""Where the generate stage's time goes, per row, over a finished run's `retrieved` rows (the
demo's 78 with WORKSPACE=workspace/sample), with the in-process llama.cpp backend.

    python benchmarks/profile_generate.py WORKSPACE [--arms slots2 slots1 nocache] [--rounds 1]

Arms (alternated, the order reversed every other round, so a shared machine's load falls on
all alike):
- `slots2`: the default, a llama.cpp slot per prompt prefix (`generate.llm.prefix_slots` 2);
- `slots1`: one slot, caption and fusion prompts take turns on it (`prefix_slots` 1);
- `nocache`: one slot and `cache_prompt: false` in every request, so no token of any prompt
  is reused: the stage without any prefix reuse;
- `labels`: `slots2` with `generate.captioner: labels` (captions joined from the classifier's
  labels by a fixed pattern, no caption request).

Each arm loads the models (timed: `setup_s`), then runs the stage over every shard (`stage_s`),
with every llama.cpp answer's own `timings` recorded by kind (caption or fusion): prompt tokens
evaluated (`prompt_n`) and their milliseconds, tokens generated (`predicted_n`) and theirs, and
tokens reused from the slot (`cache_n`). `other_s` is the stage's time outside llama.cpp on the
main thread (validation, fact checks, quality counts, parquet, waiting for tags); `prepare_s` is
the helper thread's decoding, classifying and tagging, which overlaps the LLM.

The bound (Amdahl): in the `nocache` arm, every request evaluates its kind's fixed prefix (the
smallest `cache_n` of that kind's requests in the `slots2` arm, whose requests all start from
it) at the cost per prompt token that request measured. With every prefix token free, the stage
would take `stage_s - prefix_ms`: no prefix reuse of any kind can do better than
`stage_s / (stage_s - prefix_ms)` against the stage without reuse.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench_generate import copy_of_inputs, load_average
from realsyn.generate.fusion import caption_template
from realsyn.generate.quality import quality_report
from realsyn.generate.stage import GenerateStage
from realsyn.stage import Context
from realsyn.workspace import Workspace

# Each arm: (generate.llm fields, other generate fields).
ARMS = {"slots2": ({"prefix_slots": 2}, {}), "slots1": ({"prefix_slots": 1}, {}),
        "nocache": ({"prefix_slots": 1}, {}),
        "labels": ({"prefix_slots": 2}, {"captioner": "labels"})}
TIMING_KEYS = ("prompt_n", "prompt_ms", "predicted_n", "predicted_ms", "cache_n")


def request_kind(payload: dict) -> str:
    caption_system = caption_template().messages[0][1]
    return "caption" if payload["messages"][0]["content"] == caption_system else "fusion"


def instrument(stage: GenerateStage, records: list[dict], reuse: bool) -> dict[str, float]:
    """Record every llama.cpp answer's timings and wall time; time the helper thread."""
    server = stage.models.llm.backend.server
    answer = server.chat_completions
    helper = {"prepare_s": 0.0}

    def timed_answer(payload: dict) -> dict:
        if not reuse:
            payload = {**payload, "cache_prompt": False}
        started = time.perf_counter()
        body = answer(payload)
        wall_ms = (time.perf_counter() - started) * 1000
        timings = body.get("timings", {}) if isinstance(body, dict) else {}
        records.append({"kind": request_kind(payload), "wall_ms": wall_ms,
                        **{key: timings.get(key, 0) for key in TIMING_KEYS}})
        return body

    prepare = stage._prepare

    def timed_prepare(*args):
        started = time.perf_counter()
        try:
            return prepare(*args)
        finally:
            helper["prepare_s"] += time.perf_counter() - started

    server.chat_completions = timed_answer
    stage._prepare = timed_prepare
    return helper


def run_arm(source: Path, arm: str, threads: int | None) -> dict:
    records: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        llm, generate = ARMS[arm]
        config = copy_of_inputs(source, tmp, {**llm, "threads": threads}, generate=generate)
        workspace = Workspace(config.workspace)
        ctx = Context(config, workspace)
        stage = GenerateStage()
        started = time.perf_counter()
        stage.setup(ctx)
        stage.quality.result()  # spaCy, loaded beside the models
        setup_s = time.perf_counter() - started
        helper = instrument(stage, records, reuse=arm != "nocache")
        totals: dict = defaultdict(float)
        started = time.perf_counter()
        for shard in workspace.shards(stage.retrieved):
            for key, value in stage.process(ctx, shard).items():
                if isinstance(value, int | float):
                    totals[key] += value
        stage_s = time.perf_counter() - started
        stage.models.close()
    llm_s = sum(r["wall_ms"] for r in records) / 1000
    return {"arm": arm, "setup_s": round(setup_s, 2), "stage_s": round(stage_s, 2),
            "llm_wall_s": round(llm_s, 2), "other_s": round(stage_s - llm_s, 2),
            "prepare_s": round(helper["prepare_s"], 2),
            "wait_for_tags_s": totals["wait_for_tags_s"], "rows": int(totals["records_in"]),
            "syn_ok": int(totals["syn_ok"]), "quality": quality_report(totals),
            "by_kind": by_kind(records), "records": records}


def by_kind(records: list[dict]) -> dict:
    summary = {}
    for kind in ("caption", "fusion"):
        mine = [r for r in records if r["kind"] == kind]
        sums = {key: round(sum(r[key] for r in mine), 1) for key in (*TIMING_KEYS, "wall_ms")}
        summary[kind] = {"requests": len(mine), **sums}
    return summary


def fixed_prefix(records: list[dict], kind: str) -> int:
    """Tokens every request of `kind` shares: the least any of them took from its slot
    (the first request of each kind, which found nothing, left out)."""
    cached = [r["cache_n"] for r in records if r["kind"] == kind][1:]
    return min(cached) if cached else 0


def amdahl(runs: list[dict]) -> dict:
    """The stage without reuse, were every fixed prefix token free."""
    reused = next(run for run in runs if run["arm"] == "slots2")
    prefix = {kind: fixed_prefix(reused["records"], kind) for kind in ("caption", "fusion")}
    bounds = []
    for run in (r for r in runs if r["arm"] == "nocache"):
        prefix_ms = sum(r["prompt_ms"] * min(1.0, prefix[r["kind"]] / r["prompt_n"])
                        for r in run["records"] if r["prompt_n"])
        floor_s = run["stage_s"] - prefix_ms / 1000
        bounds.append({"stage_s": run["stage_s"], "prefix_s": round(prefix_ms / 1000, 2),
                       "floor_s": round(floor_s, 2),
                       "max_speedup": round(run["stage_s"] / floor_s, 3)})
    return {"prefix_tokens": prefix, "nocache_runs": bounds}


def print_run(run: dict, round_: int, before: str) -> None:
    print(f"round {round_} {run['arm']:8s} setup {run['setup_s']:6.1f} s  stage "
          f"{run['stage_s']:6.1f} s (llama.cpp {run['llm_wall_s']:.1f}, other {run['other_s']:.1f};"
          f" helper thread {run['prepare_s']:.1f}, waited for it {run['wait_for_tags_s']:.1f})  "
          f"rows {run['rows']} syn_ok {run['syn_ok']}  load {before} -> {load_average()}",
          flush=True)
    quality = run["quality"]
    print(f"    quality: same as text1 {quality['same_as_text1']}, names and numbers kept "
          f"{quality['entity_retention']} (LLM's answers {quality['answer_entity_retention']}),"
          f" visual mention {quality['visual_mention']}", flush=True)
    for kind, s in run["by_kind"].items():
        n = max(1, s["requests"])
        print(f"    {kind:7s} {s['requests']:3d} requests: prompt {s['prompt_n']:6.0f} tok "
              f"{s['prompt_ms'] / 1000:6.1f} s, generated {s['predicted_n']:5.0f} tok "
              f"{s['predicted_ms'] / 1000:6.1f} s, reused {s['cache_n']:6.0f} tok; per request: "
              f"{s['prompt_n'] / n:5.1f} prompt tok {s['prompt_ms'] / n:6.0f} ms, "
              f"{s['predicted_n'] / n:4.1f} generated {s['predicted_ms'] / n:5.0f} ms, wall "
              f"{s['wall_ms'] / n:5.0f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args()
    runs = []
    for round_ in range(args.rounds):
        for arm in (args.arms if round_ % 2 == 0 else args.arms[::-1]):
            before = load_average()
            runs.append(run_arm(args.workspace, arm, args.threads))
            print_run(runs[-1], round_ + 1, before)
            if args.json:  # after every run: a long profile killed half-way keeps its figures
                args.json.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    figures = {"runs": runs}
    if {"slots2", "nocache"} <= set(args.arms):
        figures["amdahl"] = amdahl(runs)
        print("bound:", json.dumps(figures["amdahl"]))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
