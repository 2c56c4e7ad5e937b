"""A stage's outputs are replaced as a whole, also when the process dies during the swap."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import swap_stage

from realsyn.commit import recover
from realsyn.workspace import Workspace

HERE = Path(__file__).parent


def folder_state(folder: Path) -> tuple[str, ...]:
    """The visible content of an output folder as a reader lists it (dot files aside)."""
    return tuple(sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")))


OLD = (("00000.parquet", "00001.parquet", "00002.parquet", "00003.parquet", "00004.parquet"),
       ("00000.txt", "00001.txt", "00002.txt", "00003.txt", "00004.txt"))
NEW = (("00000.parquet", "00001.parquet"), ("00000.txt", "00001.txt"))


@pytest.mark.parametrize("exchange", [True, False])
@pytest.mark.parametrize("swaps", [0, 1, 2])
def test_sigkill_during_the_swap_leaves_old_or_new_and_recovery_completes(
        tmp_path, swaps, exchange):
    root = tmp_path / "ws"
    swap_stage.run(str(root), 5)
    folders = (root / "datasets" / "numbers", root / "listing")
    assert tuple(folder_state(f) for f in folders) == OLD

    process = subprocess.run([sys.executable, str(HERE / "swap_stage.py"), str(root), "2",
                              str(swaps), "1" if exchange else "0"], capture_output=True)
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()
    for folder, old, new in zip(folders, OLD, NEW, strict=True):
        assert folder_state(folder) in (old, new)  # a complete set, never a mix or nothing
    swapped = [folder_state(f) == n for f, n in zip(folders, NEW, strict=True)]
    assert swapped == [i < swaps for i in range(2)]

    assert recover(Workspace(str(root))) == ["numbers"]
    assert tuple(folder_state(f) for f in folders) == NEW
    assert not list(root.rglob(".staging-*")) and not list(root.rglob(".old-*"))
    state = json.loads((root / "stages" / "numbers" / "state.json").read_text())
    assert state["committed"] and state["config"] == {"executor.shard_size": 2}
    assert not (root / "stages" / "numbers" / "commit.json").exists()
    # The recovered workspace is up to date: running again changes nothing.
    before = {p: p.stat().st_mtime_ns for p in folders[0].iterdir()}
    swap_stage.run(str(root), 2)
    assert {p: p.stat().st_mtime_ns for p in folders[0].iterdir()} == before


def test_a_run_with_fewer_shards_leaves_exactly_the_new_set(tmp_path):
    root = tmp_path / "ws"
    swap_stage.run(str(root), 5)
    swap_stage.run(str(root), 2)
    folders = (root / "datasets" / "numbers", root / "listing")
    assert tuple(folder_state(f) for f in folders) == NEW
    assert Workspace(str(root)).read_dataset("numbers").column("of").to_pylist() == [2] * 6


def test_outputs_are_replaced_as_a_whole_on_any_fsspec_filesystem():
    root = "memory://realsyn-commit-test"
    swap_stage.run(root, 5)
    swap_stage.run(root, 2)
    workspace = Workspace(root)
    assert workspace.shards("numbers") == ["00000", "00001"]
    listing = sorted(p.rsplit("/", 1)[1] for p in workspace.fs.ls(workspace.path("listing"),
                                                                   detail=False))
    assert [name for name in listing if not name.startswith(".")] == ["00000.txt", "00001.txt"]
    leftovers = [p for p in workspace.fs.find(workspace.root, withdirs=True)
                 if "/.staging-" in p or "/.old-" in p]
    assert leftovers == []
