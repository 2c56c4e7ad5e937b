import os
import threading
import time
from pathlib import Path

import pytest
import slow_stage

from realsyn.config import RealsynConfig
from realsyn.stage import Context
from realsyn.workspace import Workspace

ray = pytest.importorskip("ray")


def start_local_ray() -> None:
    # Workers import this test folder and the realsyn under test (not another install).
    import realsyn

    paths = [str(Path(__file__).parent), str(Path(realsyn.__file__).parents[1])]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}})


@pytest.fixture(scope="module")
def local_ray():
    start_local_ray()
    yield
    ray.shutdown()


def finishes_within(seconds: float, call):
    """call()'s value or error; the test fails if it is still waiting after `seconds` (an
    executor that waits forever must fail its test, not hang the suite)."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # re-raised in the test's thread
            outcome["error"] = error

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"still waiting after {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_ray_executor_matches_local_and_resumes(tmp_path, local_ray):
    from realsyn.executors.ray import RayExecutor

    local, distributed = tmp_path / "local", tmp_path / "ray"
    for root in (local, distributed):
        slow_stage.make_numbers(Workspace(str(root)), 4, 10)
    slow_stage.run(str(local), workers=1)

    workspace = Workspace(str(distributed))
    ctx = Context(config=RealsynConfig(workspace=str(distributed)), workspace=workspace)
    # A shard finished earlier (say by the local executor) is skipped by Ray.
    stage = slow_stage.SlowCopyStage()
    workspace.mark_done(stage.name, "00000", stage.process(ctx, "00000"))
    stats = finishes_within(120, lambda: RayExecutor(workers=2).run(stage, ctx))

    assert stats["records_in"] == 40
    for path in sorted((local / "datasets" / "squares").iterdir()):
        assert (distributed / "datasets" / "squares" / path.name).read_bytes() == path.read_bytes()


def _context(root: Path, **executor) -> Context:
    config = RealsynConfig(workspace=str(root), executor=executor)
    return Context(config=config, workspace=Workspace(str(root)))


def test_a_gpu_stage_on_a_cluster_without_gpus_fails_at_once_naming_stage_and_resources(
        tmp_path, local_ray):
    from realsyn.executors.ray import PlacementError, RayExecutor

    slow_stage.make_numbers(Workspace(str(tmp_path)), 2, 3)
    started = time.monotonic()
    with pytest.raises(PlacementError, match=r"stage 'gpu_copy' needs CPU=1, GPU=1 per worker, "
                                             r"but no node .* has it .*CPU=2, GPU=0"):
        finishes_within(60, lambda: RayExecutor(workers=2, placement_timeout_s=600).run(
            slow_stage.GpuStage(), _context(tmp_path)))
    assert time.monotonic() - started < 60, "must not wait for the placement timeout"


def test_a_stage_whose_workers_cannot_start_fails_after_the_placement_timeout(
        tmp_path, local_ray):
    from realsyn.executors.ray import PlacementError, RayExecutor

    @ray.remote(num_cpus=2)
    class Hog:  # another job's actor holding every CPU of the cluster
        def ping(self):
            return True

    hog = Hog.remote()
    ray.get(hog.ping.remote())
    try:
        slow_stage.make_numbers(Workspace(str(tmp_path)), 2, 3)
        with pytest.raises(PlacementError, match=r"stage 'slow_copy': no Ray worker asking "
                                                 r"CPU=1, GPU=0 started within 3 s"):
            finishes_within(30, lambda: RayExecutor(workers=2, placement_timeout_s=3).run(
                slow_stage.SlowCopyStage(), _context(tmp_path)))
    finally:
        ray.kill(hog)


def test_the_placement_timeout_never_cuts_a_shard_that_is_running(tmp_path, local_ray):
    from realsyn.executors.ray import RayExecutor

    stage = slow_stage.LongShardStage()
    workspace = Workspace(str(tmp_path))
    slow_stage.make_numbers(workspace, 1, 3)
    executor = RayExecutor(workers=1, placement_timeout_s=stage.seconds - 1)
    stats = finishes_within(60, lambda: executor.run(stage, _context(tmp_path)))
    assert stats["records_in"] == 3 and workspace.completed("long_shard") == ["00000"]


def test_a_stage_that_loses_every_worker_fails_naming_the_shards_left(tmp_path, local_ray):
    from realsyn.executors.base import StageError
    from realsyn.executors.ray import PlacementError, RayExecutor

    workspace = Workspace(str(tmp_path))
    slow_stage.make_numbers(workspace, 4, 2)
    with pytest.raises(StageError, match=r"stage 'always_dying' lost every Ray worker with "
                                         r"4 shard\(s\) left; a rerun resumes them") as error:
        finishes_within(60, lambda: RayExecutor(workers=2).run(slow_stage.AlwaysDyingStage(),
                                                               _context(tmp_path)))
    assert not isinstance(error.value, PlacementError)
    assert workspace.completed("always_dying") == []


def test_a_worker_that_cannot_load_its_model_fails_the_stage_naming_the_error(
        tmp_path, local_ray):
    from realsyn.executors.base import StageError
    from realsyn.executors.ray import RayExecutor

    slow_stage.make_numbers(Workspace(str(tmp_path)), 2, 2)
    with pytest.raises(StageError, match=r"stage 'failing_setup' failed in setup: "
                                         r"RuntimeError\('no model here'\)"):
        finishes_within(60, lambda: RayExecutor(workers=1).run(slow_stage.FailingSetupStage(),
                                                               _context(tmp_path)))


def test_a_worker_still_starting_takes_over_from_one_that_died(tmp_path, local_ray):
    """Another job holds one of the two CPUs: one worker starts, the other waits for a CPU.
    The first dies on its second shard, its CPU frees, and the waiting worker must get the
    time to start and finish the stage (the placement clock restarts at every event)."""
    from realsyn.executors.ray import RayExecutor

    @ray.remote(num_cpus=1)
    class Hog:
        def ping(self):
            return True

    hog = Hog.remote()
    ray.get(hog.ping.remote())
    try:
        workspace = Workspace(str(tmp_path))
        slow_stage.make_numbers(workspace, 4, 5)
        executor = RayExecutor(workers=2, placement_timeout_s=30)
        stats = finishes_within(90, lambda: executor.run(slow_stage.DyingOnceStage(),
                                                         _context(tmp_path)))
    finally:
        ray.kill(hog)
    assert workspace.exists("died") and stats["records_in"] == 20
    assert workspace.completed("dying_once") == ["00000", "00001", "00002", "00003"]


def test_a_worker_lost_before_it_started_leaves_the_shards_to_the_others(tmp_path, local_ray):
    from realsyn.executors.ray import RayExecutor

    workspace = Workspace(str(tmp_path))
    slow_stage.make_numbers(workspace, 4, 5)
    stats = finishes_within(90, lambda: RayExecutor(workers=2).run(
        slow_stage.DyingInSetupOnceStage(), _context(tmp_path)))
    assert workspace.exists("died") and stats["records_in"] == 20
    assert workspace.completed("dying_in_setup") == ["00000", "00001", "00002", "00003"]


def test_node_resources_reads_live_nodes_and_takes_missing_resources_as_zero():
    from realsyn.executors.ray import node_resources

    nodes = [  # what ray.nodes() gives: resources a node lacks are left out, not zero
        {"Alive": True, "Resources": {"CPU": 4.0, "GPU": 1.0, "memory": 8e9}},
        {"Alive": True, "Resources": {"memory": 1e9}},  # a head started with --num-cpus 0
        {"Alive": False, "Resources": {"CPU": 8.0, "GPU": 2.0}},  # a lost node
        {"Alive": True},  # a node that reports nothing
    ]
    assert node_resources(nodes) == [{"CPU": 4.0, "GPU": 1.0}, {"CPU": 0.0, "GPU": 0.0},
                                     {"CPU": 0.0, "GPU": 0.0}]


def test_a_driver_without_ray_connects_to_the_configured_cluster(tmp_path, local_ray,
                                                                 monkeypatch):
    """A driver that has not started Ray connects to `address` once. The cluster named here
    cannot be reached from a test: Ray looks not started to the executor, its connection is
    recorded, and the work runs on the test's Ray."""
    from realsyn.executors.ray import RayExecutor

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: bool(calls))
    monkeypatch.setattr(ray, "init", lambda **arguments: calls.append(arguments))
    slow_stage.make_numbers(Workspace(str(tmp_path)), 2, 3)
    executor = RayExecutor(address="ray://head.example:10001", workers=1)
    stats = finishes_within(90, lambda: executor.run(slow_stage.SlowCopyStage(),
                                                     _context(tmp_path)))
    assert stats["records_in"] == 6
    assert calls == [{"address": "ray://head.example:10001", "ignore_reinit_error": True,
                      "log_to_driver": False, "include_dashboard": False}]


def test_one_worker_means_one_ray_worker_process(tmp_path, local_ray):
    from realsyn.executors.ray import RayExecutor

    workspace = Workspace(str(tmp_path))
    slow_stage.make_numbers(workspace, 3, 2)
    finishes_within(60, lambda: RayExecutor(workers=1).run(slow_stage.PidStage(),
                                                           _context(tmp_path)))
    pids = {workspace.read_bytes(f"pids/{shard}") for shard in ("00000", "00001", "00002")}
    assert len(pids) == 1


def test_an_empty_resource_set_is_described_as_nothing():
    from realsyn.executors.ray import _describe

    assert _describe({}) == "nothing"
    assert _describe({"GPU": 1.0, "CPU": 2.5}) == "CPU=2.5, GPU=1"


def test_the_shard_of_a_lost_worker_goes_to_a_worker_that_remains(tmp_path, local_ray):
    from realsyn.executors.ray import RayExecutor

    workspace = Workspace(str(tmp_path))
    slow_stage.make_numbers(workspace, 4, 5)
    stats = finishes_within(120, lambda: RayExecutor(workers=2).run(slow_stage.DyingOnceStage(),
                                                                     _context(tmp_path)))
    assert workspace.exists("died"), "a worker must have died on shard 00001"
    assert stats["records_in"] == 20
    assert workspace.completed("dying_once") == ["00000", "00001", "00002", "00003"]
    values = sorted(Workspace(str(tmp_path)).read_dataset("squares").column("value").to_pylist())
    assert values == list(range(20))


def test_the_demand_of_a_worker_is_capped_at_the_largest_node_cpus_but_gpus_are_not():
    from realsyn.executors.ray import PlacementError, worker_demand, worker_slots

    one_cpu_nodes = [{"CPU": 1.0, "GPU": 0.0}, {"CPU": 1.0, "GPU": 0.0}]
    embed = type("Embed", (slow_stage.SlowCopyStage,), {"name": "embed", "num_cpus": 2.0})()
    demand = worker_demand(embed, one_cpu_nodes)
    assert demand == {"CPU": 1.0, "GPU": 0.0}
    assert worker_slots(one_cpu_nodes, demand) == 2
    assert worker_slots([{"CPU": 5.0, "GPU": 0.0}], {"CPU": 2.0, "GPU": 0.0}) == 2
    assert worker_slots([{"CPU": 8.0, "GPU": 1.0}], {"CPU": 1.0, "GPU": 1.0}) == 1
    with pytest.raises(PlacementError, match="'gpu_copy' needs CPU=1, GPU=1"):
        worker_demand(slow_stage.GpuStage(), one_cpu_nodes)
    # A head node without CPUs (a common setup) holds no worker.
    with pytest.raises(PlacementError, match="'slow_copy' needs CPU=1, GPU=0"):
        worker_demand(slow_stage.SlowCopyStage(), [{"CPU": 0.0, "GPU": 0.0}])


def test_workers_get_the_config_the_stage_resources_and_name_the_error_type(
        tmp_path, local_ray, monkeypatch):
    """Every real stage reads its config in the worker; a worker asks Ray for the stage's
    CPUs and GPUs; a failed shard's message names the exception type."""
    from realsyn.executors import ray as ray_executor
    from realsyn.executors.base import StageError
    from realsyn.executors.ray import RayExecutor

    # The cluster has no GPU: show one to the executor, record what it asks Ray for, and
    # build the actor without the GPU so that it can start here.
    nodes_of = ray_executor.node_resources
    monkeypatch.setattr(ray_executor, "node_resources", lambda nodes: [
        {**node, "GPU": 1.0} for node in nodes_of(nodes)])
    asked: list[dict] = []
    remote = ray.remote

    def recording_remote(*classes, **options):
        if classes:  # decorated bare: Ray's own progress queue actor, not a shard worker
            return remote(*classes, **options)
        asked.append(options)
        return remote(**{key: value for key, value in options.items() if key != "num_gpus"})

    monkeypatch.setattr(ray, "remote", recording_remote)
    stage = type("GpuProbe", (slow_stage.ResourceProbeStage,), {"num_gpus": 0.5})()
    workspace = Workspace(str(tmp_path))
    slow_stage.make_numbers(workspace, 1, 3)
    stats = finishes_within(120, lambda: RayExecutor(workers=1).run(
        stage, _context(tmp_path, workers=3)))
    assert asked == [{"num_cpus": 2.0, "num_gpus": 0.5}]
    assert stats["workers_seen"] == 3  # the run's config reached the worker
    assert stats["assigned_cpus"] == 2.0  # Ray reserved the stage's CPUs for it
    monkeypatch.undo()

    slow_stage.make_numbers(Workspace(str(tmp_path / "failing")), 2, 2)
    with pytest.raises(StageError) as error:
        finishes_within(60, lambda: RayExecutor(workers=1).run(
            slow_stage.FailingShardStage(), _context(tmp_path / "failing")))
    assert str(error.value) == ("stage 'failing_shard' failed on shard '00001': "
                                "KeyError: 'planted'")


def test_ray_workers_report_the_records_of_running_shards(tmp_path, local_ray, monkeypatch,
                                                          capsys):
    from test_progress import check_records_move_within_shards, counting_context

    from realsyn.executors.ray import RayExecutor

    ctx = counting_context(str(tmp_path / "ws"), monkeypatch)
    stats = RayExecutor(workers=2).run(slow_stage.CountingStage(nap_s=0.2), ctx)
    assert stats["records_in"] == 20
    check_records_move_within_shards(slow_stage.progress_lines(capsys.readouterr().err))
