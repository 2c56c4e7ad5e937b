"""A reader that blocks inside C code for one file (test-only): libc's sleep() holds the
thread outside the interpreter, so no Python-level timeout (signal, thread) can stop it."""

from __future__ import annotations

import ctypes

from realsyn.ingest.html import read_html


def read_html_stuck_in_c(unit, options, stats):
    if "stuck" in unit.file.relpath:
        ctypes.CDLL(None).sleep(600)
    yield from read_html(unit, options, stats)
