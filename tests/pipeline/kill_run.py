"""`realsyn run CONFIG` that SIGKILLs its own process group inside a shard of STAGE, DELAY
seconds or more after the run log says that STAGE started:  python kill_run.py STAGE DELAY CONFIG

The signal is the one `kill -9 -PGID` sends: nothing in the run can catch it or clean up, and
it takes the shard workers down with the driver. It comes from a timer thread armed by the
run log's own "stage X started" record, so that it lands inside stages that last a tenth of a
second, which a process polling the log file from outside would miss. A timer that fires
between shards (planning, a barrier between steps, the commit) waits for the next shard to
start, so the kill always finds a shard in progress; before the signal the run prints
"killed inside shard SHARD of STAGE_NAME" (the name its completion markers are kept under)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

KILLED = "killed inside shard {shard} of {name}"


class KillInside(logging.Handler):
    def __init__(self, stage: str, delay_s: float):
        super().__init__(logging.INFO)
        self.stage, self.delay_s = stage, delay_s
        self.lock = threading.Lock()
        self.running: list[tuple[str, str]] = []  # (stage name, shard) being processed
        self.due = False

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(f"stage {self.stage} started"):
            timer = threading.Timer(self.delay_s, self.fire)
            timer.daemon = True
            timer.start()

    def fire(self) -> None:
        with self.lock:  # a shard cannot end (leave `running`) while this holds the lock
            if not self.running:
                self.due = True
                return
            name, shard = self.running[-1]
            os.write(1, (KILLED.format(shard=shard, name=name) + "\n").encode())
            os.killpg(os.getpgrp(), signal.SIGKILL)

    def around_shards(self, run_one_shard):
        def run(stage, ctx, shard):
            with self.lock:
                self.running.append((stage.name, shard))
                if self.due:  # the kill came between shards: it takes this one
                    self.due = False
                    threading.Timer(0, self.fire).start()
            try:
                return run_one_shard(stage, ctx, shard)
            finally:
                with self.lock:
                    self.running.remove((stage.name, shard))
        return run


def main() -> None:
    stage, delay, config = sys.argv[1:]
    sys.setswitchinterval(1e-4)  # the timer thread gets the interpreter promptly
    killer = KillInside(stage, float(delay))
    logging.getLogger("realsyn.run").addHandler(killer)
    from realsyn.executors import local

    # the run has one worker: every shard runs here, through the local executor
    local.run_one_shard = killer.around_shards(local.run_one_shard)
    from realsyn.cli import app

    app(["run", config], prog_name="realsyn")


if __name__ == "__main__":
    main()
