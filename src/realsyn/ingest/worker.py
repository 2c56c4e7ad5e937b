"""Readers run in a child process that can be killed: the per-file wall-time limit.

A reader can be stuck where Python cannot interrupt it: in C code (a PDF library on a crafted
file, a decompressor, a parser) a signal or a thread timeout never fires. So the files of a
shard are read in one spawned child process, one file (or block) at a time; when a file runs
past `ingest.file_timeout_s` the child is killed, the file counted as `file_timeout`, and a
fresh child reads the files after it. The child dies with its parent (PR_SET_PDEATHSIG on
Linux), so a killed worker never leaves a reader running. The child measures its own peak
resident memory per file (`peak_rss_mib`): the task's memory is the worker's and the reader's.

The reader itself travels to the child by reference (pickled as module + name), so any
importable reader function works, including ones a test swaps in. One child serves all the
shards a worker process runs (`shared_reader`): starting an interpreter per shard would cost
more than reading a small shard.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from realsyn import memory
from realsyn.ingest.sources import WorkUnit

FILE_TIMEOUT = "file_timeout"
PR_SET_PDEATHSIG = 1

Reader = Callable[[WorkUnit, Any, Counter], Iterator[dict[str, Any]]]
# (documents, the file's counters, an error message or None)
Result = tuple[list[dict[str, Any]], Counter, str | None]


def read_unit(reader: Reader, unit: WorkUnit, options: Any) -> Result:
    """Run one reader over one unit; an unforeseen failure keeps what was read before it."""
    stats: Counter[str] = Counter(files_in=1)
    documents: list[dict[str, Any]] = []
    error = None
    try:
        documents.extend(reader(unit, options, stats))
    except Exception as exc:  # an unforeseen failure loses (the rest of) one file only
        stats[f"files_failed_{type(exc).__name__}"] += 1
        error = f"{type(exc).__name__}: {exc}"[:500]
    return documents, stats, error


def _die_with_parent(parent: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the call above
        os._exit(1)


def _serve(connection: Any, parent: int) -> None:
    _die_with_parent(parent)
    while True:
        try:
            message = connection.recv()
        except EOFError:
            return
        if message is None:
            return
        reader, unit, options = message
        memory.reset_peak()  # the unit's own peak: the file is parsed here, not in the worker
        result = read_unit(reader, unit, options)
        connection.send((result, memory.peak_rss_mib()))


class ReaderProcess:
    """One child process reading units on request; `read` kills it past the time limit."""

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self.process: Any = None
        self.connection: Any = None
        self.peak_rss_mib = 0.0  # the child's highest peak over the units since reset_peak

    def reset_peak(self) -> None:
        self.peak_rss_mib = 0.0

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, os.getpid()),
                                       name="realsyn-ingest-reader", daemon=True)
        self.process.start()
        child.close()

    def read(self, reader: Reader, unit: WorkUnit, options: Any) -> Result:
        if multiprocessing.current_process().daemon:
            return read_unit(reader, unit, options)  # may not have children: no time limit
        if self.process is None or not self.process.is_alive():
            self._start()
        try:
            self.connection.send((reader, unit, options))
            if self.connection.poll(self.timeout_s):
                result, peak = self.connection.recv()
                self.peak_rss_mib = max(self.peak_rss_mib, peak)
                return result
            reason = FILE_TIMEOUT
        except (EOFError, OSError):  # the child died (out of memory, a crash in C code)
            reason = "reader_crashed"
        self.stop(kill=True)
        return [], Counter({"files_in": 1, f"files_failed_{reason}": 1}), reason

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if not kill and self.process.is_alive():
            with contextlib.suppress(OSError, BrokenPipeError):
                self.connection.send(None)
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.connection.close()
        self.process = self.connection = None

    def __enter__(self) -> ReaderProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_SHARED: ReaderProcess | None = None


def shared_reader(timeout_s: float) -> ReaderProcess:
    """This process's reader child (started on first use, replaced when killed)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = ReaderProcess(timeout_s)
        atexit.register(_SHARED.stop)
    _SHARED.timeout_s = timeout_s
    return _SHARED
