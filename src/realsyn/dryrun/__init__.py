"""`realsyn run CONFIG --dry-run`: what a run will read, keep and cost, before it starts.

census.py counts the inputs cheaply, probe.py runs the config's pipeline through the local
executor on a few documents in a probe workspace, and estimate.py scales the probe to the whole
input.
"""

from __future__ import annotations

import fsspec

from realsyn.config import RealsynConfig
from realsyn.dryrun.census import planned_shards, take_census
from realsyn.dryrun.estimate import Plan, estimate, format_plan
from realsyn.dryrun.probe import run_probe
from realsyn.pipeline import select_stages
from realsyn.runlog import timing_path
from realsyn.workspace import Workspace


def measured_times(config: RealsynConfig) -> dict[str, float]:
    """Wall time per stage of the last runs that did each stage's work in the workspace."""
    fs, root = fsspec.core.url_to_fs(config.workspace)
    if not fs.exists(root):  # a dry run never creates the workspace
        return {}
    workspace = Workspace(config.workspace)
    times = {}
    for name in select_stages(config):
        timing = workspace.read_json(timing_path(name))
        if timing and timing.get("wall_s") is not None:
            times[name] = float(timing["wall_s"])
    return times


def make_plan(config: RealsynConfig, probe_documents: int = 4) -> Plan:
    # The probe first: it times the stages' model loading, which the census's embedding of its
    # image sample would otherwise have done already in this process (encoders load once per
    # process). Its pool is as large as the run's: the workers, at most the plan's shards.
    probe = run_probe(config, probe_documents, shards_total=planned_shards(config))
    return estimate(config, take_census(config), probe)


def dry_run(config: RealsynConfig, probe_documents: int = 4) -> str:
    return format_plan(make_plan(config, probe_documents), measured_times(config))
