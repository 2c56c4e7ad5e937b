"""What a pipeline stage is.

A *shard stage* maps each input shard to output shards independently: the executor runs
`process(ctx, shard)` for every unfinished shard, in any order, on any worker, and records a
completion marker with its stats. A *global stage* (k-means, dedup grouping, balancing) runs
once on one node; it is executed as the single shard ``GLOBAL_SHARD``, with the same marker.

`process` must write its outputs through the workspace (atomic) and be deterministic: the same
input shard gives byte-identical outputs, whichever worker runs it and however often.

A stage declares what it reads and writes (`reads` / `writes`: workspace folders such as
`datasets/images_final`, built from the names in `realsyn.datasets`), so a pipeline can check its
wiring before running, refuse to run on missing inputs, replace outputs as a whole, and decide
what is stale from fingerprints (`config_paths`, `version`; see `realsyn.fingerprint`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from realsyn.config import RealsynConfig
from realsyn.workspace import Workspace

GLOBAL_SHARD = "all"
# Stats key that progress bars count as records; every stage should report it.
RECORDS = "records_in"


@dataclass
class Context:
    config: RealsynConfig
    workspace: Workspace


class Stage:
    name: str
    description: ClassVar[str] = ""
    # Bump when the stage's output format or logic changes: its outputs become stale.
    version: ClassVar[str] = "1"
    # The config sections or fields (dotted) whose values the outputs depend on.
    config_paths: ClassVar[tuple[str, ...]] = ()
    # Resources one worker of this stage needs (for schedulers such as Ray).
    num_cpus: ClassVar[float] = 1.0
    num_gpus: ClassVar[float] = 0.0

    def reads(self, config: RealsynConfig) -> list[str]:
        """Workspace folders this stage reads (`realsyn.datasets.dataset(...)` / `array(...)`)."""
        return []

    def writes(self, config: RealsynConfig) -> list[str]:
        """Folders this stage writes and replaces as a whole when it completes: workspace
        folders, or a URL outside the workspace (the writer's output)."""
        return []

    def fingerprint_extra(self, config: RealsynConfig) -> dict[str, Any]:
        """What else, beyond `config_paths`, changes this stage's outputs: settings of the
        instance (a user stage's own config, filters given in Python) or of its inputs."""
        return {}

    def setup(self, ctx: Context) -> None:
        """Load models and other heavy state; called once per worker before any shard."""

    def shards(self, ctx: Context) -> list[str]:
        """The shard keys this stage must produce."""
        return [GLOBAL_SHARD]

    def process(self, ctx: Context, shard: str) -> dict[str, Any]:
        """Produce the outputs of one shard and return its stats (counters)."""
        raise NotImplementedError

    def finalize(self, ctx: Context, stats: dict[str, Any]) -> None:
        """Called once after every shard is done, with the merged stats."""

    def summary(self, ctx: Context, stats: dict[str, Any]) -> str:
        """A few human lines about the finished stage, printed by the CLI."""
        return ", ".join(f"{key}={value}" for key, value in stats.items())

    def closing_report(self, ctx: Context) -> str | None:
        """Text printed once after a run in which this stage ran (the same text from several
        stages is printed once), e.g. the extraction funnel."""
        return None


class GlobalStage(Stage):
    """A stage that runs once over whole datasets."""

    def process(self, ctx: Context, shard: str) -> dict[str, Any]:
        return self.run(ctx)

    def run(self, ctx: Context) -> dict[str, Any]:
        raise NotImplementedError
