"""Stage fingerprints: what decides whether a stage's outputs are up to date.

A stage's fingerprint hashes its name, its `version` (bumped when its output format or logic
changes), the config values it reads (its `config_paths`, less the fields below that never change
outputs) and the fingerprints of the datasets it reads. Every output folder a stage commits
carries its fingerprint (see `realsyn.commit`), so a change anywhere reaches everything
downstream through the inputs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from realsyn.config import RealsynConfig

# Fields that change how fast or where work runs, not what it means. Most leave outputs
# byte-identical (tests/pipeline/test_invalidation.py runs them); batch sizes, worker counts
# (torch threads) and query batches change float rounding in the last bits of embeddings,
# scores and tag probabilities (measured there: 44 float16 values of the demo's text
# embeddings for another text_batch_size), which is not a reason to redo a stage.
NOT_IN_FINGERPRINT = frozenset({
    "workspace", "stages", "pipeline",
    "executor.kind", "executor.workers", "executor.ray_address", "executor.task_memory_mb",
    "ingest.fetch.concurrency",
    "extract.sentences.perplexity_threads", "extract.sentences.parse_batch_size",
    "extract.sentences.paraphrase_batch_size",
    "embed.encoder.device", "embed.image_batch_size", "embed.text_batch_size",
    "embed.decode_workers",
    "retrieve.preview_images", "retrieve.query_batch_size", "retrieve.partitions",
    "balance.partitions",
    "generate.retry_failed", "generate.batch_size", "generate.cache_path",
    "generate.llm.concurrency", "generate.llm.timeout_s", "generate.llm.retries",
    "generate.llm.backoff_s", "generate.llm.max_backoff_s", "generate.llm.threads",
    "generate.llm.parallel", "generate.llm.prefix_slots", "generate.llm.api_key",
})


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists and scalars are leaves."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def config_values(config: RealsynConfig, paths: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The flattened values of the config sections or fields `paths`, less NOT_IN_FINGERPRINT."""
    dumped = config.model_dump(mode="json")
    values: dict[str, Any] = {}
    for path in paths:
        node: Any = dumped
        for part in path.split("."):
            node = node[part]
        values.update(flatten(node, path))
    return {key: value for key, value in sorted(values.items())
            if key not in NOT_IN_FINGERPRINT}


@dataclass
class Fingerprint:
    stage: str
    version: str
    config: dict[str, Any]
    inputs: dict[str, str | None] = field(default_factory=dict)

    @property
    def value(self) -> str:
        blob = json.dumps({"stage": self.stage, "version": self.version, "config": self.config,
                           "inputs": self.inputs}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def record(self) -> dict[str, Any]:
        return {"fingerprint": self.value, "stage": self.stage, "version": self.version,
                "config": self.config, "inputs": self.inputs}


def differences(stored: dict[str, Any], current: Fingerprint) -> list[str]:
    """Why a stored stage state no longer matches `current`: human phrases."""
    reasons = []
    if stored.get("version") != current.version:
        reasons.append(f"stage version {stored.get('version')} -> {current.version}")
    old_config = stored.get("config", {})
    for key in sorted(set(old_config) | set(current.config)):
        if old_config.get(key) != current.config.get(key):
            reasons.append(f"{key}: {old_config.get(key)!r} -> {current.config.get(key)!r}")
    old_inputs = stored.get("inputs", {})
    for key in sorted(set(old_inputs) | set(current.inputs)):
        if old_inputs.get(key) != current.inputs.get(key):
            reasons.append(f"input {key} changed")
    return reasons
