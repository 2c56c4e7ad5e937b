"""Commits of stage outputs, tested alone (scripts/mutation.py mutates realsyn/commit.py): the
markers, the atomic exchange, the swap on local and object-store filesystems, the journal and
what a commit leaves behind."""

from __future__ import annotations

import ctypes
import errno
import json
import os
from types import SimpleNamespace

import fsspec
import pytest

from realsyn import commit
from realsyn.commit import (
    MARKER,
    discard_staging,
    folder_identity,
    folder_marker,
    journal_path,
    location_url,
    recover,
    remove_staged_temporaries,
    state_path,
)
from realsyn.workspace import Workspace


def test_paths_of_the_journal_and_the_state():
    assert journal_path("embed") == "stages/embed/commit.json"
    assert state_path("embed") == "stages/embed/state.json"


def test_locations_inside_the_workspace_are_joined_and_others_kept(tmp_path):
    workspace = Workspace(str(tmp_path / "ws"))
    assert location_url(workspace, "datasets/a") == f"{workspace.url}/datasets/a"
    assert location_url(workspace, "/data/out") == "/data/out"
    assert location_url(workspace, "s3://bucket/out") == "s3://bucket/out"
    # relative, whatever it starts with
    assert location_url(workspace, "XX/XXa") == f"{workspace.url}/XX/XXa"


def test_the_identity_of_a_folder_is_its_fingerprint_at_its_generation(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    assert folder_marker(str(folder)) is None and folder_identity(str(folder)) is None
    (folder / MARKER).write_text("{not json")
    assert folder_marker(str(folder)) is None and folder_identity(str(folder)) is None
    (folder / MARKER).write_text(json.dumps({"fingerprint": "f1", "generation": "g1",
                                             "stage": "s"}))
    assert folder_marker(str(folder)) == {"fingerprint": "f1", "generation": "g1", "stage": "s"}
    assert folder_identity(str(folder)) == "f1@g1"


def test_local_and_remote_filesystems_are_told_apart():
    assert commit._is_local(fsspec.filesystem("file"))
    assert not commit._is_local(fsspec.filesystem("memory"))
    # the protocol is a name, not a substring to look for
    assert not commit._is_local(SimpleNamespace(protocol="notafile"))
    assert commit._is_local(SimpleNamespace(protocol="file"))


def exchange_or_skip(first, second) -> None:
    if not commit._exchange(str(first), str(second)):
        pytest.skip("no renameat2(RENAME_EXCHANGE) on this kernel or filesystem")


def test_the_exchange_swaps_two_folders_in_one_step(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "from_a").write_text("a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "from_b").write_text("b")
    exchange_or_skip(tmp_path / "a", tmp_path / "b")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["from_b"]
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["from_a"]


def test_an_exchange_that_fails_names_the_error(tmp_path):
    (tmp_path / "b").mkdir()
    exchange_or_skip(tmp_path / "b", tmp_path / "b")  # the kernel has it
    ctypes.set_errno(0)  # ctypes' copy of errno: only a call that saves it may set it
    with pytest.raises(OSError) as error:
        commit._exchange(str(tmp_path / "missing"), str(tmp_path / "b"))
    assert error.value.errno == errno.ENOENT
    assert error.value.strerror == os.strerror(errno.ENOENT)
    assert error.value.filename == str(tmp_path / "missing")


def test_relative_paths_are_exchanged_from_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "from_a").write_text("a")
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path)
    exchange_or_skip("a", "b")
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["from_a"]
    assert list((tmp_path / "a").iterdir()) == []


class NoExchange:
    """A C library as seen through ctypes: without renameat2, or whose call fails with `code`."""

    def __init__(self, code: int | None):
        self.code = code
        if code is not None:
            self.renameat2 = self.fail

    def fail(self, *args):
        ctypes.set_errno(self.code)
        return -1


@pytest.mark.parametrize("code", [None, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP])
def test_no_exchange_where_libc_or_the_filesystem_lacks_it(tmp_path, monkeypatch, code):
    monkeypatch.setattr(ctypes, "CDLL", lambda name, use_errno=False: NoExchange(code))
    assert commit._exchange(str(tmp_path / "a"), str(tmp_path / "b")) is False


@pytest.mark.parametrize("exchange", [True, False])
def test_a_swap_puts_the_staged_folder_in_place_and_leaves_the_old_for_cleanup(
        tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(commit, "_exchange", lambda first, second: False)
    fs = fsspec.filesystem("file")
    staged, final = tmp_path / ".staging-out", tmp_path / "out"
    staged.mkdir()
    (staged / "new").write_text("new")
    commit._swap(fs, str(staged), str(final))  # nothing in place yet: a move
    assert [p.name for p in final.iterdir()] == ["new"] and not staged.exists()

    staged.mkdir()
    (staged / "newer").write_text("newer")
    old = tmp_path / ".old-out"
    old.mkdir()
    (old / "stale").write_text("a killed commit's")
    commit._swap(fs, str(staged), str(final))
    assert [p.name for p in final.iterdir()] == ["newer"]
    left = staged if exchange else old
    assert [p.name for p in left.iterdir()] == ["new"]


def test_a_move_on_an_object_store_copies_every_file_and_the_marker_last():
    fs = fsspec.filesystem("memory")
    root = "/realsyn-commit-move"
    for name in (MARKER, "a.parquet", "sub/b.parquet"):
        fs.pipe(f"{root}/src/{name}", name.encode())
    copied = []
    real_copy = fs.copy
    try:
        fs.copy = lambda path, target: (copied.append(target), real_copy(path, target))
        commit._move(fs, f"{root}/src", f"{root}/dst")
    finally:
        del fs.copy
    assert copied[-1] == f"{root}/dst/{MARKER}"
    assert sorted(copied) == sorted(f"{root}/dst/{name}"
                                    for name in (MARKER, "a.parquet", "sub/b.parquet"))
    assert not fs.exists(f"{root}/src")
    assert fs.cat(f"{root}/dst/sub/b.parquet") == b"sub/b.parquet"
    fs.rm(root, recursive=True)


def staged_folder(workspace: Workspace, location: str, files: dict[str, str]) -> None:
    fs, final = commit.filesystem(location_url(workspace, location))
    staged = commit.staging_path(final)
    fs.makedirs(staged, exist_ok=True)
    for name, text in files.items():
        fs.pipe(f"{staged}/{name}", text.encode())


@pytest.mark.parametrize("root", ["local", "memory://realsyn-commit-unit"])
def test_a_commit_marks_swaps_records_and_cleans_up(tmp_path, root):
    url = str(tmp_path / "ws") if root == "local" else root
    workspace = Workspace(url)
    outside = str(tmp_path / "outside") if root == "local" else f"{root}-outside"
    staged_folder(workspace, "datasets/a", {"00000.parquet": "one", ".tmp-00001.parquet": "x"})
    staged_folder(workspace, outside, {"00000.txt": "two"})
    state = {"fingerprint": "f1", "config": {"k": 1}, "inputs": {}}
    commit.commit(workspace, "s", ["datasets/a", outside, "datasets/empty"], state)

    fs = workspace.fs
    final_a = workspace.path("datasets/a")
    assert sorted(p.rsplit("/", 1)[1] for p in fs.ls(final_a, detail=False)) == [
        MARKER, "00000.parquet"]  # the killed writer's temporary is gone
    marker = folder_marker(location_url(workspace, "datasets/a"))
    assert set(marker) == {"generation", "stage", "fingerprint"}
    assert marker["stage"] == "s" and marker["fingerprint"] == "f1"
    assert len(marker["generation"]) == 32
    with fs.open(f"{final_a}/{MARKER}", "rb") as handle:  # written deterministically
        assert handle.read() == json.dumps(marker, sort_keys=True).encode()
    assert folder_marker(outside) == marker  # one generation for every output
    assert folder_marker(location_url(workspace, "datasets/empty")) == marker
    assert workspace.read_json(state_path("s")) == {**state, "committed": True}
    assert not workspace.exists(journal_path("s"))
    leftovers = [p for p in fs.find(workspace.root, withdirs=True)
                 if "/.staging-" in p or "/.old-" in p]
    assert leftovers == []

    # a second commit replaces the folder as a whole
    staged_folder(workspace, "datasets/a", {"00009.parquet": "new"})
    commit.commit(workspace, "s", ["datasets/a"], {"fingerprint": "f2"})
    assert sorted(p.rsplit("/", 1)[1] for p in fs.ls(final_a, detail=False)) == [
        MARKER, "00009.parquet"]
    assert folder_marker(location_url(workspace, "datasets/a"))["generation"] != \
        marker["generation"]
    if root != "local":
        fs.rm(workspace.root, recursive=True)
        fs.rm(outside.split("://", 1)[1], recursive=True)


def test_recovery_finishes_only_the_stages_with_a_journal(tmp_path, monkeypatch):
    workspace = Workspace(str(tmp_path / "ws"))
    staged_folder(workspace, "datasets/a", {"00000.parquet": "one"})
    monkeypatch.setattr(commit, "_finish", lambda workspace, stage: None)  # killed before it
    commit.commit(workspace, "killed", ["datasets/a"], {"fingerprint": "f1"})
    monkeypatch.undo()
    workspace.write_json(state_path("other"), {"committed": True})
    assert recover(workspace) == ["killed"]
    assert workspace.read_json(state_path("killed"))["committed"] is True
    assert folder_identity(location_url(workspace, "datasets/a")).startswith("f1@")
    assert recover(workspace) == []


def test_staged_temporaries_are_counted_and_staging_discarded(tmp_path):
    workspace = Workspace(str(tmp_path / "ws"))
    outside = str(tmp_path / "outside")
    staged_folder(workspace, "datasets/a", {".tmp-1": "x", ".tmp-2": "y", "00000.parquet": "z"})
    staged_folder(workspace, outside, {".tmp-3": "x"})
    assert remove_staged_temporaries(workspace, ["datasets/a", outside, "datasets/none"]) == 3
    assert (tmp_path / "ws" / "datasets" / ".staging-a" / "00000.parquet").exists()
    discard_staging(workspace, ["datasets/a", outside, "datasets/none"])
    assert not (tmp_path / "ws" / "datasets" / ".staging-a").exists()
    assert not (tmp_path / ".staging-outside").exists()
