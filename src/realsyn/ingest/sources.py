"""Input files and work units: which reader reads what, and the deterministic shard plan.

An input spec (file, folder, glob or fsspec URL) expands to files sorted by their path under
the input *root* (the folder itself, a file's folder, or a glob's fixed prefix). Those relative
paths are the documents' provenance, so ids do not depend on where the corpus is mounted.

Work units are bounded: parquet and saved-dataset files are cut into blocks of rows, jsonl
into blocks of bytes (a line belongs to the block where it starts; for a compressed file the
bytes are decompressed bytes, counted by one streaming pass at planning, and each block
decompresses from the start up to its own), URL lists into blocks of lines (found by one
streaming pass at planning: a unit is the byte range of its lines and the number of its first
line, so ids number lines from the file's start whatever the unit size), small files (pages,
PDFs, short URL lists) are grouped, short URL lists up to a unit's lines; a WARC file is one
unit. The plan depends only on the inputs and the config, so shard "00007"
means the same work on every run and a resumed run is exact.

A symbolic link under an input folder is followed only when its target stays inside the
input root. Inputs that match no document at all are an error that says what was ignored.
"""

from __future__ import annotations

import glob
import json
import os
import posixpath
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst")
FORMAT_KINDS = {
    "obelics": ("parquet", "jsonl", "arrow"),
    "html": ("html",),
    "warc": ("warc",),
    "pdf": ("pdf",),
    "urls": ("urls",),
}
GROUPED_KINDS = frozenset({"html", "pdf", "urls"})


class InputError(ValueError):
    """An input spec that names nothing (a config error, reported before any work starts)."""


@dataclass(frozen=True)
class InputFile:
    path: str  # fsspec URL of the file
    root: str  # fsspec URL of its input root
    relpath: str  # posix path under the root: the provenance written into ids
    kind: str  # parquet | jsonl | arrow | html | warc | pdf | urls


@dataclass(frozen=True)
class WorkUnit:
    file: InputFile
    start: int = 0  # first row (parquet, arrow) or byte (jsonl, URL list) of the unit
    stop: int | None = None  # end (exclusive); None: to the end of the file
    line: int = 0  # number of the unit's first line in its file (URL lists)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> WorkUnit:
        return WorkUnit(InputFile(**data["file"]), data["start"], data["stop"],
                        data.get("line", 0))


def filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    return fsspec.core.url_to_fs(url)


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocols or "local" in protocols


def _qualify(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """A path as a URL other processes can open (plain paths stay plain)."""
    return path if is_local(fs) else fs.unstrip_protocol(path)


def compressed(name: str) -> bool:
    return name.lower().endswith(COMPRESSIONS) and not name.lower().endswith(".warc.gz")


def kind_of(name: str, fmt: str) -> str | None:
    """The reader of a file by its name, among those allowed by the spec's format."""
    lower = name.lower()
    if lower.endswith((".warc", ".warc.gz", ".arc", ".arc.gz")):
        kind = "warc"
    else:
        for suffix in COMPRESSIONS:
            if lower.endswith(suffix):
                lower = lower[: -len(suffix)]
        kind = {".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".html": "html",
                ".htm": "html", ".xhtml": "html", ".pdf": "pdf", ".arrow": "arrow",
                ".urls": "urls"}.get(posixpath.splitext(lower)[1])
        if fmt == "urls" and posixpath.splitext(lower)[1] in (".txt", ".tsv", ".csv"):
            kind = "urls"
    if kind is None or (fmt != "auto" and kind not in FORMAT_KINDS[fmt]):
        return None
    return kind


def _forced_kind(fs: fsspec.AbstractFileSystem, path: str, fmt: str) -> str:
    """The kind of a file named explicitly with an explicit format, whatever its name."""
    if fmt != "obelics":
        return FORMAT_KINDS[fmt][0]
    with fs.open(path, "rb") as handle:
        return "parquet" if handle.read(4) == b"PAR1" else "jsonl"


# ---------------------------------------------------------------- expanding specs
def saved_dataset_files(fs: fsspec.AbstractFileSystem, folder: str) -> list[str] | None:
    """Arrow files of a folder written by Hugging Face `datasets.save_to_disk` (a Dataset, or a
    DatasetDict of splits), in their order; None if the folder is not one."""
    state = posixpath.join(folder, "state.json")
    if fs.isfile(state):
        try:
            with fs.open(state, "rb") as handle:
                files = [entry["filename"] for entry in json.load(handle)["_data_files"]]
        except (ValueError, KeyError, TypeError):
            return None
        return [posixpath.join(folder, name) for name in files]
    splits = posixpath.join(folder, "dataset_dict.json")
    if fs.isfile(splits):
        try:
            with fs.open(splits, "rb") as handle:
                names = json.load(handle)["splits"]
        except (ValueError, KeyError, TypeError):
            return None
        files: list[str] = []
        for name in names:
            files += saved_dataset_files(fs, posixpath.join(folder, name)) or []
        return files
    return None


def inside_root(path: str, root: str) -> bool:
    """Whether a local path, links resolved, stays inside the root (links resolved too)."""
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _ignore_reason(name: str) -> str:
    suffix = posixpath.splitext(name.lower())[1]
    return f"not a document type ({suffix or 'no extension'})"


def expand_input(path: str, fmt: str = "auto") -> tuple[list[InputFile], list[tuple[str, str]]]:
    """Files of one input spec, sorted by relative path, and the files ignored with the reason
    (images, stylesheets and other files beside the documents; links leaving the root)."""
    fs, stripped = filesystem(path)
    ignored: list[tuple[str, str]] = []
    if glob.has_magic(stripped):
        prefix = stripped[: min(stripped.index(c) for c in "*?[" if c in stripped)]
        root = prefix if prefix.endswith("/") else posixpath.dirname(prefix)
        candidates = [p for p in fs.glob(stripped) if fs.isfile(p)]
        if not candidates:
            raise InputError(f"input {path!r} matches no file")
    elif fs.isdir(stripped):
        root = stripped
        candidates = sorted(fs.find(stripped))
    elif fs.isfile(stripped):
        root = posixpath.dirname(stripped)
        kind = kind_of(stripped, fmt) or (
            _forced_kind(fs, stripped, fmt) if fmt != "auto" else None)
        if kind is None:
            raise InputError(f"input {path!r}: unknown file type; set its format")
        return [InputFile(_qualify(fs, stripped), _qualify(fs, root),
                          posixpath.basename(stripped), kind)], []
    else:
        raise InputError(f"input {path!r} does not exist")
    root = root.rstrip("/") or "/"
    # Saved Hugging Face datasets: their arrow files only, the json beside them is not input.
    dataset_files: set[str] = set()
    dataset_folders: list[str] = []
    if fmt in ("auto", "obelics"):
        for candidate in candidates:
            if posixpath.basename(candidate) in ("state.json", "dataset_dict.json"):
                folder = posixpath.dirname(candidate)
                files = saved_dataset_files(fs, folder)
                if files is not None:
                    dataset_folders.append(folder + "/")
                    dataset_files.update(files)
    files: list[InputFile] = []
    for candidate in candidates:
        in_dataset = any(candidate.startswith(folder) for folder in dataset_folders)
        kind = "arrow" if candidate in dataset_files else (
            None if in_dataset else kind_of(candidate, fmt))
        if kind == "arrow" and candidate not in dataset_files:
            kind = None  # a stray .arrow file without its dataset state is not input
        relpath = posixpath.relpath(candidate, root)
        if kind is None:
            ignored.append((relpath, "saved dataset metadata" if in_dataset
                            else _ignore_reason(candidate)))
            continue
        if is_local(fs) and not inside_root(candidate, root):
            ignored.append((relpath, "symbolic link to a file outside the input root"))
            continue
        files.append(InputFile(_qualify(fs, candidate), _qualify(fs, root), relpath, kind))
    files.sort(key=lambda f: f.relpath)
    return files, ignored


# ---------------------------------------------------------------- the plan
def count_rows(file: InputFile) -> int | None:
    """Rows of a parquet or saved-dataset arrow file; None if unreadable (the read of its
    single unit then reports why)."""
    fs, path = filesystem(file.path)
    try:
        with fs.open(path, "rb") as handle:
            if file.kind == "parquet":
                return pq.ParquetFile(handle).metadata.num_rows
            return sum(batch.num_rows for batch in pa.ipc.open_stream(handle))
    except (OSError, pa.ArrowException, ValueError):
        return None


# A block of small jsonl rows becomes about 21 times its bytes as Python documents in the reader
# child (1.5 GB for 64 MB of 80-byte rows) and 16 times in the worker they are sent to: a
# block of 1/40 of the task's memory budget keeps both processes within it.
JSONL_BLOCK_SHARE_OF_BUDGET = 40


def jsonl_block_bytes(block_bytes: int, task_memory_mb: int) -> int:
    """The bytes of one jsonl block: `ingest.jsonl_block_bytes`, at most the share of
    `executor.task_memory_mb` whose documents fit the task."""
    return max(1, min(block_bytes, task_memory_mb * (1 << 20) // JSONL_BLOCK_SHARE_OF_BUDGET))


# A fetched image is held about four times until its shard is written (the downloaded bytes,
# the Arrow table, a row group being encoded and compressed): 121 KB a URL for images of 32 KB
# (benchmarks/bench_fetch.py), so 400 KB for web images of about 100 KB. A unit of URL lines
# is at most the task's memory budget over that.
URL_BYTES_IN_MEMORY = 400_000


def url_lines_per_unit(lines: int, task_memory_mb: int) -> int:
    """The lines of one URL-list unit: `ingest.url_lines_per_unit`, at most as many as the
    images of `executor.task_memory_mb` hold."""
    return max(1, min(lines, task_memory_mb * (1 << 20) // URL_BYTES_IN_MEMORY))


def line_cuts(file: InputFile, every: int) -> tuple[int, list[tuple[int, int]]] | None:
    """(lines, [(byte, line number), ...]): the file's line count and where each of its lines
    number `every`, 2 * `every`, ... starts (bytes of a compressed file are decompressed
    bytes); one streaming pass. None if it cannot be read to the end (one unit then reports
    the damage)."""
    fs, path = filesystem(file.path)
    lines = offset = 0
    cuts: list[tuple[int, int]] = []
    last = b"\n"
    try:
        with fs.open(path, "rb", compression="infer") as handle:
            while chunk := handle.read(1 << 20):
                newlines, position = chunk.count(b"\n"), 0
                while lines + newlines >= len(cuts) * every + every:
                    for _ in range(len(cuts) * every + every - lines):
                        position = chunk.index(b"\n", position) + 1
                        newlines -= 1
                        lines += 1
                    cuts.append((offset + position, lines))
                lines += newlines
                offset += len(chunk)
                last = chunk[-1:]
    except (OSError, EOFError, ValueError):
        return None
    if cuts and cuts[-1][0] == offset:  # the last cut is the end of the file
        cuts.pop()
    return lines + (last != b"\n"), cuts


def url_units(file: InputFile, lines_per_unit: int) -> tuple[list[WorkUnit], int]:
    """The units of a URL list (`lines_per_unit` lines each) and its line count."""
    counted = line_cuts(file, lines_per_unit)
    if counted is None:
        return [WorkUnit(file)], 0
    lines, cuts = counted
    if not cuts:
        return [WorkUnit(file)], lines
    bounds = [(0, 0), *cuts]
    return [WorkUnit(file, start, bounds[i + 1][0] if i + 1 < len(bounds) else None, first)
            for i, (start, first) in enumerate(bounds)], lines


def units_of(file: InputFile, rows_per_unit: int, jsonl_block_bytes: int) -> list[WorkUnit]:
    if file.kind in ("parquet", "arrow"):
        rows = count_rows(file)
        if not rows:
            return [WorkUnit(file)]
        return [WorkUnit(file, start, min(start + rows_per_unit, rows))
                for start in range(0, rows, rows_per_unit)]
    if file.kind == "jsonl":
        fs, path = filesystem(file.path)
        size = (decompressed_size(fs, path) if compressed(file.path) else fs.size(path)) or 0
        if size <= jsonl_block_bytes:
            return [WorkUnit(file)]
        return [WorkUnit(file, start, min(start + jsonl_block_bytes, size))
                for start in range(0, size, jsonl_block_bytes)]
    return [WorkUnit(file)]


def decompressed_size(fs: fsspec.AbstractFileSystem, path: str) -> int | None:
    """Bytes of a compressed file once decompressed (one streaming pass); None if it cannot
    be read to the end (its single unit then reports the damage)."""
    total = 0
    try:
        with fs.open(path, "rb", compression="infer") as handle:
            while chunk := handle.read(1 << 20):
                total += len(chunk)
    except (OSError, EOFError, ValueError):
        return None
    return total


class NoInputFilesError(InputError):
    """The inputs hold no document at all."""


def _no_files_message(inputs: list[tuple[str, str]], ignored: list[tuple[str, str]]) -> str:
    if not inputs:
        return "no inputs are configured (inputs: [])"
    lines = [f"the inputs match no document file ({', '.join(p for p, _ in inputs)})"]
    if ignored:
        lines.append(f"{len(ignored)} file(s) ignored:")
        lines += [f"  {name}: {reason}" for name, reason in ignored[:20]]
        if len(ignored) > 20:
            lines.append(f"  ... and {len(ignored) - 20} more")
    return "\n".join(lines)


def make_plan(inputs: list[tuple[str, str]], rows_per_unit: int, files_per_shard: int,
              jsonl_block_bytes: int, url_lines: int | None = None) -> dict[str, Any]:
    """The shard plan: {"shards": [[unit, ...], ...], "ignored_files": n, "files": n}.
    `inputs`: (path, format) of each input spec, in config order; `url_lines`: the lines of
    a URL-list unit (None: a URL list is one unit)."""
    shards: list[list[WorkUnit]] = []
    ignored: list[tuple[str, str]] = []
    count = 0
    for path, fmt in inputs:
        files, skipped = expand_input(path, fmt)
        ignored += skipped
        count += len(files)
        group: list[WorkUnit] = []
        group_lines = 0  # of the URL lists in the group
        for file in files:
            lines = 0
            if file.kind == "urls" and url_lines is not None:
                units, lines = url_units(file, url_lines)
                if len(units) > 1:
                    if group:
                        shards.append(group)
                        group, group_lines = [], 0
                    shards.extend([unit] for unit in units)
                    continue
            if file.kind in GROUPED_KINDS:
                if group and (group[0].file.kind != file.kind or len(group) >= files_per_shard
                              or (url_lines is not None and group_lines + lines > url_lines)):
                    shards.append(group)
                    group, group_lines = [], 0
                group.append(WorkUnit(file))
                group_lines += lines
                continue
            if group:
                shards.append(group)
                group, group_lines = [], 0
            shards.extend([unit] for unit in units_of(file, rows_per_unit, jsonl_block_bytes))
        if group:
            shards.append(group)
    if not count:
        raise NoInputFilesError(_no_files_message(inputs, ignored))
    reasons = Counter(reason for _, reason in ignored)
    return {"shards": [[unit.to_json() for unit in shard] for shard in shards],
            "ignored_files": len(ignored), "ignored_reasons": dict(sorted(reasons.items())),
            "files": count}


def plan_inputs(inputs: list[tuple[str, str]], config: Any) -> dict[str, Any]:
    """The plan of built-in readers' inputs under a RealsynConfig's unit sizes."""
    return make_plan(inputs, config.executor.shard_size, config.ingest.files_per_shard,
                     jsonl_block_bytes(config.ingest.jsonl_block_bytes,
                                       config.executor.task_memory_mb),
                     url_lines_per_unit(config.ingest.url_lines_per_unit,
                                        config.executor.task_memory_mb))


def shard_key(index: int) -> str:
    return f"{index:05d}"


# ---------------------------------------------------------------- reading files
def read_limited(file: InputFile, limit: int, stats: Counter[str]) -> bytes | None:
    """The bytes of a whole small file (a page, a PDF); None, counted with the reason, when it
    is empty, larger than `limit` or unreadable."""
    fs, path = filesystem(file.path)
    try:
        with fs.open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError:
        stats["files_failed_unreadable"] += 1
        return None
    if not data:
        stats["files_failed_empty"] += 1
        return None
    if len(data) > limit:
        stats["files_failed_too_large"] += 1
        return None
    return data


def seek_decompressed(handle: Any, path: str, offset: int) -> None:
    """Move a handle opened with compression="infer" to a byte of the decompressed stream
    (a compressed stream is read up to it); EOFError past its end."""
    if not compressed(path):
        handle.seek(offset)
        return
    while offset > 0:
        chunk = handle.read(min(offset, 1 << 20))
        if not chunk:
            raise EOFError("block start past the end of the stream")
        offset -= len(chunk)


def skip_rest_of_line(handle: Any) -> int:
    """Read past the end of the current line in bounded pieces; the bytes skipped."""
    skipped = 0
    while (piece := handle.readline(1 << 20)) and not piece.endswith(b"\n"):
        skipped += len(piece)
    return skipped + len(piece)


def bounded_lines(handle: Any, limit: int, stats: Counter[str], offset: int = 0,
                  stop: int | None = None) -> Iterator[tuple[int, bytes | None]]:
    """(start offset, line) for the lines of a binary handle from its position (`offset`)
    while they start before `stop`; a line longer than `limit` is skipped to its end without
    being held and given as None; a read error (a truncated compressed file) is counted as
    `files_truncated` and ends the lines."""
    try:
        while stop is None or offset < stop:
            line = handle.readline(limit + 1)
            if not line:
                return
            start = offset
            offset += len(line)
            if len(line) > limit and not line.endswith(b"\n"):
                offset += skip_rest_of_line(handle)
                yield start, None
                continue
            yield start, line
    except (OSError, EOFError, ValueError):
        stats["files_truncated"] += 1
