"""kill -9 inside every stage of the whole pipeline, global stages included, then resume: the
datasets, arrays, index and outputs are byte-identical to the uninterrupted run's, and no
temporary file of a killed write is left.

One workspace goes through the chain: the first run is killed inside `ingest`, the next one
(which resumes `ingest`) inside `extract_images`, and so on to `write`; a last run finishes.
Each kill comes at a seeded random moment of its stage: a fraction of the stage's wall time
in the uninterrupted run after the run log says it started (sooner if the stage ended first),
or at the start of the next shard if it came between shards, so that a shard is always in
progress: started, not yet marked done."""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from chained_pipeline import (
    HERE,
    digests,
    environment,
    new_workspace,
    realsyn,
    stages_ran,
    temporaries,
)

from realsyn.registry import STAGES
from realsyn.workspace import Workspace

SEED = 19
ATTEMPTS = 5  # kills of a stage until one lands inside it (see kill_inside)


def killed_run(stage: str, delay_s: float, config: Path) -> tuple[int, str, str]:
    """Run the pipeline, SIGKILLed inside a shard `delay_s` or more after `stage` started (if
    it is still running); returns the exit status, the run's log and what it printed."""
    logs = config.parent / "ws" / "logs"
    before = set(logs.glob("*.log")) if logs.exists() else set()
    process = subprocess.run(
        [sys.executable, str(HERE / "kill_run.py"), stage, str(delay_s), str(config)],
        env=environment(), capture_output=True, text=True, start_new_session=True,
        timeout=900)
    assert process.returncode in (0, -signal.SIGKILL), (stage, process.stdout + process.stderr)
    (log,) = set(logs.glob("*.log")) - before
    return process.returncode, log.read_text(), process.stdout


def kill_inside(stage: str, delay_s: float, config: Path) -> float:
    """Kill a run inside `stage`, `delay_s` after it started; returns the delay that landed.

    A stage of a tenth of a second can end before the delay on a busy machine; then the
    workspace goes back to what it was and the run is killed again, sooner."""
    root, saved = config.parent / "ws", config.parent / "before-kill"
    shutil.rmtree(saved, ignore_errors=True)
    if root.exists():
        shutil.copytree(root, saved, symlinks=True)  # mtimes too: the index stays valid
    for _ in range(ATTEMPTS):
        status, log, printed = killed_run(stage, delay_s, config)
        # The kill landed inside the stage: it started and never finished, and a shard of it
        # was in progress: started (the killer says which) and not marked done.
        shard = re.search(r"^killed inside shard (\S+) of (\S+)$", printed, re.M)
        if status == -signal.SIGKILL and f"stage {stage} started" in log \
                and f"stage {stage} finished" not in log and shard \
                and not Workspace(str(root)).is_done(shard[2], shard[1]):
            return delay_s
        shutil.rmtree(root)
        if saved.exists():
            shutil.copytree(saved, root, symlinks=True)
        delay_s /= 4
    raise AssertionError(f"no kill landed inside {stage}; the last run's log:\n{log}")


def test_sigkill_inside_every_stage_then_resume_gives_the_same_bytes(chained, tmp_path):
    reference = chained[0] / "ws"
    wall = {name: json.loads((reference / "stages" / name / "timing.json").read_text())
            ["wall_s"] for name in STAGES}
    config = new_workspace(tmp_path)
    rng = random.Random(SEED)
    for stage in STAGES:
        chosen = rng.uniform(0.05, 0.5) * wall[stage]
        landed = kill_inside(stage, chosen, config)
        print(f"killed {landed:.3f} s into {stage} (chosen {chosen:.3f} s)")  # shown with -s

    process = realsyn("run", str(config))
    assert stages_ran(process.stdout) == ["write"]
    root = config.parent / "ws"
    assert temporaries(root) == []
    assert digests(root) == digests(reference)
    *status, total = realsyn("status", str(config)).stdout.splitlines()[1:]
    assert len(status) == len(STAGES) and all("up to date" in line for line in status)
    # every stage committed: no scratch of a killed attempt is left
    assert total == "scratch in total: 0 B"
    assert not [path for path in (root / "scratch").rglob("*") if path.is_file()]
