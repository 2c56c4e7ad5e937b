"""Progress of a stage's shards: a tqdm bar on a terminal, a logged line every N seconds elsewhere.

Batch jobs and Ray drivers have no terminal, where a bar would print nothing useful: there a
`LineProgress` writes one line (done/total shards, records, rate, ETA) to stderr and to the
run log every `interval_s` seconds, also while a long shard is still running, so a silent job is
distinguishable from a stuck one.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

from tqdm import tqdm

logger = logging.getLogger("realsyn.progress")

# Seconds between progress lines when stderr is not a terminal; the run sets it from
# `executor.progress_interval_s` (see realsyn.runlog).
DEFAULT_INTERVAL_S = 30.0
_interval_s = DEFAULT_INTERVAL_S


def set_interval(seconds: float) -> None:
    global _interval_s
    _interval_s = float(seconds)


def interval() -> float:
    return _interval_s


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class LineProgress:
    """The subset of tqdm's interface the executors use, reported as periodic log lines."""

    def __init__(self, total: int, initial: int, desc: str, interval_s: float,
                 stream: Any = None):
        self.total, self.n, self.desc = total, initial, desc
        self.initial = initial
        self.postfix: dict[str, Any] = {}
        self.interval_s = interval_s
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = None
        if interval_s > 0 and initial < total:
            self._thread = threading.Thread(target=self._tick, daemon=True,
                                            name=f"progress-{desc}")
            self._thread.start()

    def update(self, n: int = 1) -> None:
        with self._lock:
            self.n += n

    def set_postfix(self, **values: Any) -> None:
        with self._lock:
            self.postfix.update(values)

    def line(self) -> str:
        with self._lock:
            done, postfix = self.n, dict(self.postfix)
        elapsed = time.monotonic() - self.started
        rate = (done - self.initial) / elapsed if elapsed > 0 else 0.0
        parts = [f"[{self.desc}] {done}/{self.total} shards", f"elapsed {format_duration(elapsed)}"]
        parts += [f"{key}={value}" for key, value in postfix.items()]
        records = postfix.get("records")
        if isinstance(records, int | float) and elapsed > 0:
            parts.append(f"{records / elapsed:.1f} records/s")
        if rate > 0 and done < self.total:
            parts.append(f"ETA {format_duration((self.total - done) / rate)}")
        return ", ".join(parts)

    def emit(self) -> None:
        text = self.line()
        print(text, file=self.stream, flush=True)
        logger.info(text)

    def _tick(self) -> None:
        while not self._closed.wait(self.interval_s):
            self.emit()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._thread is not None:
            self._thread.join()
            self.emit()  # the final count, once, only when lines were being written


def progress_bar(total: int, initial: int, desc: str, interval_s: float | None = None):
    """A progress display over `total` shards, of which `initial` are already done."""
    if sys.stderr.isatty():
        return tqdm(total=total, initial=initial, desc=desc, unit="shard", dynamic_ncols=True,
                    file=sys.stderr)
    return LineProgress(total, initial, desc, _interval_s if interval_s is None else interval_s)
