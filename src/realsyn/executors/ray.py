"""Run a stage's shards on a Ray cluster: one actor per worker, models loaded once per actor.

Completion markers and stats go to the workspace exactly as with the local executor, so a run
can be started locally, resumed on a cluster, and the other way round (the workspace must then
live on storage every node reaches, e.g. an object store URL).
"""

from __future__ import annotations

from typing import Any

from realsyn.executors.base import Executor, StageError, run_one_shard
from realsyn.stage import Context, Stage
from realsyn.workspace import Workspace


class _ShardWorker:
    def __init__(self, stage: Stage, config, workspace: Workspace):
        self.stage = stage
        self.ctx = Context(config=config, workspace=workspace)
        stage.setup(self.ctx)

    def process(self, shard: str) -> tuple[str, dict[str, Any] | None, str | None]:
        try:
            return shard, run_one_shard(self.stage, self.ctx, shard), None
        except Exception as error:  # reported by the driver with the shard's name
            return shard, None, f"{type(error).__name__}: {error}"


class RayExecutor(Executor):
    label = "ray"

    def __init__(self, address: str | None = None, workers: int = 1):
        self.address = address
        self.workers = workers

    def map_shards(self, stage: Stage, ctx: Context, pending: list[str], advance) -> None:
        import ray
        from ray.util import ActorPool

        if not ray.is_initialized():
            ray.init(address=self.address, ignore_reinit_error=True, log_to_driver=False,
                     include_dashboard=False)
        actor_class = ray.remote(num_cpus=stage.num_cpus, num_gpus=stage.num_gpus)(_ShardWorker)
        actors = [actor_class.remote(stage, ctx.config, ctx.workspace)
                  for _ in range(min(self.workers, len(pending)))]
        pool = ActorPool(actors)
        for shard, stats, error in pool.map_unordered(
                lambda actor, shard: actor.process.remote(shard), pending):
            if error is not None:
                raise StageError(f"stage {stage.name!r} failed on shard {shard!r}: {error}")
            advance(stats)
