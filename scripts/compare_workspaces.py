"""Compare two workspaces dataset by dataset (e.g. a run of main against a run of a branch).

    python scripts/compare_workspaces.py BASELINE CANDIDATE

Datasets and arrays up to `retrieved` must be byte-identical file by file. From `generated` on,
generation's own run-to-run variation is allowed: those datasets, and the output parquet, must hold
the same records (same ids, same non-generated columns), and the output shards the same keys and
text1 captions. Hidden files (the commit markers) are ignored. Exits 1 on any difference.
"""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

import pyarrow.parquet as pq

EXACT_DATASETS = ("documents", "images", "texts", "images_filtered", "sentences_filtered",
                  "images_dedup", "sentences_dedup", "images_final", "sentences_final",
                  "retrieved")
EXACT_ARRAYS = ("images_dedup", "sentences_dedup", "images_final", "sentences_final")
RECORD_DATASETS = ("generated", "balanced")
GENERATED = {"caption", "tags", "syn_text", "syn_status"}


def files(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".")}


def exact(a: Path, b: Path) -> str:
    left, right = files(a), files(b)
    if not left:
        return "MISSING in baseline"
    if left.keys() != right.keys():
        return f"DIFFERENT files: {sorted(left)} vs {sorted(right)}"
    changed = [name for name in left if left[name] != right[name]]
    return f"DIFFERENT bytes: {changed}" if changed else f"identical ({len(left)} files)"


def records(a: Path, b: Path) -> str:
    left, right = pq.read_table(a), pq.read_table(b)
    keep = [c for c in left.column_names if c not in GENERATED]
    if sorted(left.column_names) != sorted(right.column_names):
        return f"DIFFERENT columns: {left.column_names} vs {right.column_names}"
    if left.select(keep).to_pylist() != right.select(keep).to_pylist():
        return "DIFFERENT records"
    return f"same records ({left.num_rows} rows; generated columns not compared)"


def shards(a: Path, b: Path) -> str:
    def captions(folder: Path) -> dict[str, bytes]:
        out = {}
        for tar in sorted(folder.glob("*.tar")):
            with tarfile.open(tar) as archive:
                for member in archive.getmembers():
                    if member.name.endswith(".txt"):
                        out[f"{tar.name}/{member.name}"] = archive.extractfile(member).read()
        return out

    left, right = captions(a), captions(b)
    if left != right:
        return "DIFFERENT keys or text1 captions"
    same_sizes = (a / "sizes.json").read_bytes() == (b / "sizes.json").read_bytes()
    return f"same {len(left)} samples and text1 captions; sizes.json " + (
        "identical" if same_sizes else "DIFFERENT")


def main(baseline: str, candidate: str) -> int:
    base, cand = Path(baseline), Path(candidate)
    results = {}
    for name in EXACT_DATASETS:
        results[f"datasets/{name}"] = exact(base / "datasets" / name, cand / "datasets" / name)
    for name in EXACT_ARRAYS:
        results[f"arrays/{name}"] = exact(base / "arrays" / name, cand / "arrays" / name)
    for name in RECORD_DATASETS:
        results[f"datasets/{name}"] = records(base / "datasets" / name,
                                              cand / "datasets" / name)
    for part in ("release", "extended"):
        results[f"output/{part}"] = records(base / "output" / part, cand / "output" / part)
    results["output/shards"] = shards(base / "output" / "shards", cand / "output" / "shards")
    width = max(map(len, results))
    for name, verdict in results.items():
        print(f"{name:<{width}}  {verdict}")
    return int(any(("DIFFERENT" in v or "MISSING" in v) for v in results.values()))


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
