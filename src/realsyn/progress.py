"""Progress of a stage: shards done, and records done inside the shards still running.

Workers count records as a stage processes them (`expect` and `advance`, called from a stage's
`process`); each worker sends its running shard's count to the driver through a `sink` the
executor installs (a direct call in the driver's own process, a multiprocessing queue from a
local worker pool, a Ray queue from Ray actors), at most every `SEND_EVERY_S`. The driver's
`StageProgress` adds them to the shards already finished. On a terminal it is a tqdm bar over
shards whose postfix shows the records; elsewhere (batch jobs, Ray drivers) it writes one line
every `interval_s` seconds to stderr and to the run log, also while a long shard is running, so
a slow job is distinguishable from a stuck one:

    [generate] 0/3 shards, 41/~79 records, 0.5 records/s, 2 shards running, elapsed 1:30, ETA 1:16

Progress only ever goes to the terminal and the log, never into a stage's outputs or
fingerprints.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

from realsyn.stage import RECORDS

logger = logging.getLogger("realsyn.progress")

# Seconds between progress lines when stderr is not a terminal; the run sets it from
# `executor.progress_interval_s` (see realsyn.runlog).
DEFAULT_INTERVAL_S = 30.0
_interval_s = DEFAULT_INTERVAL_S
# Seconds between redraws of the bar's record counts on a terminal.
TERMINAL_REFRESH_S = 1.0
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} shards [{elapsed}{postfix}]"
# The longest a worker keeps a count to itself: a few messages a second per worker at most.
SEND_EVERY_S = 0.5


def set_interval(seconds: float) -> None:
    global _interval_s
    _interval_s = float(seconds)


def interval() -> float:
    return _interval_s


def send_every(interval_s: float | None = None) -> float:
    """How often workers send their counts: often enough for lines every `interval_s`."""
    interval_s = _interval_s if interval_s is None else interval_s
    return min(SEND_EVERY_S, interval_s / 2) if interval_s > 0 else SEND_EVERY_S


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# ------------------------------------------------------------------ the worker's side
Sink = Callable[[str, int, "int | None"], None]  # (shard, records done, records expected)


class _Task:
    """The record count of the shard a worker is processing."""

    def __init__(self, key: str, sink: Sink, every_s: float):
        self.key, self.sink, self.every_s = key, sink, every_s
        self.done, self.total = 0, None
        self.sent = -float("inf")
        self.lock = threading.Lock()  # a stage may count from its helper threads

    def count(self, advance: int = 0, total: int | None = None) -> None:
        with self.lock:
            self.done += advance
            if total is not None:
                self.total = total
            now = time.monotonic()
            if total is None and now - self.sent < self.every_s:
                return
            self.sent = now
            message = (self.key, self.done, self.total)
        try:
            self.sink(*message)
        except Exception as error:  # progress must never fail a shard
            logger.debug("progress of shard %s not sent: %s", self.key, error)


_sink: Sink | None = None
_every_s = SEND_EVERY_S
_task: _Task | None = None


def set_sink(sink: Sink | None, every_s: float = SEND_EVERY_S) -> None:
    """Where this process's workers send their counts (None: nowhere)."""
    global _sink, _every_s
    _sink, _every_s = sink, every_s


@contextmanager
def sending_to(sink: Sink, every_s: float = 0.0) -> Iterator[None]:
    """`set_sink` for a block, then the previous sink again (shards run in the driver)."""
    previous = _sink, _every_s
    set_sink(sink, every_s)
    try:
        yield
    finally:
        set_sink(*previous)


@contextmanager
def task(key: str) -> Iterator[None]:
    """Count the records of shard `key` while the block runs (the executor wraps `process`)."""
    global _task
    _task = _Task(key, _sink, _every_s) if _sink is not None else None
    try:
        if _task is not None:
            _task.count()  # the shard started: the driver starts its rate clock
        yield
    finally:
        _task = None


def expect(records: int) -> None:
    """In a stage's `process`: the shard has `records` input records (sent at once)."""
    current = _task
    if current is not None:
        current.count(total=int(records))


def advance(records: int = 1) -> None:
    """In a stage's `process`: `records` more input records are done. Cheap; a no-op outside
    an executor's task."""
    current = _task
    if current is not None:
        current.count(advance=int(records))


@contextmanager
def relayed(receive: Callable[[float], list[tuple]], sink: Sink,
            poll_s: float = 0.2) -> Iterator[None]:
    """Pass the messages `receive(timeout)` returns to `sink` from a thread while the block
    runs (the driver's end of a worker pool's queue)."""
    stop = threading.Event()

    def pump() -> None:
        while not stop.is_set():
            try:
                messages = receive(poll_s)
            except Exception as error:  # a closed queue at shutdown: progress only
                logger.debug("progress messages lost: %s", error)
                return
            for message in messages:
                sink(*message)

    thread = threading.Thread(target=pump, name="progress-relay", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# ------------------------------------------------------------------ library bars
# Hugging Face libraries draw a tqdm bar per model load ("Loading weights") and per download;
# from several workers they garble our progress and fill a batch job's log.
LIBRARY_BAR_SWITCHES = {"HF_HUB_DISABLE_PROGRESS_BARS": "1"}


def silence_library_bars() -> None:
    """In a worker process (for good): no progress bars from model libraries. The variables
    reach libraries imported later; those imported already are switched off directly. A user
    who set a variable otherwise (HF_HUB_DISABLE_PROGRESS_BARS=0) keeps the bars, as the hub
    library itself has it."""
    if any(os.environ.get(name, value) != value for name, value in LIBRARY_BAR_SWITCHES.items()):
        return
    for name, value in LIBRARY_BAR_SWITCHES.items():
        os.environ.setdefault(name, value)
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


@contextmanager
def library_bars_silenced() -> Iterator[None]:
    """`silence_library_bars` for a block of the driver's process, then as before (a
    program that runs realsyn from Python keeps its own settings)."""
    added = [name for name in LIBRARY_BAR_SWITCHES if name not in os.environ]
    restore = []
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        if transformers_logging.is_progress_bar_enabled():
            restore.append(transformers_logging.enable_progress_bar)
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars

        if not are_progress_bars_disabled():
            restore.append(enable_progress_bars)
    silence_library_bars()
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)
        for switch_on in restore:
            switch_on()


# ------------------------------------------------------------------ the driver's side
class StageProgress:
    """Shards done of `total` (`initial` of them before this run), and the records of this
    run: those of finished shards plus the counts workers send for running ones."""

    def __init__(self, total: int, initial: int, desc: str, interval_s: float | None = None,
                 stream: Any = None, pending: Iterable[str] | None = None):
        self.total, self.initial, self.desc = total, initial, desc
        # The shards of this run: a worker pool kept for a stage's next step may still deliver
        # a late count of the step before.
        self.pending = None if pending is None else set(pending)
        self.stream = stream if stream is not None else sys.stderr
        self.shards_done = initial
        self.finished_records = 0
        self.finished_known = 0  # finished shards that reported a record count
        self.running: dict[str, tuple[int, int | None]] = {}
        self.finished: set[str] = set()
        self.started = time.monotonic()
        self.first_task: float | None = None  # the rate ignores the model loading before it
        self._emitted: tuple[int, int] | None = None  # (shards, records) of the last line
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        # tqdm's own rate and ETA count whole shards: the postfix has them by records
        self.bar = tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True,
                        file=self.stream, bar_format=BAR_FORMAT) if terminal else None
        every = TERMINAL_REFRESH_S if terminal else (
            _interval_s if interval_s is None else interval_s)
        if every > 0 and initial < total:
            self._thread = threading.Thread(target=self._tick, args=(every,), daemon=True,
                                            name=f"progress-{desc}")
            self._thread.start()

    # what executors and workers report
    def update(self, key: str, done: int, total: int | None) -> None:
        """A worker's count for running shard `key` (late messages of finished shards, and
        of shards not of this run, are ignored)."""
        with self._lock:
            if key in self.finished or (self.pending is not None and key not in self.pending):
                return
            if self.first_task is None:
                self.first_task = time.monotonic()
            # two threads of a worker may send out of order: a count never goes back
            before, known = self.running.get(key, (0, None))
            self.running[key] = (max(done, before), known if total is None else total)

    def finish(self, key: str, stats: dict[str, Any]) -> None:
        """Shard `key` finished with `stats`."""
        with self._lock:
            self.finished.add(key)
            self.running.pop(key, None)
            self.shards_done += 1
            if self.first_task is None:
                self.first_task = self.started
            if RECORDS in stats:
                self.finished_records += int(stats[RECORDS])
                self.finished_known += 1
        if self.bar is not None:  # the bar redraws now: with this shard's records
            self.bar.set_postfix_str(self.detail(), refresh=False)
            self.bar.update(1)

    # what is shown
    def records(self) -> tuple[int, int | None, bool]:
        """Records done in this run, those expected in it (None: unknown) and whether that is
        an estimate: shards not started yet count as the mean of the known ones."""
        with self._lock:
            running = list(self.running.values())
            done = self.finished_records + sum(count for count, _ in running)
            known = [total for _, total in running if total is not None]
            shards_known = self.finished_known + len(known)
            pending = self.total - self.initial
            expected = self.finished_records + sum(known)
        if shards_known == 0:
            return done, None, False
        unknown = pending - shards_known
        if unknown > 0:
            expected += round(unknown * expected / shards_known)
        return done, max(expected, done), unknown > 0

    def _parts(self) -> tuple[list[str], str | None]:
        """The records parts (`41/~79 records`, `0.5 records/s`) and the ETA part, if any."""
        done, expected, estimated = self.records()
        now = time.monotonic()
        parts = [f"{done}/{'~' if estimated else ''}{expected} records"
                 if expected is not None else f"{done} records"]
        with self._lock:
            first, shards_done, running = self.first_task, self.shards_done, len(self.running)
        eta = None
        rate = done / (now - first) if first is not None and now > first else 0.0
        if rate > 0:
            parts.append(f"{rate:.1f} records/s")
            if expected is not None:
                eta = (expected - done) / rate
        if running:  # workers past their model loading, also in a stage that counts no records
            parts.append(f"{running} shard{'s' if running > 1 else ''} running")
        shard_rate = (shards_done - self.initial) / (now - self.started)
        if eta is None and shard_rate > 0:  # no record counts: by whole shards
            eta = (self.total - shards_done) / shard_rate
        if eta is None or shards_done >= self.total:
            return parts, None
        return parts, f"ETA {format_duration(eta)}"

    def detail(self) -> str:
        """What a terminal's bar adds to its shard count."""
        parts, eta = self._parts()
        return ", ".join(parts + ([eta] if eta else []))

    def line(self) -> str:
        parts, eta = self._parts()
        elapsed = f"elapsed {format_duration(time.monotonic() - self.started)}"
        head = f"[{self.desc}] {self.shards_done}/{self.total} shards"
        return ", ".join([head, *parts, elapsed] + ([eta] if eta else []))

    def emit(self, final: bool = False) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(self.detail())
            return
        state = (self.shards_done, self.records()[0])
        if final and state == self._emitted:
            return  # the last tick already said it
        self._emitted = state
        text = self.line()
        print(text, file=self.stream, flush=True)
        logger.info(text)

    def _tick(self, every: float) -> None:
        while not self._closed.wait(every):
            self.emit()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._thread is not None:
            self._thread.join()
            self.emit(final=True)  # the final count, only when lines were being written
        if self.bar is not None:
            self.bar.close()


def progress_bar(total: int, initial: int, desc: str, interval_s: float | None = None,
                 pending: Iterable[str] | None = None) -> StageProgress:
    """The progress display of a stage over `total` shards, `initial` of them already done
    and `pending` to run."""
    return StageProgress(total, initial, desc, interval_s, pending=pending)
