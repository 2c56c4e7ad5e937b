"""The dataset card: `<output>/README.md` in the Hugging Face dataset-card format.

Its YAML header declares the release parquet (default) and the extended parquet as configs,
so `datasets.load_dataset(<output folder>)` reads the output as it is; the WebDataset shards get
their own small card in `shards/`, because `datasets` picks one builder per folder. The body
gives the counts, the extraction funnel, the models and thresholds of the run and the
fingerprint of its resolved config. The licence is left to the user, with a warning: the images
and sentences keep the licences of the documents they come from.
"""

from __future__ import annotations

import hashlib
import posixpath
from typing import Any

import fsspec
import yaml

from realsyn.config import RealsynConfig, dump_config
from realsyn.extract.funnel import FUNNEL_PATH, IMAGE_STEPS, SENTENCE_STEPS
from realsyn.workspace import Workspace

CARD_NAME = "README.md"


def config_fingerprint(config: RealsynConfig) -> str:
    """sha256 of the resolved config (every default filled in), as `realsyn config show` prints."""
    return hashlib.sha256(dump_config(config).encode()).hexdigest()


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"),
                        (100_000_000, "10M<n<100M")):
        if n < limit:
            return name
    return "100M<n<1B"


def header(samples: int) -> dict[str, Any]:
    return {
        # Left for the user: set it once the licences of the source documents are known.
        "license": "unknown",
        "pretty_name": "realsyn image-text dataset",
        "task_categories": ["zero-shot-image-classification", "image-to-text",
                            "text-to-image"],
        "language": ["en"],
        "size_categories": [_size_category(samples)],
        "tags": ["realsyn", "clip", "image-text", "webdataset"],
        "configs": [
            {"config_name": "release", "default": True,
             "data_files": [{"split": "train", "path": "release/*.parquet"}]},
            {"config_name": "extended",
             "data_files": [{"split": "train", "path": "extended/*.parquet"}]},
        ],
    }


def shards_header(samples: int) -> dict[str, Any]:
    """The shards folder's own card: `datasets` picks one builder per folder (from its first
    config's files), so parquet and WebDataset configs cannot share one card."""
    return {**{k: v for k, v in header(samples).items() if k != "configs"},
            "configs": [{"config_name": "webdataset", "default": True,
                         "data_files": [{"split": "train", "path": "*.tar"}]}]}


def _models(config: RealsynConfig, workspace: Workspace) -> list[tuple[str, str]]:
    manifest = workspace.manifest()
    encoder = manifest.get("encoder")
    encoder = encoder.get("identity") if isinstance(encoder, dict) else encoder
    llm = config.generate.llm
    llm_name = (llm.model_path or "Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF (offline default)"
                if llm.backend == "llamacpp" else f"{llm.model} at {llm.base_url or 'vLLM'}")
    sentences = config.extract.sentences
    return [
        ("joint image-text encoder", str(encoder or config.embed.encoder.backend)),
        ("perplexity scorer", str(manifest.get("perplexity_scorer")
                                  or f"{sentences.perplexity_scorer} "
                                     f"{sentences.perplexity_model or '(default)'}")),
        ("dependency parser", sentences.spacy_model),
        ("paraphrase model", sentences.paraphrase_model or "the joint encoder's text tower"),
        ("captioner", f"{config.generate.captioner} {config.generate.captioner_model or ''}"
                      .strip()),
        ("tagger", config.generate.tagger),
        ("fusion LLM", f"{llm.backend}: {llm_name}"),
    ]


def _thresholds(config: RealsynConfig) -> list[tuple[str, Any]]:
    images, sentences = config.extract.images, config.extract.sentences
    balance, retrieve = config.balance, config.retrieve
    return [
        ("extract.images.min_side", images.min_side),
        ("extract.images.min_aspect / max_aspect", f"{images.min_aspect:.4g} / "
                                                    f"{images.max_aspect:.4g}"),
        ("extract.images.phash_max_distance", images.phash_max_distance),
        ("extract.images.semantic_dedup_threshold", images.semantic_dedup_threshold),
        ("extract.sentences.min_words / max_words",
         f"{sentences.min_words} / {sentences.max_words}"),
        ("extract.sentences.min_complexity, require_action",
         f"C{sentences.min_complexity}, {sentences.require_action}"),
        ("extract.sentences.min_entropy", f"{sentences.min_entropy} ({sentences.entropy})"),
        ("extract.sentences.min/max_perplexity",
         f"{sentences.min_perplexity} / {sentences.max_perplexity}"),
        ("extract.sentences.minhash_threshold", sentences.minhash_threshold),
        ("extract.sentences.paraphrase_threshold", sentences.paraphrase_threshold),
        ("retrieve.top_k, nprobe", f"{retrieve.top_k}, {retrieve.nprobe}"),
        ("retrieve.n_clusters / sentences_per_cluster",
         f"{retrieve.n_clusters or 'derived'} / {retrieve.sentences_per_cluster}"),
        ("balance.score_text", balance.score_text),
        _band_row(config),
        ("balance.images_per_cluster, cap", f"{balance.images_per_cluster}, "
                                             f"{balance.target or balance.cap or 'derived'}"
                                             + (" (target)" if balance.target else "")),
    ]


def _band_row(config: RealsynConfig) -> tuple[str, Any]:
    balance = config.balance
    if balance.band_kind(config.embed.encoder) == "cosines":
        return "balance.min/max_similarity", f"{balance.min_similarity} / {balance.max_similarity}"
    return ("balance.low/high_quantile",
            f"{balance.low_quantile} / {balance.high_quantile} (of the run's scores)")


def _funnel_lines(funnel: dict[str, Any]) -> list[str]:
    lines = []
    for kind, steps in (("images", IMAGE_STEPS), ("sentences", SENTENCE_STEPS)):
        rows = funnel.get(kind) or {}
        if rows:
            lines.append(f"- {kind}: " + " → ".join(f"{step.replace('_', ' ')} {rows[step]:,}"
                                                     for step in steps if step in rows))
        drops = funnel.get(f"{kind[:-1]}_drops") or {}
        if drops:
            lines.append("  - dropped: " + ", ".join(f"{name} {value:,}"
                                                     for name, value in drops.items()))
    return lines


def render_card(config: RealsynConfig, workspace: Workspace, write_stats: dict[str, Any]
                ) -> str:
    samples = int(write_stats.get("records_out", 0))
    ingest = workspace.stage_stats("ingest")
    balance = workspace.stage_stats("balance")
    funnel = workspace.read_json(FUNNEL_PATH, {}) or {}
    models = "\n".join(f"| {name} | `{value}` |" for name, value in _models(config, workspace))
    thresholds = "\n".join(f"| `{name}` | {value} |" for name, value in _thresholds(config))
    counts = [
        f"- documents read: {ingest.get('documents', ingest.get('records_in', 0)):,}",
        f"- images in the documents: {ingest.get('images', 0):,}",
        f"- image-text pairs before balancing: {balance.get('records_in', 0):,}; kept by "
        f"balancing: {balance.get('records_out', 0):,} (below the band "
        f"{balance.get('dropped_below_band', 0):,}, above {balance.get('dropped_above_band', 0):,}"
        f", per-cluster cap {balance.get('dropped_cluster_cap', 0):,})",
        f"- samples written: {samples:,} (missing image "
        f"{write_stats.get('dropped_missing_image', 0):,}, undecodable "
        f"{write_stats.get('dropped_failed_to_decode', 0):,})",
    ]
    front = yaml.safe_dump(header(samples), sort_keys=False, allow_unicode=True)
    return f"""---
{front}---

# realsyn image-text dataset

Built by realsyn, which follows RealSyn (Gu, Yang et al., arXiv 2502.12513), from interleaved
documents: each image carries three real sentences retrieved from the corpus (`text1` is the
closest) and one synthetic sentence (`syn_text`) written by an LLM from text1, a caption and
tags.

> **Licence: not set.** The `license` field above is `unknown` on purpose. The images and
> sentences come from the source documents and keep *their* licences and terms; check them and
> set the licence before publishing this dataset.

## Files and configs

| config | files | columns |
|---|---|---|
| `release` (default) | `release/*.parquet` | `raw_image_url, text1, text2, text3, syn_text` |
| `extended` | `extended/*.parquet` | every text, score, id and provenance column |
| `webdataset` (card in `shards/`) | `shards/*.tar` | `jpg`, `txt` (text1), `json` (all texts) |

```python
from datasets import load_dataset
release = load_dataset("path/to/this/folder")                  # the release parquet
extended = load_dataset("path/to/this/folder", "extended")     # every column
shards = load_dataset("path/to/this/folder/shards")            # images with their texts
```

open_clip trains on `shards/{{00000..N}}.tar` directly (`shards/sizes.json` holds the sizes).

## Counts

{chr(10).join(counts)}

## Extraction funnel

{chr(10).join(_funnel_lines(funnel)) or "(no funnel recorded)"}

## Models

| role | model |
|---|---|
{models}

## Thresholds

| field | value |
|---|---|
{thresholds}

## Provenance

- config fingerprint (sha256 of the resolved config): `{config_fingerprint(config)}`
- the resolved config is `config.yaml` in the workspace `{workspace.url}`
"""


def render_shards_card(samples: int) -> str:
    front = yaml.safe_dump(shards_header(samples), sort_keys=False, allow_unicode=True)
    return (f"---\n{front}---\n\n# realsyn WebDataset shards\n\nThe training shards of the "
            "dataset described in `../README.md` (see its licence warning): per sample "
            "`KEY.jpg`, `KEY.txt` (text1) and `KEY.json` (text1..3, syn_text, scores, ids).\n")


def _write_text(fs: Any, folder: str, text: str) -> str:
    fs.makedirs(folder, exist_ok=True)
    path = posixpath.join(folder, CARD_NAME)
    temporary = posixpath.join(folder, f".tmp-{CARD_NAME}")
    with fs.open(temporary, "w") as handle:
        handle.write(text)
    fs.mv(temporary, path)
    return path


def write_card(config: RealsynConfig, workspace: Workspace, output_root: str,
               write_stats: dict[str, Any]) -> str:
    """Write `<output>/README.md` and `<output>/shards/README.md`; return the first's path."""
    fs, root = fsspec.core.url_to_fs(output_root)
    samples = int(write_stats.get("records_out", 0))
    _write_text(fs, posixpath.join(root, "shards"), render_shards_card(samples))
    return _write_text(fs, root, render_card(config, workspace, write_stats))
