"""The per-file wall-time limit stops a reader stuck in C code, and keeps the other files."""

from __future__ import annotations

import time

from realsyn.ingest import stage as ingest_stage

from .helpers import run_ingest
from .stuck_reader import read_html_stuck_in_c


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
