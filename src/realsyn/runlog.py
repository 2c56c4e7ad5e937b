"""The run log: every run appends `<workspace>/logs/<UTC time>.log`.

It records stage starts and ends with their counters and wall time, errors with their
tracebacks, warnings raised by libraries (through `logging.captureWarnings`) and, when stderr is
not a terminal, the periodic progress lines. Each stage's wall time of the last run that did work
is also kept in `stages/<stage>/timing.json` for the report and the planner.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from realsyn import progress
from realsyn.config import RealsynConfig
from realsyn.workspace import Workspace, WorkspaceError

LOGGER = "realsyn"
# The log file of the current run, for worker processes (spawned children inherit it).
LOG_ENV = "REALSYN_RUN_LOG"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers whose records go into the file: ours and the library warnings.
CAPTURED = (LOGGER, "py.warnings")


def timing_path(stage: str) -> str:
    return f"stages/{stage}/timing.json"


class RunLog:
    """Stage events of one run, written through the `realsyn` logger."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.logger = logging.getLogger(f"{LOGGER}.run")

    def stage_started(self, name: str) -> tuple[float, int]:
        done = len(self.workspace.completed(name))
        self.logger.info("stage %s started (%d shards already done)", name, done)
        return time.perf_counter(), done

    def stage_finished(self, name: str, started: tuple[float, int], stats: dict[str, Any],
                       summary: str) -> float:
        began, done_before = started
        elapsed = time.perf_counter() - began
        done_after = len(self.workspace.completed(name))
        self.logger.info("stage %s finished in %.1f s: %s", name, elapsed, summary)
        self.logger.info("stage %s counters: %s", name, json.dumps(stats, sort_keys=True))
        if done_after > done_before:  # a run that only skipped finished shards measured nothing
            self.workspace.write_json(timing_path(name), {
                "wall_s": round(elapsed, 3), "shards_run": done_after - done_before,
                "shards_total": done_after, "records_in": stats.get("records_in"),
                "finished": datetime.now(UTC).isoformat(timespec="seconds")})
        return elapsed


def log_name(now: datetime | None = None) -> str:
    return f"logs/{(now or datetime.now(UTC)).strftime('%Y%m%dT%H%M%S_%fZ')}.log"


def attach_worker() -> None:
    """In a worker process: append library warnings and log records to the run's log file
    (called once per worker; a no-op outside a run or with a remote workspace)."""
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    handler = logging.FileHandler(path, encoding="utf-8")  # append mode: lines interleave
    handler.setFormatter(logging.Formatter(FORMAT.replace("%(name)s", "%(name)s[%(process)d]")))
    handler.setLevel(logging.INFO)
    for name in CAPTURED:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    logging.captureWarnings(True)


@contextmanager
def run_log(config: RealsynConfig, workspace: Workspace) -> Iterator[RunLog]:
    """Attach the log file for the duration of a run (a local file, or a buffer copied to a
    remote workspace at the end) and set the progress interval."""
    name = log_name()
    buffer = None
    previous_env = os.environ.get(LOG_ENV)
    if workspace.is_local:
        try:
            workspace.fs.makedirs(workspace.path("logs"), exist_ok=True)
            handler: logging.Handler = logging.FileHandler(workspace.path(name),
                                                           encoding="utf-8")
        except OSError as error:
            raise WorkspaceError(f"cannot write {name} in workspace {workspace.url}: "
                                 f"{error.strerror or error}") from error
        os.environ[LOG_ENV] = workspace.path(name)
    else:
        buffer = io.StringIO()
        handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(logging.INFO)
    loggers = [logging.getLogger(name_) for name_ in CAPTURED]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        if lg.getEffectiveLevel() > logging.INFO or lg.level == logging.NOTSET:
            lg.setLevel(logging.INFO)
    # Captured warnings still reach the terminal, as they would without the log.
    echo = logging.StreamHandler()
    echo.setLevel(logging.WARNING)
    logging.getLogger("py.warnings").addHandler(echo)
    previous_interval = progress.interval()
    progress.set_interval(config.executor.progress_interval_s)
    logging.captureWarnings(True)
    log = RunLog(workspace)
    log.logger.info("run started: workspace %s, executor %s with %d workers",
                    workspace.url, config.executor.kind, config.executor.workers)
    try:
        yield log
    except BaseException as error:
        log.logger.error("run failed", exc_info=error)
        raise
    else:
        log.logger.info("run finished")
    finally:
        logging.captureWarnings(False)
        logging.getLogger("py.warnings").removeHandler(echo)
        progress.set_interval(previous_interval)
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
        handler.close()
        if previous_env is None:
            os.environ.pop(LOG_ENV, None)
        else:
            os.environ[LOG_ENV] = previous_env
        if buffer is not None:
            workspace.write_bytes(name, buffer.getvalue().encode())
