import shutil
import sys
from pathlib import Path

import pytest

# The helpers and the user extensions of this folder are imported by dotted path, by the
# tests and by the processes they start.
sys.path.insert(0, str(Path(__file__).parent))

from small_pipeline import finished_workspace


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """A workspace that went through the whole pipeline once (fast settings), read-only:
    tests copy it with `copy_finished`."""
    return finished_workspace(tmp_path_factory.mktemp("finished"))


@pytest.fixture
def copy_finished(finished, tmp_path):
    def copy(name: str = "ws") -> tuple[Path, dict]:
        root, config = finished
        target = tmp_path / name
        shutil.copytree(root, target, symlinks=True)  # keeps mtimes: the index stays valid
        return target, {**config, "workspace": str(target)}
    return copy
