"""Fixtures of the writer tests (builders: write_helpers.py)."""

from __future__ import annotations

import pytest
from write_helpers import PHOTOS, image_material

from realsyn.config import parse_config
from realsyn.stage import Context
from realsyn.workspace import Workspace


@pytest.fixture(scope="session")
def material() -> list[tuple[str, bytes]]:
    assert len(PHOTOS) >= 12, "the sample corpus must be present"
    return image_material()


@pytest.fixture
def make_context(tmp_path):
    def make(write: dict | None = None, balance: dict | None = None, name: str = "ws"
             ) -> Context:
        config = parse_config({
            "workspace": str(tmp_path / name),
            "executor": {"workers": 1, "shard_size": 7},
            "balance": {"min_similarity": -1.0, "max_similarity": 1.0, "cap": 1000,
                        **(balance or {})},
            "write": write or {},
        })
        return Context(config=config, workspace=Workspace(config.workspace))

    return make
