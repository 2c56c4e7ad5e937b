"""Commits of stage outputs, tested alone (scripts/mutation.py mutates realsyn/commit.py)."""

from __future__ import annotations

from realsyn.commit import journal_path, location_url, state_path
from realsyn.workspace import Workspace


def test_paths_of_the_journal_and_the_state():
    assert journal_path("embed") == "stages/embed/commit.json"
    assert state_path("embed") == "stages/embed/state.json"


def test_locations_inside_the_workspace_are_joined_and_others_kept(tmp_path):
    workspace = Workspace(str(tmp_path / "ws"))
    assert location_url(workspace, "datasets/a") == f"{workspace.url}/datasets/a"
    assert location_url(workspace, "/data/out") == "/data/out"
    assert location_url(workspace, "s3://bucket/out") == "s3://bucket/out"
