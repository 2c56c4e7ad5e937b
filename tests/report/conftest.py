"""Fixtures of the report tests: a finished workspace built from real photos and real stages."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from report_workspace import build_workspace


@pytest.fixture(scope="session")
def finished_workspace(tmp_path_factory):
    """(config, workspace) after balance and write ran on a built `generated` dataset."""
    return build_workspace(tmp_path_factory.mktemp("report") / "ws")
