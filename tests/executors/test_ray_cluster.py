"""The whole small pipeline on Ray clusters smaller than the workers ask for, byte-identical to
the local executor's run: a one-CPU local Ray (embed asks 2 CPUs per worker, 2 workers), and
a real two-node cluster (a head and a worker node, one CPU each)."""

import json
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import slow_stage

from realsyn.config import RealsynConfig
from realsyn.stage import Context
from realsyn.workspace import Workspace

ray = pytest.importorskip("ray")
sys.path.insert(0, str(Path(__file__).parents[1] / "pipeline"))
from small_pipeline import closed_port, run, slice_corpus, small_config  # noqa: E402

# Files that may differ between two runs of the same pipeline: commit ids, the resolved config
# (it names the executor), the LLM response cache (an SQLite database), and bookkeeping.
NOT_COMPARED = (".realsyn.json", "config.yaml", "generate/llm-cache.sqlite")
NOT_COMPARED_FOLDERS = ("stages/", "logs/")
TIMING_KEYS = ("_seconds", "wall_s")
CONFIG_HASH_LINE = b"- config fingerprint"


def _worker_env() -> dict:
    # Workers import this test folder and the realsyn under test (not another install).
    import realsyn

    paths = [str(Path(__file__).parent), str(Path(realsyn.__file__).parents[1])]
    return {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}}


@contextmanager
def one_thread():
    """The local reference computes with one thread, as a worker holding one CPU does (Ray sets
    OMP_NUM_THREADS to an actor's CPUs): float sums then add up in the same order."""
    import faiss
    import torch

    torch_threads, faiss_threads = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        faiss.omp_set_num_threads(faiss_threads)


def _without_timings(value):
    """`value` without wall times and without the index's cache key (made of file mtimes)."""
    if isinstance(value, dict):
        return {key: _without_timings(item) for key, item in value.items()
                if not key.endswith(TIMING_KEYS) and key != "fingerprint"}
    if isinstance(value, list):
        return [_without_timings(item) for item in value]
    return value


def _comparable(root: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if (not path.is_file() or name.startswith(NOT_COMPARED_FOLDERS)
                or any(name.endswith(skip) or name.startswith(skip) for skip in NOT_COMPARED)):
            continue
        data = path.read_bytes()
        if name.endswith(".json"):  # reports and the index's meta: times, and a cache key
            data = json.dumps(_without_timings(json.loads(data)), sort_keys=True).encode()
        if name.endswith("README.md"):  # the card names the config's hash (executor included)
            data = b"".join(line for line in data.splitlines(keepends=True)
                            if not line.startswith(CONFIG_HASH_LINE))
        files[name] = data
    return files


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The small pipeline run by the local executor; every Ray run goes to the same workspace
    path (the card names it), after this run is moved aside."""
    base = tmp_path_factory.mktemp("ray-cluster")
    config = small_config(base / "ws", slice_corpus(base / "corpus"))
    config["generate"]["llm"]["base_url"] = f"http://127.0.0.1:{closed_port()}/v1"
    with one_thread():
        run(config)
    (base / "ws").rename(base / "local")
    files = _comparable(base / "local")
    assert any(name.startswith("output/shards/") and name.endswith(".tar") for name in files)
    return base, config, files


def _run_on_ray(reference, address: str | None) -> None:
    base, config, expected = reference
    shutil.rmtree(base / "ws", ignore_errors=True)
    config = {**config, "executor": {**config["executor"], "kind": "ray", "workers": 2,
                                     "ray_address": address}}
    results, _ = run(config)
    assert {"ingest", "embed", "retrieve", "balance", "write"} <= set(results)
    actual = _comparable(base / "ws")
    assert sorted(actual) == sorted(expected)
    differing = [name for name in expected if actual[name] != expected[name]]
    assert not differing, f"differ from the local run: {differing}"


def test_every_stage_runs_on_a_ray_with_fewer_cpus_than_the_workers_ask(reference):
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
             runtime_env=_worker_env())
    try:
        _run_on_ray(reference, None)
    finally:
        ray.shutdown()


def test_the_whole_pipeline_on_a_two_node_cluster_equals_the_local_run(reference, tmp_path):
    from ray.cluster_utils import Cluster

    from realsyn.executors.ray import RayExecutor

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, runtime_env=_worker_env())
        assert len([node for node in ray.nodes() if node["Alive"]]) == 2
        # Both nodes take work: each shard of the probe records the node that ran it.
        ctx = Context(config=RealsynConfig(workspace=str(tmp_path)),
                      workspace=Workspace(str(tmp_path)))
        RayExecutor(workers=2).run(slow_stage.NodeProbeStage(), ctx)
        nodes = {ctx.workspace.read_json(f"stages/node_probe/stats/{shard}.json")["node"]
                 for shard in ctx.workspace.completed("node_probe")}
        assert len(nodes) == 2
        _run_on_ray(reference, cluster.address)
    finally:
        ray.shutdown()
        cluster.shutdown()
