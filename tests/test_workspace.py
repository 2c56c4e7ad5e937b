import numpy as np
import pyarrow as pa

from realsyn.workspace import Workspace


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
