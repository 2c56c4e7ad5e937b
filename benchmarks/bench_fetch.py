"""Fetching a URL list from a loopback image server: realsyn's ingest against img2dataset, and
the memory and CPU of each ingest worker on a long list.

The server (aiohttp, its own process) answers `/img/N.jpg` with the Nth of the sample corpus's
photographs (cycled), so every URL is distinct and every image real. Both tools run as a user
runs them (`python -m realsyn ingest CONFIG`; the `img2dataset` command), with the same number
of processes and of parallel requests per process, storing the original bytes in parquet
(img2dataset: --disable_all_reencoding, realsyn: its `images` dataset). While a run lasts, its
process tree is sampled every 0.1 s from /proc: peak resident memory (VmHWM) and CPU seconds
of every process.

Modes:
- compare: realsyn and img2dataset (and --baseline-src, another checkout's realsyn) in turn,
  --rounds each, each round in another order; the ratio of the best URLs/s of each.
- scale: realsyn alone; per worker (pool process plus its reader child) peak RSS and CPU.
  --src runs another checkout's code (e.g. /work/main/src, the code before a change).

Usage: .venv/bin/python benchmarks/bench_fetch.py compare [--urls 20000] [--workers 2]
       .venv/bin/python benchmarks/bench_fetch.py scale --urls 100000 [--src PATH]
Prints a table and writes benchmarks/results/bench_fetch_{mode}.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT / "examples" / "sample_corpus" / "images"
RESULTS = ROOT / "benchmarks" / "results"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def photographs() -> list[bytes]:
    """The sample corpus's JPEG photographs, in path order."""
    return [path.read_bytes() for path in sorted(PHOTOS.rglob("*.jpg"))]


def _serve(port_out: Any, photos: list[bytes]) -> None:
    from aiohttp import web

    async def image(request: web.Request) -> web.Response:
        index = int(request.match_info["n"])
        return web.Response(body=photos[index % len(photos)], content_type="image/jpeg")

    async def start() -> None:
        app = web.Application()
        app.router.add_get("/img/{n:\\d+}.jpg", image)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port_out.send(site._server.sockets[0].getsockname()[1])

    import asyncio

    loop = asyncio.new_event_loop()
    loop.run_until_complete(start())
    loop.run_forever()


class ImageServer:
    """The loopback image server in a child process (its CPU is not the tools')."""

    def __enter__(self) -> str:
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        self.process = context.Process(target=_serve, args=(send, photographs()), daemon=True)
        self.process.start()
        return f"http://127.0.0.1:{receive.recv()}"

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.join()


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(p) for p in handle.read().split()]
    except OSError:
        pass
    return found


def _sample(pid: int) -> tuple[int, float] | None:
    """(peak RSS bytes, CPU seconds) of a process, None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            status = dict(line.split(":", 1) for line in handle if ":" in line)
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError):
        return None
    peak = max(int(status.get(key, "0 kB").split()[0]) for key in ("VmHWM", "VmRSS")) * 1024
    return peak, (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


class TreeMonitor:
    """Peak RSS and CPU of every process under a root, by depth (0: the root)."""

    def __init__(self, root: int, interval_s: float = 0.1):
        self.root, self.interval_s = root, interval_s
        self.seen: dict[int, dict[str, Any]] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            stack = [(self.root, 0, None)]
            while stack:
                pid, depth, parent = stack.pop()
                sample = _sample(pid)
                if sample is None:
                    continue
                entry = self.seen.setdefault(pid, {"depth": depth, "parent": parent,
                                                   "peak": 0, "cpu_s": 0.0})
                entry["peak"] = max(entry["peak"], sample[0])
                entry["cpu_s"] = max(entry["cpu_s"], sample[1])
                stack += [(child, depth + 1, pid) for child in _children(pid)]
            self.done.wait(self.interval_s)

    def stop(self) -> dict[int, dict[str, Any]]:
        self.done.set()
        self.thread.join()
        return self.seen


def run_monitored(command: list[str], env: dict[str, str], log: Path
                  ) -> tuple[float, dict[int, dict[str, Any]]]:
    start = time.perf_counter()
    with open(log, "wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        monitor = TreeMonitor(process.pid)
        code = process.wait()
    seconds = time.perf_counter() - start
    seen = monitor.stop()
    if code:
        raise SystemExit(f"{command[:3]} failed ({code}); see {log}:\n"
                         + log.read_text(errors="replace")[-3000:])
    return seconds, seen


def realsyn_workers(seen: dict[int, dict[str, Any]]) -> list[dict[str, float]]:
    """Per ingest worker its peak RSS and CPU, with those of its reader child; the busiest
    first. Workers are the pool processes with a child (the resource tracker has none), or
    the main process when it ran the shards itself (one worker, or one shard)."""
    pool = [pid for pid, entry in seen.items() if entry["depth"] == 1
            and any(other["parent"] == pid for other in seen.values())]
    workers = pool or [pid for pid, entry in seen.items() if entry["depth"] == 0]
    result = []
    for pid in workers:
        entry = seen[pid]
        readers = [e for e in seen.values() if e["parent"] == pid]
        result.append({"worker_peak_mib": round(entry["peak"] / 2**20),
                       "reader_peak_mib": round(max((e["peak"] for e in readers), default=0)
                                                / 2**20),
                       "cpu_s": round(entry["cpu_s"] + sum(e["cpu_s"] for e in readers), 1)})
    return sorted(result, key=lambda w: -w["cpu_s"])


def write_list(folder: Path, base: str, count: int) -> Path:
    path = folder / "list.txt"
    path.write_text("".join(f"{base}/img/{i}.jpg\n" for i in range(count)))
    return path


def run_realsyn(listing: Path, folder: Path, workers: int, concurrency: int,
                src: str | None) -> tuple[float, dict[str, Any]]:
    import yaml

    workspace = folder / "ws"
    shutil.rmtree(workspace, ignore_errors=True)
    config = {"workspace": str(workspace),
              "inputs": [{"path": str(listing), "format": "urls"}],
              "executor": {"workers": workers},
              "ingest": {"fetch": {"allow_private_addresses": True, "concurrency": concurrency,
                                   "retries": 0}}}
    (folder / "run.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": src or str(ROOT / "src")}
    seconds, seen = run_monitored([sys.executable, "-m", "realsyn", "ingest",
                                   str(folder / "run.yaml")], env, folder / "realsyn.log")
    stats = json.loads((workspace / "stages" / "ingest" / "stats.json").read_text()) \
        if (workspace / "stages" / "ingest" / "stats.json").exists() else {}
    root = next(entry for entry in seen.values() if entry["depth"] == 0)
    return seconds, {"images_ok": stats.get("images_ok"),
                     "main_peak_mib": round(root["peak"] / 2**20),
                     "shards": len(list((workspace / "datasets" / "images").glob("*.parquet"))),
                     "per_worker": realsyn_workers(seen)}


def run_img2dataset(listing: Path, folder: Path, workers: int, concurrency: int
                    ) -> tuple[float, dict[str, Any]]:
    out = folder / "i2d"
    shutil.rmtree(out, ignore_errors=True)
    command = [str(Path(sys.executable).parent / "img2dataset"), "--url_list", str(listing),
               "--input_format", "txt", "--output_format", "parquet", "--output_folder",
               str(out), "--processes_count", str(workers), "--thread_count",
               str(concurrency), "--resize_mode", "no", "--disable_all_reencoding", "True",
               "--timeout", "10", "--retries", "0", "--enable_wandb", "False"]
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    seconds, seen = run_monitored(command, env, folder / "img2dataset.log")
    ok = 0
    for stats in out.glob("*_stats.json"):
        ok += json.loads(stats.read_text()).get("successes", 0)
    peak = max((e["peak"] for e in seen.values()), default=0)
    return seconds, {"images_ok": ok, "max_process_peak_mib": round(peak / 2**20),
                     "cpu_s": round(sum(e["cpu_s"] for e in seen.values()), 1)}


def compare(args: argparse.Namespace, folder: Path, listing: Path) -> dict[str, Any]:
    tools = ["realsyn", "img2dataset"] + (["baseline"] if args.baseline_src else [])
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
    for round_ in range(args.rounds):
        # Each round in another order: a machine that slows down or speeds up during the
        # run favours no tool.
        for tool in tools[round_ % len(tools):] + tools[:round_ % len(tools)]:
            if tool == "img2dataset":
                seconds, info = run_img2dataset(listing, folder, args.workers,
                                                args.concurrency)
            else:
                seconds, info = run_realsyn(listing, folder, args.workers, args.concurrency,
                                            args.baseline_src if tool == "baseline"
                                            else args.src)
            if info["images_ok"] != args.urls:
                raise SystemExit(f"{tool}: {info['images_ok']} of {args.urls} images ok")
            runs[tool].append({"seconds": round(seconds, 2),
                               "urls_per_s": round(args.urls / seconds, 1), **info})
            print(f"round {round_ + 1} {tool:<12} {seconds:7.2f} s "
                  f"{args.urls / seconds:8.1f} URLs/s", flush=True)
    best = {tool: max(r["urls_per_s"] for r in rows) for tool, rows in runs.items()}
    ratios = {tool: round(best[tool] / best["img2dataset"], 3) for tool in best
              if tool != "img2dataset"}
    print("best URLs/s: " + ", ".join(f"{tool} {rate}" for tool, rate in best.items())
          + "; ratio to img2dataset: " + ", ".join(f"{t} {r}" for t, r in ratios.items()))
    return {"runs": runs, "best_urls_per_s": best, "ratio": ratios["realsyn"],
            "ratios": ratios}


def scale(args: argparse.Namespace, folder: Path, listing: Path) -> dict[str, Any]:
    seconds, info = run_realsyn(listing, folder, args.workers, args.concurrency, args.src)
    print(f"{args.urls} URLs, {args.workers} workers: {seconds:.1f} s "
          f"({args.urls / seconds:.0f} URLs/s), {info['shards']} shards, "
          f"{info['images_ok']} images ok; main process peak {info['main_peak_mib']} MiB")
    for number, worker in enumerate(info["per_worker"]):
        print(f"  worker {number}: peak {worker['worker_peak_mib']} MiB "
              f"(reader child {worker['reader_peak_mib']} MiB), CPU {worker['cpu_s']} s "
              f"({100 * worker['cpu_s'] / seconds:.0f}% of the wall time)")
    return {"seconds": round(seconds, 2), **info}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("compare", "scale"))
    parser.add_argument("--urls", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16,
                        help="parallel requests per process (ingest.fetch.concurrency)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--src", help="PYTHONPATH of the realsyn code to run")
    parser.add_argument("--baseline-src", help="compare: also run the realsyn code at this "
                        "PYTHONPATH (e.g. the main branch's), as 'baseline'")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-fetch-"))
    try:
        with ImageServer() as base:
            listing = write_list(folder, base, args.urls)
            result = (compare if args.mode == "compare" else scale)(args, folder, listing)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result.update(urls=args.urls, workers=args.workers, concurrency=args.concurrency,
                  cores=os.cpu_count(), src=args.src or "this checkout")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"bench_fetch_{args.mode}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
