"""`realsyn run CONFIG` that SIGKILLs its own process group DELAY seconds after the run log
says that STAGE started:  python kill_run.py STAGE DELAY CONFIG

The signal is the one `kill -9 -PGID` sends: nothing in the run can catch it or clean up, and
it takes the shard workers down with the driver. It comes from a timer thread armed by the
run log's own "stage X started" record, so that it lands inside stages that last a tenth of a
second, which a process polling the log file from outside would miss."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading


class KillInside(logging.Handler):
    def __init__(self, stage: str, delay_s: float):
        super().__init__(logging.INFO)
        self.stage, self.delay_s = stage, delay_s

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(f"stage {self.stage} started"):
            timer = threading.Timer(self.delay_s, os.killpg, (os.getpgrp(), signal.SIGKILL))
            timer.daemon = True
            timer.start()


def main() -> None:
    stage, delay, config = sys.argv[1:]
    sys.setswitchinterval(1e-4)  # the timer thread gets the interpreter promptly
    logging.getLogger("realsyn.run").addHandler(KillInside(stage, float(delay)))
    from realsyn.cli import app

    app(["run", config], prog_name="realsyn")


if __name__ == "__main__":
    main()
