"""A reader that blocks inside C code for one file (test-only): libc's sleep() holds the
thread outside the interpreter, so no Python-level timeout (signal, thread) can stop it."""

from __future__ import annotations

import ctypes
import os
import sys
import time
from pathlib import Path

from realsyn.ingest.html import read_html


def read_html_stuck_in_c(unit, options, stats):
    if "stuck" in unit.file.relpath:
        ctypes.CDLL(None).sleep(600)
    yield from read_html(unit, options, stats)


def write_pid_and_hang(unit, options, stats):
    """Writes the reading process's pid to the file named by the unit, then blocks in C."""
    Path(unit).write_text(str(os.getpid()))
    ctypes.CDLL(None).sleep(600)
    yield from ()


if __name__ == "__main__":  # a parent that starts a reader child and waits (killed by a test)
    from realsyn.ingest.worker import ReaderProcess

    ReaderProcess(600).read(write_pid_and_hang, sys.argv[1], None)
    time.sleep(600)
