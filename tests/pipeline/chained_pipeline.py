"""The whole pipeline through `realsyn run` in a subprocess, with the real LLM backend
(llama.cpp in-process, the shipped Qwen2.5 0.5B GGUF) on the six images that two documents
of the sample corpus yield; no perplexity scorer and the offline encoder, so that a run takes
one to two minutes on two busy cores."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from small_pipeline import slice_corpus, small_config

import realsyn

SRC = str(Path(realsyn.__file__).parents[1])
HERE = Path(__file__).parent
DOCUMENTS = 2
# What a run must reproduce byte for byte: the datasets, arrays, index and outputs.
DATA = ("datasets", "arrays", "index", "output")
# Names of files a killed write or commit leaves behind (Workspace.remove_temporaries, commit).
TEMPORARY = (".tmp-", ".staging-", ".old-")
MARKER = ".realsyn.json"  # a committed folder's marker (realsyn.commit)
INDEX_META = "meta.json"  # beside a persisted index (realsyn.retrieve.index)
BALANCE_CAP = 1


def chained_config(root: Path, corpus: Path) -> dict[str, Any]:
    config = small_config(root, corpus)
    config["executor"] = {"workers": 1, "shard_size": 2, "progress_interval_s": 0}
    config["generate"] = {**config["generate"], "caption_max_tokens": 16,
                          "llm": {"backend": "llamacpp", "max_tokens": 24}}
    # Balance drops images (at most one per cluster of two), so that the lineage from the
    # retrieved images to the written samples is a real selection, not an identity.
    config["balance"] = {**config["balance"], "n_clusters": 2, "cap": BALANCE_CAP}
    return config


def write_config(folder: Path, config: dict[str, Any]) -> Path:
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def new_workspace(folder: Path) -> Path:
    """A corpus slice and the config of a workspace beside it; returns the config's path."""
    corpus = slice_corpus(folder / "corpus", DOCUMENTS)
    return write_config(folder, chained_config(folder / "ws", corpus))


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, str(HERE)]),
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def realsyn(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`realsyn ARGS` in a fresh interpreter (its own process group, as a shell runs it)."""
    process = subprocess.run([sys.executable, "-m", "realsyn", *args], env=environment(),
                             capture_output=True, text=True, start_new_session=True)
    if check:
        assert process.returncode == 0, process.stdout + process.stderr
    return process


def stages_ran(stdout: str) -> list[str]:
    """The stages a run executed, from its report (the others print 'skipped (up to date)')."""
    return [line[1:line.index("]")] for line in stdout.splitlines()
            if line.startswith("[") and "] (" in line]


def digests(root: Path, folders: tuple[str, ...] = DATA) -> dict[str, str]:
    """sha256 of every file under `folders` of a workspace, by path relative to it, with what
    differs between two runs of the same data by design put in words (see `comparable`)."""
    return {str(path.relative_to(root)): hashlib.sha256(comparable(root, path)).hexdigest()
            for name in folders for path in sorted((root / name).rglob("*")) if path.is_file()}


def comparable(root: Path, path: Path) -> bytes:
    """A file's content, runs compared here living in different folders at other times:
    - the folder holding the workspace and its corpus reads "<here>" (the output's card names
      where it lives), and the card's config fingerprint, the sha256 of the workspace's
      config.yaml (which holds those paths), reads "<sha256 of config.yaml>";
    - of a commit marker only the stage counts: its generation is new at every commit (a
      forced rerun makes readers stale), and its fingerprint includes the inputs' generations;
    - of the index's metadata, not its build time nor its fingerprint (which includes the
      modification times of the sentence arrays, so that rewritten ones rebuild it)."""
    content = path.read_bytes()
    if path.name == MARKER:
        marker = json.loads(content)
        return json.dumps([sorted(marker), marker["stage"]]).encode()
    if path.name == INDEX_META and path.parent.parent.name == "index":
        meta = json.loads(content)
        return json.dumps({k: v for k, v in meta.items() if k not in ("build_seconds",
                                                                       "fingerprint")},
                          sort_keys=True).encode()
    config_sha = hashlib.sha256((root / "config.yaml").read_bytes()).hexdigest().encode()
    return content.replace(config_sha, b"<sha256 of config.yaml>").replace(
        str(root.parent).encode(), b"<here>")


def temporaries(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*")
            if p.name.startswith(TEMPORARY)]
