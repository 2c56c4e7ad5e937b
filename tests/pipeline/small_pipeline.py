"""The whole pipeline on a slice of the sample corpus, with fast settings: no perplexity
scorer, the offline encoder, and generation falling back to text1 (its LLM endpoint is a
closed loopback port), so a full run takes seconds of model time."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from realsyn.config import parse_config
from realsyn.pipeline import run_pipeline

SAMPLE = Path(__file__).parents[2] / "examples" / "sample_corpus" / "sample.parquet"
DOCUMENTS = 12


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def small_config(root: Path, corpus: Path) -> dict[str, Any]:
    return {
        "workspace": str(root),
        "inputs": [{"path": str(corpus), "format": "obelics"}],
        "executor": {"workers": 1, "shard_size": 4},
        "ingest": {"fetch": {"enabled": False}},
        "extract": {"sentences": {"perplexity_scorer": "none"}},
        "embed": {"encoder": {"backend": "offline", "device": "cpu"}},
        "generate": {"tagger": "classifier", "mine_tags": False,
                     "llm": {"backend": "openai", "retries": 0, "timeout_s": 2,
                             "base_url": f"http://127.0.0.1:{closed_port()}/v1"}},
        "balance": {"min_similarity": -1.0, "max_similarity": 1.0, "cap": 1000},
        "write": {"samples_per_shard": 2},
    }


def slice_corpus(folder: Path, documents: int = DOCUMENTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / "slice.parquet"
    pq.write_table(pq.read_table(SAMPLE).slice(0, documents), corpus)
    # Image paths in the documents are relative to the corpus file (and must stay inside).
    shutil.copytree(SAMPLE.parent / "images", folder / "images")
    return corpus


def run(config: dict[str, Any], **options) -> tuple[dict[str, dict], list[str]]:
    """Run the pipeline in-process; returns the stats of the stages that ran and the lines
    printed."""
    lines: list[str] = []
    results = run_pipeline(parse_config(config), report=lines.append, **options)
    return results, lines


def finished_workspace(folder: Path) -> tuple[Path, dict[str, Any]]:
    corpus = slice_corpus(folder / "corpus")
    config = small_config(folder / "ws", corpus)
    run(config)
    return folder / "ws", config
