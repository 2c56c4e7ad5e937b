"""Run a stage's shards on a Ray cluster: one actor per worker, models loaded once per actor.

Completion markers and stats go to the workspace exactly as with the local executor, so a run
can be started locally, resumed on a cluster, and the other way round (the workspace must then
live on storage every node reaches, e.g. an object store URL).

Ray queues an actor it cannot place and a call on it waits forever, so this executor never
hands a shard to an actor that has not started:

- a stage's GPUs are a hard demand: if no live node has them, the stage fails at once with an
  error naming the stage and the resources;
- its CPUs are a thread count, not a requirement: they are capped at the largest node's CPUs
  (a 2-thread encoder runs on a 1-CPU node, slower);
- only as many actors are created as the nodes can hold, and shards go to actors as they
  report ready; if no actor is usable for `placement_timeout_s` (the cluster's resources are
  held by others), the stage fails with the same kind of error;
- an actor lost with its node gives its shard back to the queue for the actors that remain.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

from realsyn import progress
from realsyn.executors.base import Executor, StageError, run_one_shard
from realsyn.stage import Context, Stage
from realsyn.workspace import Workspace


class PlacementError(StageError):
    """A stage asks for resources that the Ray cluster cannot give to any worker."""


class _ShardWorker:
    def __init__(self, stage: Stage, config, workspace: Workspace, messages=None,
                 send_every_s: float = progress.SEND_EVERY_S):
        self.stage = stage
        self.ctx = Context(config=config, workspace=workspace)
        progress.silence_library_bars()
        if messages is not None:  # a ray.util.queue.Queue the driver reads
            progress.set_sink(lambda *message: messages.put_nowait(message), send_every_s)

    def ready(self) -> bool:
        """Load the stage's models; the driver hands out shards only after this returned."""
        self.stage.setup(self.ctx)
        return True

    def process(self, shard: str) -> tuple[str, dict[str, Any] | None, str | None]:
        try:
            return shard, run_one_shard(self.stage, self.ctx, shard), None
        except Exception as error:  # reported by the driver with the shard's name
            return shard, None, f"{type(error).__name__}: {error}"


def _describe(resources: dict[str, float]) -> str:
    return ", ".join(f"{key}={value:g}" for key, value in sorted(resources.items())) or "nothing"


def node_resources(nodes: list[dict[str, Any]]) -> list[dict[str, float]]:
    """The CPU and GPU totals of each live node (from `ray.nodes()`)."""
    return [{"CPU": float(node.get("Resources", {}).get("CPU", 0.0)),
             "GPU": float(node.get("Resources", {}).get("GPU", 0.0))}
            for node in nodes if node.get("Alive")]


def worker_demand(stage: Stage, nodes: list[dict[str, float]]) -> dict[str, float]:
    """What one actor of `stage` asks Ray for on this cluster; raises PlacementError if no
    node can ever hold one."""
    cluster = {"CPU": sum(node["CPU"] for node in nodes),
               "GPU": sum(node["GPU"] for node in nodes)}
    gpus = float(stage.num_gpus)
    fitting = [node for node in nodes if node["GPU"] >= gpus and node["CPU"] > 0]
    if not fitting:
        wanted = {"CPU": float(stage.num_cpus), "GPU": gpus}
        raise PlacementError(
            f"stage {stage.name!r} needs {_describe(wanted)} per worker, but no node of the "
            f"Ray cluster has it (cluster: {len(nodes)} node(s), {_describe(cluster)})")
    cpus = min(float(stage.num_cpus), max(node["CPU"] for node in fitting))
    return {"CPU": cpus, "GPU": gpus}


def worker_slots(nodes: list[dict[str, float]], demand: dict[str, float]) -> int:
    """How many actors asking `demand` the nodes hold at once."""
    slots = 0
    for node in nodes:
        fits = [math.floor(node[key] / need + 1e-9) for key, need in demand.items() if need > 0]
        slots += min(fits) if fits else 0
    return slots


class RayExecutor(Executor):
    label = "ray"

    def __init__(self, address: str | None = None, workers: int = 1,
                 placement_timeout_s: float = 120.0):
        self.address = address
        self.workers = workers
        self.placement_timeout_s = placement_timeout_s
        # The queue the workers send their record counts to: one per stage, kept across its
        # steps (an actor start costs seconds), shut down by `release`.
        self._messages = None

    def map_shards(self, stage: Stage, ctx: Context, pending: list[str],
                   tracker: progress.StageProgress) -> None:
        import ray
        from ray.util.queue import Queue

        if not ray.is_initialized():
            ray.init(address=self.address, ignore_reinit_error=True, log_to_driver=False,
                     include_dashboard=False)
        nodes = node_resources(ray.nodes())
        demand = worker_demand(stage, nodes)
        count = max(1, min(self.workers, len(pending), worker_slots(nodes, demand)))
        actor_class = ray.remote(num_cpus=demand["CPU"], num_gpus=demand["GPU"])(_ShardWorker)
        if self._messages is None:
            # A queue actor that asks for no CPU: placed even where the workers hold them all.
            self._messages = Queue(actor_options={"num_cpus": 0})
        messages = self._messages
        actors = [actor_class.remote(stage, ctx.config, ctx.workspace, messages,
                                     progress.send_every()) for _ in range(count)]
        try:
            with progress.relayed(lambda timeout: _received(messages, timeout), tracker.update):
                self._dispatch(ray, stage, actors, demand, pending, tracker)
        finally:
            for actor in actors:  # also the ones never placed: Ray drops their request
                ray.kill(actor)

    def release(self) -> None:
        if self._messages is not None:
            self._messages.shutdown(force=True)
            self._messages = None

    def _dispatch(self, ray, stage: Stage, actors: list, demand: dict[str, float],
                  pending: list[str], tracker: progress.StageProgress) -> None:
        """Hand the shards to actors as they start and finish; only started actors get any."""
        from ray.exceptions import RayActorError, RayTaskError

        starting = {actor.ready.remote(): actor for actor in actors}
        idle: list = []
        running: dict[Any, tuple[Any, str]] = {}
        queue = deque(pending)
        deadline = time.monotonic() + self.placement_timeout_s
        while queue or running:
            while idle and queue:
                actor, shard = idle.pop(), queue.popleft()
                running[actor.process.remote(shard)] = (actor, shard)
            if not running and not idle and not starting:
                raise StageError(f"stage {stage.name!r} lost every Ray worker with "
                                 f"{len(queue)} shard(s) left; a rerun resumes them")
            placing = not running and not idle
            timeout = max(0.0, deadline - time.monotonic()) if placing else None
            done, _ = ray.wait([*running, *starting], num_returns=1, timeout=timeout)
            if not done:
                raise PlacementError(
                    f"stage {stage.name!r}: no Ray worker asking {_describe(demand)} started "
                    f"within {self.placement_timeout_s:g} s (cluster has "
                    f"{_describe(ray.cluster_resources())}, free "
                    f"{_describe(ray.available_resources())})")
            ref = done[0]
            deadline = time.monotonic() + self.placement_timeout_s  # counted from the last event
            if ref in starting:
                actor = starting.pop(ref)
                try:
                    ray.get(ref)
                except RayTaskError as error:
                    raise StageError(f"stage {stage.name!r} failed in setup: "
                                     f"{error.cause!r}") from error
                except RayActorError:
                    continue  # its node went away before it started
                idle.append(actor)
                continue
            actor, shard = running.pop(ref)
            try:
                _, stats, error = ray.get(ref)
            except RayActorError:
                queue.appendleft(shard)  # the worker (or its node) died: another one takes it
                continue
            if error is not None:
                raise StageError(f"stage {stage.name!r} failed on shard {shard!r}: {error}")
            idle.append(actor)
            tracker.finish(shard, stats)


def _received(messages, timeout: float) -> list[tuple]:
    """The progress messages the workers put in Ray queue `messages`, waiting up to
    `timeout` for the first."""
    from ray.util.queue import Empty

    try:
        first = messages.get(timeout=timeout)
    except Empty:
        return []
    return [first, *messages.get_nowait_batch(messages.qsize())]
