"""Replacing a stage's outputs as a whole.

A stage writes each declared output folder into a staging sibling (`.staging-<name>`). When
every shard is done, `commit` swaps all of them into place:

1. each staging folder gets a marker file (`.realsyn.json`: generation, stage, fingerprint);
2. a journal (`stages/<stage>/commit.json`) lists the swaps;
3. each folder is swapped: on a local disk with one atomic `renameat2(RENAME_EXCHANGE)`, so a
   reader of the folder sees the old complete set or the new one, never a mix or nothing; on
   other filesystems by two moves. On an object store a move is a copy of every object, then
   a delete: the marker is copied last, so a folder holds the new marker only once every file
   of the new generation is there (a reader may see a mix while the swap runs);
4. the stage's state (fingerprint, config, inputs) is written, then the old generations and
   the journal are removed.

A process killed anywhere in 3-4 leaves the journal: `recover` (run before any stage and by
`realsyn status`) rolls the swap forward, using the markers to tell which folders were swapped.
Marker files start with a dot, so parquet and WebDataset readers of the folders ignore them.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import posixpath
import uuid
from typing import Any

from realsyn.workspace import Workspace, filesystem, remove_temporaries, staging_path

MARKER = ".realsyn.json"
OLD_PREFIX = ".old-"


def journal_path(stage: str) -> str:
    return f"stages/{stage}/commit.json"


def state_path(stage: str) -> str:
    return f"stages/{stage}/state.json"


def location_url(workspace: Workspace, location: str) -> str:
    """The URL of an output location: a path relative to the workspace, or a URL/absolute
    path outside it (the writer's `write.output`)."""
    if "://" in location or location.startswith("/"):
        return location
    return posixpath.join(workspace.url, location)


def _is_local(fs) -> bool:
    protocol = fs.protocol
    return "file" in (protocol if isinstance(protocol, tuple) else (protocol,))


def _read_marker(fs, folder: str) -> dict[str, Any] | None:
    path = posixpath.join(folder, MARKER)
    try:
        with fs.open(path, "rb") as handle:
            return json.loads(handle.read())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def folder_marker(url: str) -> dict[str, Any] | None:
    """The marker of a committed output folder (its stage and fingerprint), or None."""
    fs, path = filesystem(url)
    return _read_marker(fs, path)


def folder_identity(url: str) -> str | None:
    """What a reader of a committed folder depends on: the fingerprint it was built with and
    the commit that wrote it, so that a forced rerun (same settings, maybe other content,
    e.g. regenerated text) makes everything downstream stale too."""
    marker = folder_marker(url)
    if marker is None:
        return None
    return f"{marker.get('fingerprint')}@{marker.get('generation')}"


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first: str, second: str) -> bool:
    """Atomically exchange two local paths; False where the kernel or libc cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second),
                       _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), first)


def _swap(fs, staged: str, final: str) -> None:
    """Put `staged` at `final`; the previous `final`, if any, ends at the staging path or at
    the old path (both removed by the cleanup)."""
    if fs.exists(final):
        if _is_local(fs) and _exchange(staged, final):
            return
        if fs.exists(_old_path(final)):
            fs.rm(_old_path(final), recursive=True)
        _move(fs, final, _old_path(final))
    _move(fs, staged, final)


def _move(fs, source: str, target: str) -> None:
    """Move the folder `source` to `target`. Where a move is a copy (object stores): every
    file is copied before any is deleted, and the marker last, so that a crash at any point
    leaves `source` whole, and `target` with the new marker only when it is complete."""
    if _is_local(fs):
        fs.mv(source, target, recursive=True)
        return
    files = sorted(fs.find(source), key=lambda path: posixpath.basename(path) == MARKER)
    for path in files:
        fs.copy(path, target + path[len(source):])
    fs.rm(source, recursive=True)


def _old_path(final: str) -> str:
    return posixpath.join(posixpath.dirname(final), OLD_PREFIX + posixpath.basename(final))


def commit(workspace: Workspace, stage: str, outputs: list[str], state: dict[str, Any]) -> None:
    """Swap the staged `outputs` of `stage` into place and record `state` beside them."""
    workspace = workspace.committed
    generation = uuid.uuid4().hex
    pairs = []
    for location in outputs:
        fs, final = filesystem(location_url(workspace, location))
        staged = staging_path(final)
        fs.makedirs(staged, exist_ok=True)  # a stage that wrote nothing replaces with nothing
        # Every shard is done: a `.tmp-*` here is a killed writer's, never part of the output.
        remove_temporaries(fs, staged)
        marker = {"generation": generation, "stage": stage,
                  "fingerprint": state.get("fingerprint")}
        with fs.open(posixpath.join(staged, MARKER), "wb") as handle:
            handle.write(json.dumps(marker, sort_keys=True).encode())
        pairs.append(location_url(workspace, location))
    workspace.write_json(journal_path(stage), {"generation": generation, "outputs": pairs,
                                               "state": state})
    _finish(workspace, stage)


def _finish(workspace: Workspace, stage: str) -> None:
    journal = workspace.read_json(journal_path(stage))
    generation = journal["generation"]
    for url in journal["outputs"]:
        fs, final = filesystem(url)
        marker = _read_marker(fs, final)
        staged = staging_path(final)
        if (marker or {}).get("generation") != generation and fs.exists(staged):
            _swap(fs, staged, final)
    workspace.write_json(state_path(stage), {**journal["state"], "committed": True})
    # The journal goes last: a crash while the leftovers are removed is finished by `recover`.
    for url in journal["outputs"]:
        fs, final = filesystem(url)
        for leftover in (staging_path(final), _old_path(final)):
            if fs.exists(leftover):
                fs.rm(leftover, recursive=True)
    workspace.fs.rm(workspace.path(journal_path(stage)))


def recover(workspace: Workspace) -> list[str]:
    """Finish every commit a killed process left half done; returns their stages."""
    workspace = workspace.committed
    finished = []
    for stage in workspace.list_files("stages"):
        if workspace.exists(journal_path(stage)):
            _finish(workspace, stage)
            finished.append(stage)
    return finished


def remove_staged_temporaries(workspace: Workspace, outputs: list[str]) -> int:
    """Delete what killed writers left in the staging folders of `outputs` before a stage
    resumes into them; outside the workspace too (`write.output`), which the workspace's own
    cleanup does not walk. Returns how many."""
    workspace = workspace.committed
    removed = 0
    for location in outputs:
        fs, final = filesystem(location_url(workspace, location))
        removed += remove_temporaries(fs, staging_path(final))
    return removed


def discard_staging(workspace: Workspace, outputs: list[str]) -> None:
    """Remove the staged (uncommitted) generation of `outputs`: a stage starting afresh."""
    workspace = workspace.committed
    for location in outputs:
        fs, final = filesystem(location_url(workspace, location))
        if fs.exists(staging_path(final)):
            fs.rm(staging_path(final), recursive=True)
