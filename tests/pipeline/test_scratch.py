"""Scratch is transient: removed once its stage commits, unless `executor.keep_scratch`; the
outputs do not depend on it, and `realsyn status` shows what is on disk."""

from __future__ import annotations

from pathlib import Path

from chained_pipeline import digests
from small_pipeline import run, slice_corpus

from realsyn.cli import format_size
from realsyn.config import parse_config
from realsyn.pipeline import Pipeline

# The stages whose steps pass data through scratch.
SCRATCH_STAGES = {"dedup", "semantic_dedup", "retrieve", "balance"}


def scratch_files(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in (root / "scratch").rglob("*")
                  if path.is_file())


def test_scratch_is_gone_after_a_run_and_kept_scratch_changes_no_output(finished, tmp_path):
    root, config = finished
    assert scratch_files(root) == []
    resolved = parse_config(config)
    assert all(item.scratch_bytes == 0 for item in Pipeline.from_config(resolved).status(
        resolved))

    # The same run (same LLM address: the card names it) in another folder, scratch kept.
    kept, corpus = tmp_path / "ws", slice_corpus(tmp_path / "corpus")
    kept_config = {**config, "workspace": str(kept),
                   "inputs": [{**config["inputs"][0], "path": str(corpus)}],
                   "executor": {**config["executor"], "keep_scratch": True}}
    run(kept_config)
    assert digests(kept) == digests(root)
    assert {path.split("/")[1] for path in scratch_files(kept)} == SCRATCH_STAGES
    resolved = parse_config(kept_config)
    sizes = {item.name: item.scratch_bytes
             for item in Pipeline.from_config(resolved).status(resolved)}
    for stage, size in sizes.items():
        on_disk = sum(path.stat().st_size for path in (kept / "scratch" / stage).rglob("*")
                      if path.is_file())
        assert size == on_disk and (size > 0) == (stage in SCRATCH_STAGES), stage


def test_sizes_read_in_decimal_units():
    assert [format_size(size) for size in (0, 999, 1000, 407_249, 2_600_000, 25.4e12, 3e15)] == [
        "0 B", "999 B", "1.0 kB", "407.2 kB", "2.6 MB", "25.4 TB", "3000.0 TB"]
