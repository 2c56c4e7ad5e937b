import sys
from pathlib import Path

import pytest

from realsyn.config import parse_config
from realsyn.stage import Context
from realsyn.workspace import Workspace

# synthetic_retrieval.py is imported by the tests of this folder.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def make_context(tmp_path):
    def make(retrieve: dict | None = None) -> Context:
        # routed search, no cap, unless a test asks: the corpora here are small
        retrieve = {"exact_search_max_products": 0, "max_uses_share": None, **(retrieve or {})}
        config = parse_config({"workspace": str(tmp_path / "ws"), "retrieve": retrieve,
                               "executor": {"workers": 1}})
        return Context(config=config, workspace=Workspace(config.workspace))

    return make
