import ctypes
import io
import os
import pickle
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from realsyn.config import RealsynConfig
from realsyn.pipeline import run_pipeline
from realsyn.workspace import Workspace, WorkspaceError


def test_tables_arrays_and_json_round_trip(tmp_path):
    workspace = Workspace(str(tmp_path / "ws"))
    table = pa.table({"a": [1, 2, 3]})
    workspace.write_table("things", "00001", table)
    workspace.write_table("things", "00000", table)
    assert workspace.shards("things") == ["00000", "00001"]
    assert workspace.read_dataset("things").num_rows == 6
    assert workspace.count_rows("things") == 6
    array = np.arange(12, dtype=np.float16).reshape(3, 4)
    workspace.write_array("things", "00000", array)
    np.testing.assert_array_equal(workspace.read_array("things", "00000"), array)
    assert workspace.manifest()["datasets"] == {"things": "npy"} or \
        set(workspace.manifest()["datasets"]) == {"things"}


def test_temporary_files_never_look_finished(tmp_path):
    workspace = Workspace(str(tmp_path))
    workspace.write_table("things", "00000", pa.table({"a": [1]}))
    # What a process killed during a write leaves behind:
    (tmp_path / "datasets" / "things" / ".tmp-dead-00001.parquet").write_bytes(b"PAR1 half")
    assert workspace.shards("things") == ["00000"]
    assert not list((tmp_path / "datasets" / "things").glob(".tmp-*00000*"))


def test_stats_merge_over_finished_shards(tmp_path):
    workspace = Workspace(str(tmp_path))
    workspace.mark_done("stage", "00000", {"records_in": 3, "dropped_small": 1, "label": "x"})
    workspace.mark_done("stage", "00001", {"records_in": 4, "dropped_small": 2})
    assert workspace.merge_stats("stage") == {"dropped_small": 3, "records_in": 7}
    assert workspace.stage_stats("stage") == {"dropped_small": 3, "records_in": 7}


def test_fsspec_memory_filesystem(tmp_path):
    workspace = Workspace("memory://realsyn-test")
    workspace.write_table("things", "00000", pa.table({"a": [1, 2]}))
    assert workspace.read_dataset("things").num_rows == 2
    workspace.write_array("emb", "00000", np.ones((2, 3), dtype=np.float16))
    assert workspace.read_array("emb", "00000").shape == (2, 3)


# ---------------------------------------------------------------- unwritable workspaces
def _cli(args: list[str], preexec_fn=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # this test's realsyn
    return subprocess.run([sys.executable, "-B", "-m", "realsyn", *args], capture_output=True,
                          text=True, env=env, preexec_fn=preexec_fn, timeout=120)


# Root writes anywhere because of two capabilities; without them in its bounding set, the
# program it executes obeys file modes like any user (linux/capability.h, linux/prctl.h).
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


def _without_root_overrides() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot drop a capability")


def _assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str,
                           code: int = 2) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_a_read_only_workspace_is_a_one_line_error(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    workspace.chmod(0o555)
    config = tmp_path / "run.yaml"
    config.write_text(f"workspace: {workspace}\ninputs: [{{path: {tmp_path}}}]\n")
    demote = None
    if os.geteuid() == 0:
        probe = _cli(["--help"], preexec_fn=_without_root_overrides)
        if probe.returncode != 0:
            pytest.skip(f"root cannot give up its file-permission override here: {probe.stderr}")
        demote = _without_root_overrides
    result = _cli(["run", str(config)], preexec_fn=demote)
    _assert_one_line_error(result, str(workspace), "Permission denied")


def test_a_workspace_below_a_file_is_a_one_line_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    config = tmp_path / "run.yaml"
    config.write_text(f"workspace: {tmp_path / 'file' / 'ws'}\n")
    for command in (["run", str(config)], ["ingest", str(config)]):
        _assert_one_line_error(_cli(command), str(tmp_path / "file" / "ws"), "Not a directory")
    # A read-only command never creates the workspace: it says there is none.
    _assert_one_line_error(_cli(["stats", str(config)]), str(tmp_path / "file" / "ws"),
                           "does not exist", code=1)
    with pytest.raises(WorkspaceError, match="cannot create workspace"):
        Workspace(str(tmp_path / "file" / "ws"))


def test_a_failed_write_names_the_file_and_leaves_no_temporary(tmp_path):
    workspace = Workspace(str(tmp_path))
    (tmp_path / "stages").write_text("")  # a file where a folder must go
    with pytest.raises(WorkspaceError, match=r"cannot write stages/s/x\.json in workspace"):
        workspace.write_json("stages/s/x.json", {})
    assert not list(tmp_path.rglob(".tmp-*"))


# ---------------------------------------------------------------- leftovers of killed writes
def test_remove_temporaries_deletes_only_leftovers(tmp_path):
    workspace = Workspace(str(tmp_path))
    workspace.write_table("things", "00000", pa.table({"a": [1]}))
    workspace.write_json("stages/s/stats/00000.json", {"records_in": 1})
    (tmp_path / "datasets" / "things" / ".tmp-dead-00001.parquet").write_bytes(b"PAR1 half")
    (tmp_path / "stages" / "s" / "stats" / ".tmp-dead-00001.json").write_text("{")
    stale_index = tmp_path / ".tmp-dead-index"
    stale_index.mkdir()
    (stale_index / "vectors.npy").write_bytes(b"\0" * 1000)
    assert workspace.remove_temporaries() == 3
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == [
        "datasets/things/00000.parquet", "manifest/datasets/things.json",
        "stages/s/stats/00000.json"]
    assert workspace.remove_temporaries() == 0


def test_remove_temporaries_on_an_fsspec_filesystem():
    workspace = Workspace("memory://realsyn-temporaries")
    workspace.write_table("things", "00000", pa.table({"a": [1]}))
    with workspace.fs.open(workspace.path("datasets/things/.tmp-dead-00001.parquet"), "wb") as f:
        f.write(b"PAR1")
    assert workspace.remove_temporaries() == 1
    assert workspace.fs.ls(workspace.path("datasets/things"), detail=False) == [
        workspace.path("datasets/things/00000.parquet")]


def test_a_run_removes_what_a_killed_run_left(tmp_path):
    workspace = Workspace(str(tmp_path / "ws"))
    workspace.write_table("things", "00000", pa.table({"a": [1]}))
    leftover = tmp_path / "ws" / "datasets" / "things" / ".tmp-dead-00001.parquet"
    leftover.write_bytes(b"PAR1 half")
    messages: list[str] = []
    run_pipeline(RealsynConfig(workspace=str(tmp_path / "ws"), stages=[]),
                 report=messages.append)
    assert not leftover.exists()
    assert messages == ["removed 1 temporary files of an interrupted run"]


# ---------------------------------------------------------------- hostile files
def test_a_pickle_planted_under_arrays_is_refused(tmp_path):
    """A workspace may come from elsewhere (a shared bucket): its arrays are read as data,
    never unpickled. Fails if any of these loads says allow_pickle=True."""
    payload = pickle.dumps({"planted": "unpickled"})
    object_array = np.empty(1, dtype=object)
    object_array[0] = {"planted": "unpickled"}
    for workspace in (Workspace(str(tmp_path / "ws")), Workspace("memory://realsyn-pickles")):
        workspace.write_array("emb", "00000", np.zeros((2, 4), np.float16))
        workspace.write_npy("stages/s/centroids.npy", np.zeros(3))
        for relpath in ("arrays/emb/00000.npy", "stages/s/centroids.npy"):
            workspace.write_bytes(relpath, payload)  # a bare pickle
            with pytest.raises(ValueError, match="pickle"):
                workspace.read_array("emb", "00000", mmap=False) if "arrays" in relpath \
                    else workspace.read_npy(relpath)
        with pytest.raises(ValueError, match="pickle"):
            workspace.read_array("emb", "00000", mmap=True)
        buffer = io.BytesIO()
        np.save(buffer, object_array, allow_pickle=True)  # an .npy whose data is a pickle
        workspace.write_bytes("arrays/emb/00000.npy", buffer.getvalue())
        with pytest.raises(ValueError):
            workspace.read_array("emb", "00000", mmap=False)


def test_a_table_of_large_rows_is_written_in_bounded_row_groups(tmp_path, monkeypatch):
    # The parquet writer encodes a whole row group in memory: a shard of images is written
    # in row groups of about ROW_GROUP_BYTES, straight to its file, and reads back whole.
    import realsyn.workspace as module

    monkeypatch.setattr(module, "ROW_GROUP_BYTES", 3000)
    workspace = Workspace(str(tmp_path / "ws"))
    table = pa.table({"bytes": [bytes([i]) * 1000 for i in range(10)], "n": list(range(10))})
    workspace.write_table("images", "00000", table)
    with workspace.parquet_file("images", "00000") as parquet:
        assert parquet.metadata.num_row_groups == 5  # 2 rows (2 KB and offsets) per group
    assert workspace.read_table("images", "00000").equals(table)
    small = pa.table({"n": list(range(100))})  # 800 bytes: one group
    workspace.write_table("texts", "00000", small)
    with workspace.parquet_file("texts", "00000") as parquet:
        assert parquet.metadata.num_row_groups == 1
    assert not [p for p in (tmp_path / "ws").rglob("*") if p.name.startswith(".tmp-")]
