"""Fixtures of the balance tests (builders: balance_helpers.py)."""

from __future__ import annotations

import pytest

from realsyn.config import parse_config
from realsyn.stage import Context
from realsyn.workspace import Workspace


@pytest.fixture
def make_context(tmp_path):
    def make(balance: dict | None = None, name: str = "ws") -> Context:
        config = parse_config({"workspace": str(tmp_path / name), "balance": balance or {},
                               "executor": {"workers": 1, "shard_size": 40}})
        return Context(config=config, workspace=Workspace(config.workspace))

    return make
