"""The per-file wall-time limit stops a reader stuck in C code, and keeps the other files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from realsyn.ingest import stage as ingest_stage

from .helpers import run_ingest
from .stuck_reader import read_html_stuck_in_c

TESTS = Path(__file__).resolve().parents[1]


def test_a_file_stuck_in_c_code_is_stopped_and_counted(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.html", "stuck.html", "z.html"):
        (folder / name).write_text(f"<p>The page {name} shows a dog at the door.</p>")
    # The reader travels to the reading process by reference: the swapped one is used there.
    monkeypatch.setitem(ingest_stage.READERS, "html", read_html_stuck_in_c)
    started = time.monotonic()
    workspace, stats = run_ingest(tmp_path / "ws", [{"path": str(folder)}], file_timeout_s=3)
    assert time.monotonic() - started < 60  # not the 600 s the file would take
    assert stats["files_failed_file_timeout"] == 1
    assert workspace.read_dataset("texts")["text"].to_pylist() == [
        "The page a.html shows a dog at the door.", "The page z.html shows a dog at the door."]
    per_file = workspace.read_json("stages/ingest/files/00000.json")
    assert per_file["stuck.html"]["error"] == "file_timeout"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead; only its parent could reap it.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_the_reading_process_dies_with_its_parent(tmp_path):
    marker = tmp_path / "child.pid"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    parent = subprocess.Popen([sys.executable, "-m", "ingest.stuck_reader", str(marker)],
                              cwd=TESTS, env=env)
    child = None
    try:
        deadline = time.monotonic() + 120
        while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
            assert parent.poll() is None
            time.sleep(0.2)
        child = int(marker.read_text())
        assert _alive(child)
        os.kill(parent.pid, signal.SIGKILL)  # the parent alone, as an OOM killer would
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        if parent.poll() is None:
            parent.kill()
        if child is not None and _alive(child):
            os.kill(child, signal.SIGKILL)
