import shutil
import sys
from pathlib import Path

import pytest

# The helpers and the user extensions of this folder are imported by dotted path, by the
# tests and by the processes they start.
sys.path.insert(0, str(Path(__file__).parent))

from chained_pipeline import new_workspace, realsyn
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


@pytest.fixture(scope="session")
def chained(tmp_path_factory):
    """The whole pipeline run once through `realsyn run` with the real LLM backend, read-only:
    (its folder, the config's path, what the run printed). Tests copy it with
    `copy_chained`."""
    folder = tmp_path_factory.mktemp("chained")
    config = new_workspace(folder)
    return folder, config, realsyn("run", str(config)).stdout


@pytest.fixture
def copy_chained(chained, tmp_path):
    """A copy of the chained run's workspace (the corpus stays where it is) and a config
    naming it; returns the config's path."""
    folder, config, _ = chained
    shutil.copytree(folder / "ws", tmp_path / "ws", symlinks=True)  # keeps mtimes
    path = tmp_path / config.name
    path.write_text(config.read_text().replace(str(folder / "ws"), str(tmp_path / "ws")))
    return path
