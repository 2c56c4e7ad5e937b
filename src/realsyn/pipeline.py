"""The stage registry and the runner of a whole pipeline."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from realsyn.config import RealsynConfig, dump_config
from realsyn.runlog import run_log
from realsyn.stage import Context, Stage
from realsyn.workspace import Workspace

# The pipeline's stages in run order, as "module:Class" so that a stage's model libraries are
# imported only when it runs. Issues that add a stage add a line here.
STAGES: dict[str, str] = {
    "ingest": "realsyn.ingest.stage:IngestStage",
    "extract_images": "realsyn.extract.stages:ExtractImagesStage",
    "extract_sentences": "realsyn.extract.stages:ExtractSentencesStage",
    "dedup": "realsyn.extract.stages:DedupStage",
    "embed": "realsyn.embed.stage:EmbedStage",
    "semantic_dedup": "realsyn.extract.stages:SemanticDedupStage",
    "retrieve": "realsyn.retrieve.stage:RetrieveStage",
    "generate": "realsyn.generate.stage:GenerateStage",
    "balance": "realsyn.balance.stage:BalanceStage",
    "write": "realsyn.write.stage:WriteStage",
}


class UnknownStageError(ValueError):
    pass


def load_stage(name: str) -> Stage:
    try:
        module_name, class_name = STAGES[name].split(":")
    except KeyError:
        raise UnknownStageError(
            f"unknown stage {name!r}; known stages: {', '.join(STAGES)}") from None
    return getattr(importlib.import_module(module_name), class_name)()


def select_stages(config: RealsynConfig, only: list[str] | None = None,
                  start: str | None = None) -> list[str]:
    """The stage names to run, in registry order: the config's `stages` (default all), cut to
    `only`, or to `start` and after."""
    chosen = config.stages if config.stages is not None else list(STAGES)
    for name in [*chosen, *(only or []), *([start] if start else [])]:
        if name not in STAGES:
            raise UnknownStageError(
                f"unknown stage {name!r}; known stages: {', '.join(STAGES)}")
    ordered = [name for name in STAGES if name in chosen]
    if only:
        ordered = [name for name in ordered if name in only]
    if start:
        names = list(STAGES)
        ordered = [name for name in ordered if names.index(name) >= names.index(start)]
    return ordered


def make_executor(config: RealsynConfig):
    if config.executor.kind == "ray":
        from realsyn.executors.ray import RayExecutor

        return RayExecutor(address=config.executor.ray_address, workers=config.executor.workers)
    from realsyn.executors.local import LocalExecutor

    return LocalExecutor(workers=config.executor.workers)


def run_pipeline(config: RealsynConfig, only: list[str] | None = None, start: str | None = None,
                 rerun: bool = False,
                 report: Callable[[str], None] = print) -> dict[str, dict]:
    """Run the selected stages in order, skipping finished shards; returns stats per stage."""
    workspace = Workspace(config.workspace)
    workspace.write_bytes("config.yaml", dump_config(config).encode())
    if removed := workspace.remove_temporaries():  # left by a killed run; this run owns it
        report(f"removed {removed} temporary files of an interrupted run")
    ctx = Context(config=config, workspace=workspace)
    executor = make_executor(config)
    selected = select_stages(config, only, start)
    if rerun and selected:
        # Later stages were built from what is about to change: their work is stale too.
        names = list(STAGES)
        for name in names[names.index(selected[0]):]:
            workspace.reset_stage(name)
    results = {}
    with run_log(config, workspace) as log:
        for name in selected:
            stage = load_stage(name)
            started = log.stage_started(name)
            stats = executor.run(stage, ctx)
            results[name] = stats
            summary = stage.summary(ctx, stats)
            elapsed = log.stage_finished(name, started, stats, summary)
            report(f"[{name}] ({elapsed:.1f} s) {summary}")
    return results
