"""The workspace: named datasets on disk between stages.

Layout under the root (local path or any fsspec URL):

    manifest/<key>.json                one file per manifest entry (encoder identity, scorer)
    manifest/datasets/<name>.json      the kind of each dataset ("parquet" or "npy")
    config.yaml                        the resolved config every stage's data matches
    datasets/<name>/<shard>.parquet    records (pyarrow)
    arrays/<name>/<shard>.npy          embeddings and other dense arrays
    stages/<stage>/completions/<shard> one marker per finished shard
    stages/<stage>/stats/<shard>.json  one stats file per finished shard
    stages/<stage>/stats.json          merged stats of the stage
    stages/<stage>/state.json          fingerprint, config and inputs of the committed outputs
    scratch/<stage>/<name>/<shard>.parts   a stage's partitioned intermediate data: one file
                                       per map task, its rows grouped by partition, with an
                                       index (realsyn.partfile; not committed: removed once
                                       the stage commits)

Every file is written under a temporary name and renamed into place, so a killed process never
leaves a half-written file under a final name (on an object store, where an upload appears whole
or not at all and a rename is a copy, it is written in place). A running stage writes its declared
outputs into staging folders beside them (`.staging-<name>`, see `staged`); `realsyn.commit`
swaps them into place as a whole once every shard is done, so old and new shards never mix.
"""

from __future__ import annotations

import io
import json
import posixpath
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from realsyn import partfile

MANIFEST = "manifest"  # a folder: one file per entry, so concurrent writers never lose one
LEGACY_MANIFEST = "manifest.json"  # one file for every entry (read in older workspaces)
PART_FILE_SUFFIX = ".parts"  # a map task's partitioned rows (realsyn.partfile)
TEMPORARY_PREFIX = ".tmp-"  # every file is written under this prefix, then renamed
ROW_GROUP_BYTES = 64 << 20  # of a dataset shard, uncompressed (its images' bytes, mostly)
DEFAULT_ROW_GROUP_ROWS = 1 << 20  # pyarrow's own limit


class UndeclaredDatasetError(RuntimeError):
    """A stage touched a dataset or array folder that its `reads`/`writes` do not declare."""


class WorkspaceError(OSError):
    """The workspace cannot be created or written (read-only, no permission, not a folder,
    disk full); the message names the workspace and the reason in one line."""


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


STAGING_PREFIX = ".staging-"


def filesystem(url: str):
    """The fsspec filesystem and path of `url`. A remote one lists without a cache: workers in
    other processes, on other nodes, write the same folders, and a cached listing would hide
    their files (a commit would then move only part of a folder)."""
    protocol = fsspec.core.split_protocol(url)[0] or "file"
    if protocol in ("file", "local"):
        return fsspec.core.url_to_fs(url)
    return fsspec.core.url_to_fs(url, use_listings_cache=False)


def staging_path(final: str) -> str:
    """Where the next generation of the folder `final` is built: a sibling, so that the swap
    is a rename within one filesystem."""
    return posixpath.join(posixpath.dirname(final), STAGING_PREFIX + posixpath.basename(final))


def remove_temporaries(fs: Any, root: str) -> int:
    """Delete the `.tmp-*` files and folders under `root` (what killed writes left); returns
    how many. Only while nothing writes there: a live writer's temporary looks the same."""
    removed = 0
    if not fs.exists(root):
        return 0
    for folder, dirs, files in fs.walk(root, topdown=True):
        stale = [name for name in [*dirs, *files] if name.startswith(TEMPORARY_PREFIX)]
        dirs[:] = [name for name in dirs if not name.startswith(TEMPORARY_PREFIX)]
        for name in stale:
            fs.rm(posixpath.join(folder, name), recursive=True)
        removed += len(stale)
    return removed


# The top-level folders whose sub-folders (or files) a stage may touch only where it declares
# them: the data between stages, the reports and the caches (realsyn.stage.Stage: reads,
# writes, reports, report_reads, caches).
DECLARED_FOLDERS = ("datasets", "arrays", "report", "index", "generate")


def _parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def add_counters(total: Counter[str], stats: dict[str, Any]) -> None:
    """Add the numeric counters of `stats` to `total` (flags and text are not counters)."""
    for key, value in stats.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            total[key] += value


class Workspace:
    def __init__(self, root: str, redirects: dict[str, str] | None = None):
        self.url = root
        self.fs, self.root = filesystem(root)
        try:
            self.fs.makedirs(self.root, exist_ok=True)
        except OSError as error:
            raise WorkspaceError(f"cannot create workspace {root}: {_reason(error)}") from error
        # final folder path -> staging folder path, for the outputs of the running stage
        self.redirects = dict(redirects or {})
        # The running stage's declared folders ("datasets/x", "arrays/y") and its name; None:
        # any folder (a workspace outside a stage: the CLI, the report, tests).
        self.declared: frozenset[str] | None = None
        self.declared_by = ""

    # ------------------------------------------------------------------ paths and raw files
    def path(self, *parts: str) -> str:
        if self.declared is not None and parts:
            self._check_declared(posixpath.join(*parts))
        return self._redirect(posixpath.join(self.root, *parts))

    def _check_declared(self, relative: str) -> None:
        """Datasets and arrays are the data plane between stages, reports and caches what they
        leave beside it: a stage may touch only the folders it declares, so the wiring check,
        the fingerprints and the staging of outputs see every dependency (what a stage keeps
        of its own lives under stages/ or scratch/)."""
        top = relative.split("/", 2)
        if len(top) < 2 or top[0] not in DECLARED_FOLDERS:
            return
        if not any(relative == folder or relative.startswith(folder + "/")
                   for folder in self.declared):
            raise UndeclaredDatasetError(
                f"stage {self.declared_by!r} touched {top[0]}/{top[1]}, which its reads(), "
                f"writes(), reports, report_reads and caches do not declare (declared: "
                f"{', '.join(sorted(self.declared))})")

    def _redirect(self, full: str) -> str:
        for final, staged in self.redirects.items():
            if full == final or full.startswith(final + "/"):
                return staged + full[len(final):]
        return full

    def staged(self, outputs: list[str], reads: list[str] | None = None,
               stage: str = "") -> Workspace:
        """A view of this workspace whose writes (and reads) of the folders `outputs` (paths
        relative to the root, e.g. "datasets/balanced") go to their staging folders. When the
        stage declares anything, the view refuses datasets and arrays that neither list names."""
        finals = [fsspec.core.url_to_fs(location)[1] if "://" in location
                  else posixpath.join(self.root, location) for location in outputs]
        view = self._view({final: staging_path(final) for final in finals})
        # Without `reads` (a view outside the executor), or for a stage that declares no data
        # at all (a probe outside the dataflow), nothing is checked.
        if reads is not None and (reads or outputs):
            view.declared = frozenset(location for location in [*reads, *outputs]
                                      if "://" not in location)
            view.declared_by = stage
        return view

    @property
    def committed(self) -> Workspace:
        """This workspace without staging redirects: the data as last committed."""
        return self._view({}) if self.redirects else self

    def _view(self, redirects: dict[str, str]) -> Workspace:
        view = Workspace.__new__(Workspace)
        view.url, view.fs, view.root, view.redirects = self.url, self.fs, self.root, redirects
        view.declared, view.declared_by = self.declared, self.declared_by
        return view

    def staged_url(self, url: str) -> str:
        """`url` (a folder outside the workspace layout, e.g. the writer's output) redirected
        to its staging folder when it is an output of the running stage."""
        path = fsspec.core.url_to_fs(url)[1]
        redirected = self._redirect(path)
        if redirected == path:
            return url
        protocol = url.split("://", 1)[0] + "://" if "://" in url else ""
        return protocol + redirected

    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.path(*parts))

    def write_bytes(self, relpath: str, data: bytes) -> None:
        """Atomically write `data` at `relpath` (temporary name, then rename; on an object
        store in place: an upload appears whole or not at all)."""
        self._write_atomically(relpath, data, None)

    def _write_atomically(self, relpath: str, data: bytes | None,
                          write_local: Callable[[str], None] | None) -> None:
        """`data` at `relpath`, or, in a local workspace, what `write_local(path)` writes
        (straight to a temporary file: no copy of it is held in memory)."""
        final = self.path(relpath)
        folder = posixpath.dirname(final)
        temporary = posixpath.join(
            folder, f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}-{posixpath.basename(final)}")
        try:
            if not self.is_local:
                self.fs.pipe_file(final, data)
                return
            self.fs.makedirs(folder, exist_ok=True)
            if write_local is not None:
                write_local(temporary)
            else:
                with self.fs.open(temporary, "wb") as handle:
                    handle.write(data)
            self.fs.mv(temporary, final)
        except OSError as error:  # a half-written temporary goes at the next run's start
            raise WorkspaceError(f"cannot write {relpath} in workspace {self.url}: "
                                 f"{_reason(error)}") from error

    def remove_temporaries(self) -> int:
        """Delete the `.tmp-*` files and folders that killed writes left behind; returns how
        many. Call only while no other process writes this workspace (at the start of a run):
        a live writer's temporary looks the same."""
        return remove_temporaries(self.fs, self.root)

    def read_bytes(self, relpath: str) -> bytes:
        with self.fs.open(self.path(relpath), "rb") as handle:
            return handle.read()

    def write_json(self, relpath: str, obj: Any) -> None:
        self.write_bytes(relpath, json.dumps(obj, indent=2, sort_keys=True).encode())

    def read_json(self, relpath: str, default: Any = None) -> Any:
        if not self.exists(relpath):
            return default
        return json.loads(self.read_bytes(relpath))

    def list_files(self, folder: str, suffix: str = "") -> list[str]:
        """Sorted base names of the finished files in `folder` (temporary files excluded)."""
        full = self.path(folder)
        if not self.fs.exists(full):
            return []
        names = (posixpath.basename(p) for p in self.fs.ls(full, detail=False))
        return sorted(n for n in names
                      if n.endswith(suffix) and not n.startswith(TEMPORARY_PREFIX))

    # ------------------------------------------------------------------ parquet datasets
    def write_table(self, dataset: str, shard: str, table: pa.Table) -> None:
        # Row groups of at most ROW_GROUP_BYTES: the writer encodes and compresses a whole row
        # group in memory, and a shard of images is hundreds of megabytes.
        rows = max(1, min(DEFAULT_ROW_GROUP_ROWS,
                          table.num_rows * ROW_GROUP_BYTES // max(1, table.nbytes)))

        def write(sink: Any) -> None:
            pq.write_table(table, sink, compression="zstd", row_group_size=rows)

        buffer = None
        if not self.is_local:
            buffer = io.BytesIO()
            write(buffer)
        self._write_atomically(f"datasets/{dataset}/{shard}.parquet",
                               buffer and buffer.getvalue(), write)
        self._register(dataset, "parquet")

    def parquet_file(self, dataset: str, shard: str) -> pq.ParquetFile:
        """A shard opened by pyarrow from its local path (Arrow's own file) or from the bytes
        of a remote one; never from a Python file object. pyarrow may still close such an
        object on its thread pool after a read returns, and needs the GIL for it: when the
        interpreter exits at that moment, the process aborts with "terminate called without
        an active exception" (exit status 134; apache/arrow#34314, #33975)."""
        path = self.path(f"datasets/{dataset}/{shard}.parquet")
        if self.is_local:
            return pq.ParquetFile(path)
        with self.fs.open(path, "rb") as handle:
            return pq.ParquetFile(pa.BufferReader(handle.read()))

    def read_table(self, dataset: str, shard: str, columns: list[str] | None = None) -> pa.Table:
        with self.parquet_file(dataset, shard) as parquet:
            return parquet.read(columns=columns)

    def shard_rows(self, dataset: str, shard: str) -> int:
        with self.parquet_file(dataset, shard) as parquet:
            return parquet.metadata.num_rows

    def shards(self, dataset: str) -> list[str]:
        return [n[: -len(".parquet")] for n in self.list_files(f"datasets/{dataset}", ".parquet")]

    def read_dataset(self, dataset: str, columns: list[str] | None = None) -> pa.Table:
        tables = [self.read_table(dataset, shard, columns) for shard in self.shards(dataset)]
        if not tables:
            raise FileNotFoundError(f"dataset {dataset!r} is empty or missing in {self.url}")
        return pa.concat_tables(tables)

    def iter_tables(self, dataset: str, columns: list[str] | None = None
                    ) -> Iterator[tuple[str, pa.Table]]:
        for shard in self.shards(dataset):
            yield shard, self.read_table(dataset, shard, columns)

    def count_rows(self, dataset: str) -> int:
        return sum(self.shard_rows(dataset, shard) for shard in self.shards(dataset))

    # ------------------------------------------------------------------ partitioned data
    def write_partitioned(self, name: str, shard: str, table: pa.Table,
                          partition_ids: np.ndarray, partitions: int) -> list[int]:
        """Write the rows of `table` grouped by partition to one file,
        `<name>/<shard>.parts` (folder `name` relative to the root): for every non-empty
        partition p, the rows whose `partition_ids == p` as one block, in their order, behind
        a table of the blocks' offsets (realsyn.partfile). Returns those partitions."""
        ids = np.asarray(partition_ids, dtype=np.int64)
        if len(ids) != table.num_rows:
            raise ValueError(f"{len(ids)} partition ids for {table.num_rows} rows")
        if len(ids) and (ids.min() < 0 or ids.max() >= partitions):
            raise ValueError(f"partition ids must lie in [0, {partitions})")
        order = np.argsort(ids, kind="stable")  # one pass: rows grouped by partition
        bounds = np.searchsorted(ids[order], np.arange(partitions + 1))
        blocks = [(partition, _parquet_bytes(table.take(pa.array(order[start:stop]))))
                  for partition, (start, stop) in enumerate(pairwise(bounds))
                  if start < stop]
        self.write_bytes(posixpath.join(name, f"{shard}{PART_FILE_SUFFIX}"),
                         partfile.pack(blocks, table.schema, partitions))
        return [partition for partition, _ in blocks]

    def read_partition(self, name: str, partition: int,
                       columns: list[str] | None = None) -> pa.Table:
        """Partition `partition` of `name` from every shard that wrote it, in sorted shard
        order; an empty table of the written schema when no shard did. Of each shard's file
        it reads the header, the partition's two offsets and its block (partfile)."""
        # a first read that holds the partition's offsets, or, far into a long table, only the
        # header (the offsets are then 16 bytes read apart)
        entry_end = partfile.HEADER + 8 * (partition + 2)
        heads = self._part_heads(name, partfile.HEAD_READ if entry_end <= partfile.HEAD_READ
                                 else partfile.HEADER)
        if not heads:
            raise FileNotFoundError(f"partitioned data {name!r} was never written in {self.url}")
        tables = []
        for path, head in heads:
            if partition >= head.partitions:
                continue
            start, stop = partfile.offsets(self._part_range(
                path, head, *head.table_slice(partition, partition + 2))).tolist()
            if start < stop:
                tables.append(pq.read_table(
                    pa.BufferReader(self._part_range(path, head, start, stop)), columns=columns))
        if tables:
            return pa.concat_tables(tables)
        path, head = heads[0]
        schema = partfile.read_schema(self._part_range(
            path, head, head.schema_offset, head.schema_offset + head.schema_length))
        if columns is not None:
            schema = pa.schema([schema.field(column) for column in columns])
        return schema.empty_table()

    def partitions(self, name: str) -> list[int]:
        """The partitions of `name` that some shard wrote, sorted (from each shard's offset
        table: a partition is written where its block is not empty)."""
        written: set[int] = set()
        for path, head in self._part_heads(name, partfile.HEAD_READ):
            table = partfile.offsets(self._part_range(
                path, head, *head.table_slice(0, head.partitions + 1)))
            written.update(np.flatnonzero(np.diff(table) > 0).tolist())
        return sorted(written)

    def _part_heads(self, name: str, first_read: int) -> list[tuple[str, partfile.Head]]:
        """(path, first bytes) of every shard's file of partitioned data `name`, in shard
        order: one read of `first_read` bytes each."""
        heads = []
        for file in self.list_files(name, PART_FILE_SUFFIX):
            path = self.path(name, file)
            prefix = self.fs.cat_file(path, start=0, end=first_read)
            heads.append((path, partfile.read_head(prefix, path)))
        return heads

    def _part_range(self, path: str, head: partfile.Head, start: int, stop: int) -> bytes:
        """Bytes [start, stop) of a shuffle file: from its first read when that holds them."""
        cached = head.cached(start, stop)
        return cached if cached is not None else self.fs.cat_file(path, start=start, end=stop)

    # ------------------------------------------------------------------ single files
    def write_parquet(self, relpath: str, table: pa.Table) -> None:
        self.write_bytes(relpath, _parquet_bytes(table))

    def read_parquet(self, relpath: str, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(pa.BufferReader(self.read_bytes(relpath)), columns=columns)

    def write_npy(self, relpath: str, array: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        self.write_bytes(relpath, buffer.getvalue())

    def read_npy(self, relpath: str) -> np.ndarray:
        return np.load(io.BytesIO(self.read_bytes(relpath)), allow_pickle=False)

    # ------------------------------------------------------------------ arrays
    def write_array(self, name: str, shard: str, array: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        self.write_bytes(f"arrays/{name}/{shard}.npy", buffer.getvalue())
        self._register(name, "npy")

    def read_array(self, name: str, shard: str, mmap: bool = True) -> np.ndarray:
        path = self.path(f"arrays/{name}/{shard}.npy")
        if mmap and self.is_local:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        with self.fs.open(path, "rb") as handle:
            return np.load(io.BytesIO(handle.read()), allow_pickle=False)

    def array_shards(self, name: str) -> list[str]:
        return [n[: -len(".npy")] for n in self.list_files(f"arrays/{name}", ".npy")]

    @property
    def is_local(self) -> bool:
        protocol = self.fs.protocol
        return "file" in (protocol if isinstance(protocol, tuple) else (protocol,))

    # ------------------------------------------------------------------ manifest
    def manifest(self) -> dict[str, Any]:
        """Every entry: the datasets' kinds under "datasets", then one key per entry. Entries
        live in their own files: workers on several nodes record datasets and the encoder at
        once, and a read-modify-write of one shared file would lose some of them."""
        manifest = self.read_json(LEGACY_MANIFEST, default={})
        manifest["datasets"] = {**manifest.get("datasets", {}),
                                **self._entries(f"{MANIFEST}/datasets")}
        manifest.update(self._entries(MANIFEST))
        return manifest

    def _entries(self, folder: str) -> dict[str, Any]:
        """The `<key>.json` files of `folder`, by key."""
        return {name[: -len(".json")]: self.read_json(f"{folder}/{name}")
                for name in self.list_files(folder, ".json")}

    def update_manifest(self, **entries: Any) -> None:
        for key, value in entries.items():
            self.write_json(f"{MANIFEST}/{key}.json", value)

    def forget_manifest_entry(self, key: str) -> bool:
        """Remove the entry `key`; returns whether there was one."""
        entry = self.path(f"{MANIFEST}/{key}.json")
        found = self.fs.exists(entry)
        if found:
            self.fs.rm(entry)
        legacy = self.read_json(LEGACY_MANIFEST, default={})
        if legacy.pop(key, None) is not None:
            self.write_json(LEGACY_MANIFEST, legacy)
            found = True
        return found

    def _register(self, name: str, kind: str) -> None:
        # Called per shard write, possibly from several processes: only the first write of a
        # dataset (or one of another kind) touches its entry.
        entry = f"{MANIFEST}/datasets/{name}.json"
        if self.read_json(entry) != kind:
            self.write_json(entry, kind)

    # ------------------------------------------------------------------ stage bookkeeping
    def is_done(self, stage: str, shard: str) -> bool:
        return self.exists(f"stages/{stage}/completions/{shard}")

    def mark_done(self, stage: str, shard: str, stats: dict[str, Any]) -> None:
        """Stats first, marker last: a marker always has its stats beside it."""
        self.write_json(f"stages/{stage}/stats/{shard}.json", stats)
        self.write_bytes(f"stages/{stage}/completions/{shard}", b"")

    def completed(self, stage: str) -> list[str]:
        return self.list_files(f"stages/{stage}/completions")

    def merge_stats(self, stage: str) -> dict[str, int]:
        """Sum the numeric counters of every finished shard and store them beside."""
        total: Counter[str] = Counter()
        for shard in self.completed(stage):
            add_counters(total, self.read_json(f"stages/{stage}/stats/{shard}.json", {}))
        merged = dict(sorted(total.items()))
        self.write_json(f"stages/{stage}/stats.json", merged)
        return merged

    def stage_stats(self, stage: str) -> dict[str, int]:
        return self.read_json(f"stages/{stage}/stats.json", default={})

    def folder_bytes(self, folder: str) -> int:
        """Bytes of every file under `folder` (0 when it is missing)."""
        full = self.path(folder)
        return int(self.fs.du(full, total=True)) if self.fs.exists(full) else 0

    def remove_folder(self, folder: str) -> bool:
        """Delete `folder` and everything under it; returns whether it was there."""
        full = self.path(folder)
        if not self.fs.exists(full):
            return False
        self.fs.rm(full, recursive=True)
        return True

    def reset_stage(self, stage: str) -> None:
        folder = self.path(f"stages/{stage}")
        if self.fs.exists(folder):
            self.fs.rm(folder, recursive=True)
