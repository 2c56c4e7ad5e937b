"""Requests and files of one shuffle step on an object store: moto's S3 server on loopback.

`--map-tasks` map tasks each write their rows (`--rows` per task, a key and a 64-float vector,
as semantic_dedup's members are) to `--partitions` partitions with
`Workspace.write_partitioned`; the step's planning lists the partitions written
(`Workspace.partitions`), and one reduce task per partition reads it back
(`Workspace.read_partition`). The S3 requests the server receives are counted by kind (a
middleware in front of moto's app), separately for the map and the reduce side, with the
objects the step leaves. Every reduce's rows are checked against what the maps wrote.

    python benchmarks/bench_shuffle_s3.py --map-tasks 20 --partitions 64
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import uuid
from collections import Counter
from urllib.parse import parse_qs

import numpy as np
import pyarrow as pa

BUCKET = "realsyn-shuffle-bench"
FOLDER = "scratch/bench/members"


class RequestCounter:
    """WSGI middleware counting the S3 requests by kind."""

    def __init__(self, app):
        self.app, self.counts = app, Counter()

    def __call__(self, environ, start_response):
        self.counts[request_kind(environ)] += 1
        return self.app(environ, start_response)


def request_kind(environ) -> str:
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    on_bucket = path.strip("/").count("/") == 0
    if method == "GET" and on_bucket:
        return "LIST"
    if method == "GET":
        return "GET (range)" if environ.get("HTTP_RANGE") else "GET"
    if method == "POST" and "delete" in query:
        return "DELETE (batch)"
    return method


def map_table(task: int, rows: int, dim: int) -> pa.Table:
    rng = np.random.default_rng(task)
    vectors = rng.standard_normal((rows, dim)).astype(np.float32)
    return pa.table({"key": [f"{task:05d}-{i}" for i in range(rows)],
                     "vector": pa.FixedSizeListArray.from_arrays(vectors.ravel(), dim)})


def run(args: argparse.Namespace) -> dict:
    import s3fs
    from moto.server import ThreadedMotoServer

    from realsyn.workspace import Workspace

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    counter = RequestCounter(server._server.app)
    server._server.app = counter  # werkzeug's handler calls server.app for every request
    host, port = server.get_host_and_port()
    os.environ.update({"AWS_ENDPOINT_URL": f"http://{host}:{port}",
                       "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    fs.mkdir(BUCKET)
    root = f"s3://{BUCKET}/{uuid.uuid4().hex}"
    expected: dict[int, list[str]] = {}
    try:
        counter.counts.clear()
        for task in range(args.map_tasks):
            workspace = Workspace(root)  # each task in its own process: no shared caches
            table = map_table(task, args.rows, args.dim)
            parts = np.random.default_rng(10_000 + task).integers(0, args.partitions, args.rows)
            workspace.write_partitioned(FOLDER, f"{task:05d}", table, parts, args.partitions)
            for key, part in zip(table.column("key").to_pylist(), parts.tolist(), strict=True):
                expected.setdefault(part, []).append(key)
        map_side = dict(counter.counts)
        counter.counts.clear()
        planned = Workspace(root).partitions(FOLDER)
        plan_side = dict(counter.counts)
        counter.counts.clear()
        for part in planned:
            keys = Workspace(root).read_partition(FOLDER, part).column("key").to_pylist()
            if keys != expected[part]:
                raise SystemExit(f"partition {part}: the reduce read other rows than were written")
        reduce_side = dict(counter.counts)
        objects = fs.find(f"{root}/{FOLDER}")
        return {"map_tasks": args.map_tasks, "partitions": args.partitions,
                "partitions_written": len(planned), "rows_per_task": args.rows,
                "objects": len(objects),
                "bytes": sum(fs.size(path) for path in objects),
                "requests": {"map": map_side, "plan": plan_side, "reduce": reduce_side,
                             "total": sum(map_side.values()) + sum(plan_side.values())
                             + sum(reduce_side.values())}}
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map-tasks", type=int, default=20)
    parser.add_argument("--partitions", type=int, default=64)
    parser.add_argument("--rows", type=int, default=2000, help="rows per map task")
    parser.add_argument("--dim", type=int, default=64)
    print(json.dumps(run(parser.parse_args(argv)), indent=2))


if __name__ == "__main__":
    main()
