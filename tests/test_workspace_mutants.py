"""The workspace's contract piece by piece, each against an oracle written here: staging
redirects, atomic files, listings, datasets and partitions (local and on an fsspec filesystem),
arrays and the stage bookkeeping."""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import posixpath
import uuid
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from realsyn import partfile
from realsyn.workspace import (
    PART_FILE_SUFFIX,
    UndeclaredDatasetError,
    Workspace,
    WorkspaceError,
    add_counters,
    staging_path,
)


def _memory() -> Workspace:
    return Workspace(f"memory://realsyn-{uuid.uuid4().hex}")


@pytest.fixture(params=["local", "memory"])
def workspace(request, tmp_path) -> Workspace:
    return Workspace(str(tmp_path)) if request.param == "local" else _memory()


def _files(workspace: Workspace) -> list[str]:
    """Every file under the root, relative to it."""
    return sorted(path[len(workspace.root) + 1:] for path in workspace.fs.find(workspace.root))


# ---------------------------------------------------------------- names and staging
def test_names_of_staging_folders():
    assert staging_path("/ws/datasets/balanced") == "/ws/datasets/.staging-balanced"


def test_a_staged_view_redirects_only_its_outputs(tmp_path):
    workspace = Workspace(str(tmp_path))
    view = workspace.staged(["datasets/balanced"])
    root = str(tmp_path)
    assert view.path("datasets/balanced") == f"{root}/datasets/.staging-balanced"
    assert view.path("datasets/balanced/00000.parquet") == (
        f"{root}/datasets/.staging-balanced/00000.parquet")
    # a name that merely starts alike, and everything else, stay where they are
    assert view.path("datasets/balanced2/0.parquet") == f"{root}/datasets/balanced2/0.parquet"
    assert view.path("datasets/pairs", "00000.parquet") == f"{root}/datasets/pairs/00000.parquet"
    assert (view.url, view.root, view.fs) == (workspace.url, workspace.root, workspace.fs)
    assert workspace.committed is workspace and workspace.redirects == {}
    committed = view.committed
    assert committed.redirects == {} and view.redirects != {}
    assert committed.path("datasets/balanced") == f"{root}/datasets/balanced"

    view.write_json("datasets/balanced/x.json", {"a": 1})
    assert (tmp_path / "datasets" / ".staging-balanced" / "x.json").exists()
    assert workspace.read_json("datasets/balanced/x.json", "absent") == "absent"
    assert view.read_json("datasets/balanced/x.json") == {"a": 1}


def test_a_folder_outside_the_layout_is_staged_by_its_url(tmp_path):
    out = tmp_path / "out"
    workspace = Workspace(str(tmp_path / "ws"))
    view = workspace.staged([f"file://{out}"])
    assert view.staged_url(f"file://{out}/a.tar") == f"file://{tmp_path}/.staging-out/a.tar"
    assert view.staged_url(f"{out}/a.tar") == f"{tmp_path}/.staging-out/a.tar"
    assert view.staged_url(f"file://{tmp_path}/other/a.tar") == f"file://{tmp_path}/other/a.tar"
    assert workspace.staged_url(f"file://{out}/a.tar") == f"file://{out}/a.tar"


def test_a_remote_workspace_lists_without_a_cache_and_a_local_one_is_local(tmp_path):
    remote = _memory()
    assert remote.fs.storage_options.get("use_listings_cache") is False
    assert not remote.is_local
    assert Workspace(str(tmp_path)).is_local


# ---------------------------------------------------------------- files
def test_files_are_written_whole_and_json_is_deterministic(workspace):
    workspace.write_bytes("a/b/c.bin", b"payload")
    assert workspace.read_bytes("a/b/c.bin") == b"payload"
    workspace.write_json("x.json", {"b": 1, "a": [1, 2]})
    workspace.write_json("y.json", {"a": [1, 2], "b": 1})
    assert workspace.read_bytes("x.json") == workspace.read_bytes("y.json")
    assert workspace.read_json("x.json") == {"a": [1, 2], "b": 1}
    assert workspace.read_json("missing.json") is None
    assert workspace.read_json("missing.json", {"d": 0}) == {"d": 0}
    assert _files(workspace) == ["a/b/c.bin", "x.json", "y.json"]  # no temporary left


@pytest.mark.parametrize(("error", "reason"), [
    (OSError(28, "No space left on device"), "No space left on device"),
    (OSError("quota exceeded"), "quota exceeded"),
    (OSError(), "OSError"),
])
def test_a_failed_write_gives_the_reason_in_one_line(tmp_path, monkeypatch, error, reason):
    workspace = Workspace(str(tmp_path))

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(workspace.fs, "open", fail)
    with pytest.raises(WorkspaceError) as raised:
        workspace.write_bytes("s/x.json", b"{}")
    assert str(raised.value) == f"cannot write s/x.json in workspace {tmp_path}: {reason}"


def test_listings_are_sorted_filtered_and_skip_temporaries(workspace):
    for name in ("b.npy", "a.npy", "c.json", ".tmp-0-d.npy"):
        workspace.write_bytes(f"f/{name}", b"x")
    assert workspace.list_files("f", ".npy") == ["a.npy", "b.npy"]
    assert workspace.list_files("f") == ["a.npy", "b.npy", "c.json"]
    assert workspace.list_files("nowhere") == []


def test_remove_temporaries_counts_a_temporary_folder_once(tmp_path):
    workspace = Workspace(str(tmp_path))
    nested = tmp_path / ".tmp-dead-index" / ".tmp-dead-part"
    nested.mkdir(parents=True)
    (nested / "vectors.npy").write_bytes(b"\0")
    workspace.write_bytes("keep.bin", b"k")
    assert workspace.remove_temporaries() == 1
    assert _files(workspace) == ["keep.bin"]


# ---------------------------------------------------------------- datasets
def test_datasets_read_back_by_shard_and_column(workspace):
    first = pa.table({"a": [1, 2], "b": ["x", "y"]})
    second = pa.table({"a": [3], "b": ["z"]})
    workspace.write_table("things", "00001", second)
    workspace.write_table("things", "00000", first)
    assert workspace.shards("things") == ["00000", "00001"]
    assert workspace.read_table("things", "00001").equals(second)
    assert workspace.read_table("things", "00000", ["b"]).equals(first.select(["b"]))
    assert workspace.shard_rows("things", "00000") == 2
    assert workspace.count_rows("things") == 3
    assert workspace.read_dataset("things").equals(pa.concat_tables([first, second]))
    assert workspace.read_dataset("things", ["a"]).to_pydict() == {"a": [1, 2, 3]}
    assert [(shard, table.num_rows) for shard, table in workspace.iter_tables("things")] == [
        ("00000", 2), ("00001", 1)]
    assert [table.column_names for _, table in workspace.iter_tables("things", ["b"])] == [
        ["b"], ["b"]]
    with workspace.parquet_file("things", "00000") as parquet:
        assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
    assert workspace.manifest()["datasets"] == {"things": "parquet"}


def test_an_empty_dataset_is_an_error_naming_it(workspace):
    with pytest.raises(FileNotFoundError) as raised:
        workspace.read_dataset("nothing")
    assert str(raised.value) == f"dataset 'nothing' is empty or missing in {workspace.url}"


def test_the_manifest_keeps_every_entry(workspace):
    assert workspace.manifest() == {"datasets": {}}
    workspace.update_manifest(encoder="clip")
    workspace.write_table("things", "00000", pa.table({"a": [1]}))
    workspace.write_array("vectors", "00000", np.zeros(2))
    workspace.update_manifest(config="c")
    assert workspace.manifest() == {"encoder": "clip", "config": "c",
                                    "datasets": {"things": "parquet", "vectors": "npy"}}


# ---------------------------------------------------------------- single files and arrays
def test_single_files_and_arrays_round_trip(workspace):
    table = pa.table({"k": ["a", "b"], "v": [1.5, 2.5]})
    workspace.write_parquet("scratch/one.parquet", table)
    assert workspace.read_parquet("scratch/one.parquet").equals(table)
    assert workspace.read_parquet("scratch/one.parquet", ["v"]).equals(table.select(["v"]))
    matrix = np.arange(6, dtype=np.float32).reshape(2, 3)
    workspace.write_npy("scratch/m.npy", matrix)
    np.testing.assert_array_equal(workspace.read_npy("scratch/m.npy"), matrix)
    workspace.write_array("emb", "00001", matrix)
    workspace.write_array("emb", "00000", matrix + 1)
    assert workspace.array_shards("emb") == ["00000", "00001"]
    assert isinstance(workspace.read_array("emb", "00000"), np.memmap) == workspace.is_local
    for mmap in (True, False):
        loaded = workspace.read_array("emb", "00000", mmap=mmap)
        np.testing.assert_array_equal(loaded, matrix + 1)
        assert loaded.dtype == np.float32
        # mapped, not read into memory, only where a local file can be mapped
        assert isinstance(loaded, np.memmap) == (mmap and workspace.is_local)


# ---------------------------------------------------------------- partitioned data
def test_partitions_hold_each_row_once_in_order_against_brute_force(workspace):
    rng = np.random.default_rng(7)
    partitions = 6
    tables, ids = {}, {}
    for shard in ("00001", "00000"):
        rows = int(rng.integers(20, 40))
        tables[shard] = pa.table({"key": [f"{shard}-{i}" for i in range(rows)],
                                  "x": rng.random(rows)})
        ids[shard] = rng.integers(0, partitions - 1, rows)  # the last partition stays empty
        written = workspace.write_partitioned("scratch/s/parts", shard, tables[shard],
                                              ids[shard], partitions)
        assert written == sorted(set(ids[shard].tolist()))
    assert workspace.partitions("scratch/s/parts") == sorted(
        set(ids["00000"].tolist()) | set(ids["00001"].tolist()))
    for partition in range(partitions):
        expected = [key for shard in ("00000", "00001")
                    for key, p in zip(tables[shard].column("key").to_pylist(), ids[shard],
                                      strict=True)
                    if p == partition]
        got = workspace.read_partition("scratch/s/parts", partition)
        assert got.column("key").to_pylist() == expected
        assert got.schema == tables["00000"].schema
        assert workspace.read_partition("scratch/s/parts", partition, ["x"]).column_names == [
            "x"]


def _record_reads(workspace: Workspace, monkeypatch) -> list[tuple[int, int]]:
    """The (start, end) of every ranged read the workspace makes from now on."""
    reads: list[tuple[int, int]] = []
    cat_file = workspace.fs.cat_file

    def recording(path, start=None, end=None, **kwargs):
        reads.append((start, end))
        return cat_file(path, start=start, end=end, **kwargs)

    monkeypatch.setattr(workspace.fs, "cat_file", recording)
    return reads


def test_a_map_task_writes_one_file_whatever_the_partitions(workspace, monkeypatch):
    """The shuffle for object stores: files per step = map tasks, not map tasks x partitions,
    and a reduce reads its partition's byte range, not the map task's whole file."""
    rng = np.random.default_rng(3)
    rows = 3000
    table = pa.table({"key": np.arange(rows), "x": rng.random(rows)})
    ids = rng.integers(0, 40, rows)
    for shard in ("00000", "00001", "00002"):
        workspace.write_partitioned("s", shard, table, ids, 40)
    assert workspace.list_files("s") == [f"0000{i}{PART_FILE_SUFFIX}" for i in range(3)]
    assert _files(workspace) == [f"s/0000{i}{PART_FILE_SUFFIX}" for i in range(3)]
    monkeypatch.setattr(partfile, "HEAD_READ", 4096)
    reads = _record_reads(workspace, monkeypatch)
    got = workspace.read_partition("s", 7)
    assert got.column("key").to_pylist() == np.flatnonzero(ids == 7).tolist() * 3
    size = workspace.fs.size(workspace.path("s", f"00000{PART_FILE_SUFFIX}"))
    assert size > 2 * partfile.HEAD_READ  # so the first read is not the whole file
    # each file's header and offset table in its first read, then the partition's block only
    assert reads[:3] == [(0, partfile.HEAD_READ)] * 3
    assert all(partfile.HEAD_READ < start < end <= size and end - start < size // 10
               for start, end in reads[3:]) and len(reads) == 6


def test_an_offset_table_longer_than_the_first_read(workspace, monkeypatch):
    monkeypatch.setattr(partfile, "HEAD_READ", 64)  # the header and 4 offsets
    table = pa.table({"a": list(range(50))})
    workspace.write_partitioned("s", "00000", table, np.arange(50) % 25, 25)
    reads = _record_reads(workspace, monkeypatch)
    assert workspace.partitions("s") == list(range(25))
    assert reads == [(0, 64), (partfile.HEADER, partfile.HEADER + 8 * 26)]  # then the rest
    reads.clear()
    assert workspace.read_partition("s", 24).column("a").to_pylist() == [24, 49]
    # far into the table: the header alone, the partition's two offsets, its block
    entry = partfile.HEADER + 8 * 24
    assert reads[:2] == [(0, partfile.HEADER), (entry, entry + 16)] and len(reads) == 3
    reads.clear()
    assert workspace.read_partition("s", 1).column("a").to_pylist() == [1, 26]
    assert reads[0] == (0, 64) and len(reads) == 2  # offsets in the first read


def test_a_file_that_is_not_a_shuffle_file_is_named(workspace):
    workspace.write_bytes(f"s/00000{PART_FILE_SUFFIX}", b"x" * 40)
    with pytest.raises(partfile.NotAPartFile) as raised:
        workspace.partitions("s")
    assert str(raised.value) == (f"{workspace.path('s', '00000' + PART_FILE_SUFFIX)} is not a "
                                 "shuffle file (no RSPARTS2 header)")


def test_part_file_layout():
    blocks = [(2, b"first"), (5, b"second block")]
    schema = pa.schema([("a", pa.int64())])
    data = partfile.pack(blocks, schema, 7)
    table_end = partfile.HEADER + 8 * 8
    assert data[:8] == partfile.MAGIC
    assert data[table_end:table_end + 17] == b"firstsecond block"
    head = partfile.read_head(data, "f")
    assert (head.partitions, head.schema_offset) == (7, table_end + 17)
    assert partfile.read_schema(data[head.schema_offset:]) == schema
    assert head.schema_length == len(data) - head.schema_offset
    table = partfile.offsets(data[slice(*head.table_slice(0, 8))])
    assert np.diff(table).tolist() == [0, 0, 5, 0, 0, 12, 0]
    assert table[0] == table_end and head.table_slice(5, 7) == (partfile.HEADER + 40,
                                                               partfile.HEADER + 56)
    short = partfile.read_head(data[:40], "f")
    assert short.cached(0, 40) == data[:40] and short.cached(30, 41) is None
    with pytest.raises(partfile.NotAPartFile):
        partfile.read_head(data[:partfile.HEADER - 1], "f")


def test_a_partition_nobody_wrote_has_the_schema_behind_the_last_block(workspace, monkeypatch):
    monkeypatch.setattr(partfile, "HEAD_READ", partfile.HEADER)  # the schema is read apart
    table = pa.table({"a": [1, 2], "b": ["x", "y"]})
    workspace.write_partitioned("s", "00000", table, np.array([0, 2]), 3)  # the last one too
    empty = workspace.read_partition("s", 1)
    assert empty.num_rows == 0 and empty.schema == table.schema
    assert workspace.read_partition("s", 2).to_pydict() == {"a": [2], "b": ["y"]}


def test_partition_ids_are_checked(workspace):
    table = pa.table({"a": [1, 2, 3]})
    with pytest.raises(ValueError) as raised:
        workspace.write_partitioned("p", "00000", table, np.array([0, 1]), 2)
    assert str(raised.value) == "2 partition ids for 3 rows"
    for bad in ([0, 1, 2], [0, -1, 1]):
        with pytest.raises(ValueError) as raised:
            workspace.write_partitioned("p", "00000", table, np.array(bad), 2)
        assert str(raised.value) == "partition ids must lie in [0, 2)"
    assert workspace.write_partitioned("p", "00000", table, np.array([1, 1, 0]), 2) == [0, 1]


def test_a_shard_with_no_rows_still_gives_empty_partitions_their_schema(workspace):
    empty = pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.string())})
    assert workspace.write_partitioned("p", "00000", empty, np.array([], np.int64), 3) == []
    assert workspace.partitions("p") == []
    assert workspace.list_files("p") == [f"00000{PART_FILE_SUFFIX}"]  # its schema is in it
    read = workspace.read_partition("p", 2)
    assert read.num_rows == 0 and read.schema == empty.schema
    assert workspace.read_partition("p", 0, ["b"]).schema == pa.schema([("b", pa.string())])
    assert workspace.partitions("never") == []
    with pytest.raises(FileNotFoundError) as raised:
        workspace.read_partition("never", 0)
    assert str(raised.value) == f"partitioned data 'never' was never written in {workspace.url}"


# ---------------------------------------------------------------- stage bookkeeping
def test_counters_are_numbers_but_not_flags():
    total = Counter({"a": 1})
    add_counters(total, {"a": 2, "f": 0.5, "flag": True, "label": "x", "none": None})
    assert total == Counter({"a": 3, "f": 0.5})


def test_markers_stats_and_reset(workspace):
    assert workspace.stage_stats("s") == {}
    workspace.mark_done("s", "00001", {"records_in": 2, "ok": True, "wall_s": 0.5})
    workspace.mark_done("s", "00000", {"records_in": 3})
    assert workspace.is_done("s", "00000") and not workspace.is_done("s", "00002")
    assert workspace.completed("s") == ["00000", "00001"]
    assert workspace.read_json("stages/s/stats/00001.json") == {
        "records_in": 2, "ok": True, "wall_s": 0.5}
    assert workspace.merge_stats("s") == {"records_in": 5, "wall_s": 0.5}
    assert workspace.stage_stats("s") == {"records_in": 5, "wall_s": 0.5}
    assert list(workspace.merge_stats("s")) == ["records_in", "wall_s"]
    workspace.write_bytes("stages/other/keep", b"")
    workspace.reset_stage("s")
    assert workspace.completed("s") == [] and workspace.stage_stats("s") == {}
    assert workspace.exists("stages/other/keep")
    workspace.reset_stage("never-ran")  # nothing to remove is no error


# ---------------------------------------------------------------- what the files hold
def test_stray_files_beside_shards_and_partitions_are_not_data(workspace):
    # a commit leaves its marker file in every folder it swaps in; a person may leave notes
    workspace.write_table("things", "00000", pa.table({"a": [1]}))
    workspace.write_array("emb", "00000", np.zeros(2))
    workspace.write_partitioned("p", "00000", pa.table({"a": [1]}), np.array([0]), 1)
    for folder in ("datasets/things", "arrays/emb", "p"):
        workspace.write_bytes(f"{folder}/notes.txt", b"not data")
    assert workspace.shards("things") == ["00000"]
    assert workspace.array_shards("emb") == ["00000"]
    assert workspace.read_partition("p", 0).to_pydict() == {"a": [1]}
    assert workspace.partitions("p") == [0]


def test_arrays_never_hold_pickles(workspace):
    # a pickle would run code when loaded: arrays are plain numbers
    objects = np.array([{"a": 1}], dtype=object)
    for write in (lambda: workspace.write_array("x", "00000", objects),
                  lambda: workspace.write_npy("scratch/x.npy", objects)):
        with pytest.raises(ValueError, match="allow_pickle"):
            write()
    buffer = io.BytesIO()
    np.save(buffer, objects, allow_pickle=True)  # planted by something else
    workspace.write_bytes("arrays/x/00000.npy", buffer.getvalue())
    workspace.write_bytes("scratch/x.npy", buffer.getvalue())
    for read in (lambda: workspace.read_array("x", "00000", mmap=False),
                 lambda: workspace.read_npy("scratch/x.npy")):
        with pytest.raises(ValueError, match="allow_pickle"):
            read()


class _Planted:
    """Unpickling this creates `path`: the code a planted pickle would run."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def test_a_raw_pickle_planted_among_arrays_is_refused_and_never_run(workspace, tmp_path):
    # Not an .npy file at all: numpy falls back to pickle.load for such bytes when pickles
    # are allowed, mapped read or not, and the pickle runs whatever it names.
    marker = tmp_path / "pickle-ran"
    workspace.write_bytes("arrays/x/00000.npy", pickle.dumps(_Planted(str(marker))))
    for mmap in (True, False):
        with pytest.raises(ValueError, match="allow_pickle"):
            workspace.read_array("x", "00000", mmap=mmap)
    assert not marker.exists()


def test_single_parquet_files_are_zstd_compressed(workspace):
    workspace.write_parquet("scratch/one.parquet", pa.table({"a": list(range(100))}))
    parquet = pq.ParquetFile(pa.BufferReader(workspace.read_bytes("scratch/one.parquet")))
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"


def test_a_temporary_is_written_beside_its_final_file(tmp_path, monkeypatch):
    # same folder: the rename stays on one filesystem, and a killed write's leftover is found
    workspace = Workspace(str(tmp_path))
    moves = []
    move = workspace.fs.mv
    monkeypatch.setattr(workspace.fs, "mv", lambda source, target: (
        moves.append((source, target)), move(source, target)))
    workspace.write_bytes("a/b.bin", b"x")
    ((source, target),) = moves
    assert target == f"{tmp_path}/a/b.bin"
    assert posixpath.dirname(source) == f"{tmp_path}/a"
    assert posixpath.basename(source).startswith(".tmp-")


def test_registering_a_known_dataset_leaves_the_manifest_alone(tmp_path):
    # workers of one stage write shards at once: only the first write of a dataset touches it
    workspace = Workspace(str(tmp_path))
    workspace.write_table("things", "00000", pa.table({"a": [1]}))
    entry = tmp_path / "manifest" / "datasets" / "things.json"
    before = os.stat(entry).st_ino
    workspace.write_table("things", "00001", pa.table({"a": [2]}))
    assert os.stat(entry).st_ino == before
    workspace.write_array("things", "00000", np.zeros(2))  # another kind: recorded
    assert workspace.manifest()["datasets"] == {"things": "npy"}


def test_a_manifest_without_datasets_gets_them(workspace):
    # the one-file manifest of an older version
    workspace.write_json("manifest.json", {"encoder": "clip"})
    workspace.write_table("things", "00000", pa.table({"a": [1]}))
    assert workspace.manifest() == {"encoder": "clip", "datasets": {"things": "parquet"}}


def test_an_older_one_file_manifest_is_read_under_the_entries(workspace):
    workspace.write_json("manifest.json", {"encoder": "old", "scorer": "s",
                                           "datasets": {"a": "npy", "b": "npy"}})
    workspace.update_manifest(encoder="new")
    workspace.write_table("b", "00000", pa.table({"a": [1]}))
    assert workspace.manifest() == {"encoder": "new", "scorer": "s",
                                    "datasets": {"a": "npy", "b": "parquet"}}
    assert workspace.forget_manifest_entry("encoder")
    assert workspace.manifest() == {"scorer": "s", "datasets": {"a": "npy", "b": "parquet"}}
    assert workspace.forget_manifest_entry("scorer")
    assert not workspace.forget_manifest_entry("scorer")
    assert workspace.manifest() == {"datasets": {"a": "npy", "b": "parquet"}}


def test_forgetting_an_entry_removes_only_it(workspace):
    workspace.update_manifest(encoder="clip", scorer="s")
    assert workspace.forget_manifest_entry("encoder")
    assert not workspace.forget_manifest_entry("encoder")
    assert workspace.manifest() == {"scorer": "s", "datasets": {}}
    assert not workspace.exists("manifest.json")  # no one-file manifest made up


def _record_entries(root: str, writer: int, count: int) -> None:
    workspace = Workspace(root)
    for number in range(count):
        workspace.write_array(f"w{writer}-{number}", "00000", np.zeros(1))
        workspace.update_manifest(**{f"w{writer}-{number}": number})


def test_writers_in_several_processes_lose_no_entry(tmp_path):
    # workers of one stage, on one node or several, record datasets and entries at once
    writers, count = 4, 30
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_record_entries, args=(str(tmp_path), writer, count))
                 for writer in range(writers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    assert [process.exitcode for process in processes] == [0] * writers
    names = {f"w{writer}-{number}" for writer in range(writers) for number in range(count)}
    manifest = Workspace(str(tmp_path)).manifest()
    assert set(manifest.pop("datasets")) == names
    assert set(manifest) == names


# ---------------------------------------------------------------- declared folders, sizes, removal
def test_a_stage_view_refuses_undeclared_datasets_and_names_the_stage(tmp_path):
    workspace = Workspace(str(tmp_path))
    assert workspace.declared is None and workspace.declared_by == ""
    view = workspace.staged(["datasets/out"], reads=["datasets/in", "arrays/emb"], stage="s1")
    assert view.declared == frozenset({"datasets/out", "datasets/in", "arrays/emb"})
    assert view.declared_by == "s1"
    for allowed in ("datasets/in", "datasets/in/00000.parquet", "arrays/emb/00000.npy",
                    "datasets/out/x", "stages/s1/stats.json", "scratch/s1/parts", "datasets",
                    "manifest/x.json"):
        view.path(allowed)  # no error
    for refused, folder in (("datasets/other/00000.parquet", "datasets/other"),
                            ("datasets/in2", "datasets/in2"), ("arrays/embx/0.npy", "arrays/embx"),
                            # deeper: the dataset is the second part, not the one before the file
                            ("datasets/other/part=1/00000.parquet", "datasets/other"),
                            # reports and caches are declared like datasets
                            ("report/retrieve.json", "report/retrieve.json"),
                            ("index/retrieve/meta.json", "index/retrieve"),
                            ("generate/llm-cache.sqlite", "generate/llm-cache.sqlite")):
        with pytest.raises(UndeclaredDatasetError) as raised:
            view.path(refused)
        assert str(raised.value) == (
            f"stage 's1' touched {folder}, which its reads(), writes(), reports, report_reads "
            "and caches do not declare (declared: arrays/emb, datasets/in, datasets/out)")
    # declared folders match whole names only: "datasets/in" does not declare "datasets/in2"
    assert workspace.staged([], reads=["datasets/in"]).declared == frozenset({"datasets/in"})
    # no reads given (a view outside the executor) or nothing declared: nothing is checked
    assert workspace.staged(["datasets/out"]).declared is None
    assert workspace.staged([], reads=[]).declared is None
    assert workspace.staged(["datasets/out"], reads=[]).declared == frozenset({"datasets/out"})
    assert workspace.staged(["datasets/out"], reads=[]).declared_by == ""
    # a location with a URL is staged apart, never declared as a folder
    assert workspace.staged(["s3://b/x"], reads=["datasets/in"]).declared == frozenset(
        {"datasets/in"})


def test_folder_bytes_and_remove_folder(workspace):
    assert workspace.folder_bytes("scratch/s") == 0
    assert workspace.remove_folder("scratch/s") is False
    workspace.write_bytes("scratch/s/a/one", b"x" * 10)
    workspace.write_bytes("scratch/s/two", b"y" * 7)
    workspace.write_bytes("scratch/other", b"z" * 5)
    assert workspace.folder_bytes("scratch/s") == 17
    assert workspace.folder_bytes("scratch") == 22
    assert workspace.remove_folder("scratch/s") is True
    assert not workspace.exists("scratch/s") and workspace.exists("scratch/other")
    assert workspace.folder_bytes("scratch") == 5


def test_removing_temporaries_counts_them_and_keeps_the_rest(tmp_path):
    workspace = Workspace(str(tmp_path / "never"))
    workspace.fs.rm(workspace.root, recursive=True)
    assert workspace.remove_temporaries() == 0  # no workspace folder: nothing removed
    workspace = Workspace(str(tmp_path / "ws"))
    workspace.write_bytes("datasets/a/00000.parquet", b"kept")
    for name in ("datasets/a/.tmp-1-00001.parquet", ".tmp-2-config.yaml",
                 "datasets/.tmp-3-folder/inner/file"):
        workspace.write_bytes(name, b"half")
    assert workspace.remove_temporaries() == 3  # a temporary folder counts once, with its files
    assert sorted(p.relative_to(tmp_path / "ws").as_posix()
                  for p in (tmp_path / "ws").rglob("*") if p.is_file()) == [
        "datasets/a/00000.parquet"]


def test_a_partition_past_a_shorter_file_is_read_from_the_longer_ones(workspace):
    """Map tasks may write different partition counts: a file with fewer partitions holds
    none of the later ones, and the files after it still do."""
    workspace.write_partitioned("s", "00000", pa.table({"a": [1]}), np.array([0]), 1)
    workspace.write_partitioned("s", "00001", pa.table({"a": [2, 3]}), np.array([1, 0]), 2)
    assert workspace.partitions("s") == [0, 1]
    assert workspace.read_partition("s", 1).column("a").to_pylist() == [2]
    assert workspace.read_partition("s", 0).column("a").to_pylist() == [1, 3]
    # a partition of one row: its block is written and found
    workspace.write_partitioned("t", "00000", pa.table({"a": [5, 6]}), np.array([3, 0]), 4)
    assert workspace.partitions("t") == [0, 3]


def test_the_first_read_holds_offsets_up_to_its_last_byte(workspace, monkeypatch):
    """The offsets of partition p end at HEADER + 8 * (p + 2): when that is exactly the first
    read's size, they come from it; one byte past, from a read of their own."""
    table = pa.table({"a": list(range(8))})
    workspace.write_partitioned("s", "00000", table, np.arange(8), 8)
    reads = _record_reads(workspace, monkeypatch)
    monkeypatch.setattr(partfile, "HEAD_READ", partfile.HEADER + 8 * 5)  # offsets of 0..3
    assert workspace.read_partition("s", 3).column("a").to_pylist() == [3]
    assert reads[0] == (0, partfile.HEADER + 8 * 5) and len(reads) == 2  # then the block
    reads.clear()
    assert workspace.read_partition("s", 4).column("a").to_pylist() == [4]
    assert reads[:2] == [(0, partfile.HEADER), (partfile.HEADER + 32, partfile.HEADER + 48)]
