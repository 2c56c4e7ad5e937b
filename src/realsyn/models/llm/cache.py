"""A persistent request cache (SQLite): a resumed or repeated run never asks twice.

The key is the sha256 of the backend identity and the request content (messages, sampling
options), so any change to the prompt template, the model or the sampling settings misses.
Only successful answers are stored: failures are asked again on the next run. Each answer is
committed as soon as it arrives, so a killed run keeps everything it was told.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
from pathlib import Path

from realsyn.models.llm.base import ChatRequest


def request_key(identity: str, request: ChatRequest) -> str:
    body = {"identity": identity, **request.payload()}
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


BUSY_TIMEOUT_S = 60.0
SETUP = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
         "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, identity TEXT, "
         "request TEXT, response TEXT NOT NULL, created REAL)")


def _execute_when_unlocked(db: sqlite3.Connection, statement: str) -> None:
    """Run `statement`, again while another connection holds the lock it needs, for up to
    BUSY_TIMEOUT_S. Workers that open a new cache at once race to switch it to WAL, and
    SQLite answers the loser "database is locked" at once, without its busy timeout (waiting
    could deadlock), which killed a worker at start-up."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute(statement)
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class RequestCache:
    """`get`/`put` by key, with hit and miss counters for this process."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Several worker processes may share one file: WAL lets readers run beside a writer,
        # and the busy timeout makes a writer wait instead of failing.
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        for statement in SETUP:
            _execute_when_unlocked(self._db, statement)
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> str | None:
        row = self._db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return row[0]

    def put(self, key: str, identity: str, request: ChatRequest, response: str) -> None:
        # Autocommit mode: the answer is durable when this returns.
        self._db.execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)",
            (key, identity, _readable(request), response, time.time()))

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def keys(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT key FROM responses")}

    def close(self) -> None:
        self._db.close()


_DATA_URL = re.compile(r"data:([\w/+.-]+);base64,[A-Za-z0-9+/=]+")


def _readable(request: ChatRequest) -> str:
    """The request as stored for inspection: inline images are replaced by their size (the
    key already covers their bytes), so the cache stays small."""
    text = json.dumps(request.payload(), ensure_ascii=False)
    return _DATA_URL.sub(lambda m: f"data:{m.group(1)};base64,<{len(m.group(0))} chars>", text)
