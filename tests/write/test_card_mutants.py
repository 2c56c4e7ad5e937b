"""The dataset card tested alone and through the write stage (scripts/mutation.py mutates
realsyn/write/card.py).

The expected cards are written out here in full, from the values each test puts into its
workspace and config, so that any changed word, number, order or format of the card fails.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from fsspec.implementations.local import LocalFileSystem
from write_helpers import build_generated_workspace

from realsyn.balance.stage import BalanceStage
from realsyn.config import dump_config, parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.workspace import Workspace
from realsyn.write.card import header, render_card, render_shards_card, write_card
from realsyn.write.stage import WriteStage

HEADER = """\
---
license: unknown
pretty_name: realsyn image-text dataset
task_categories:
- zero-shot-image-classification
- image-to-text
- text-to-image
language:
- en
size_categories:
- {size}
tags:
- realsyn
- clip
- image-text
- webdataset
"""

CARD = HEADER + """\
configs:
- config_name: release
  default: true
  data_files:
  - split: train
    path: release/*.parquet
- config_name: extended
  data_files:
  - split: train
    path: extended/*.parquet
---

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

{counts}

## Extraction funnel

{funnel}

## Models

| role | model |
|---|---|
{models}

## Thresholds

| field | value |
|---|---|
{thresholds}

## Provenance

- config fingerprint (sha256 of the resolved config): `{fingerprint}`
- the resolved config is `config.yaml` in the workspace `{workspace}`
"""

SHARDS_CARD = HEADER + """\
configs:
- config_name: webdataset
  default: true
  data_files:
  - split: train
    path: '*.tar'
---

# realsyn WebDataset shards

The training shards of the dataset described in `../README.md` (see its licence warning): \
per sample `KEY.jpg`, `KEY.txt` (text1) and `KEY.json` (text1..3, syn_text, scores, ids).
"""


def table(rows: list[tuple[str, str]]) -> str:
    return "\n".join(f"| {left} | {right} |" for left, right in rows)


def sha256_of(config) -> str:
    return hashlib.sha256(dump_config(config).encode()).hexdigest()


# Every threshold away from its default, each to a value no other field has.
THRESHOLDS = {
    "images": {"min_side": 123, "min_aspect": 0.123456, "max_aspect": 7.654321,
               "phash_max_distance": 7, "semantic_dedup_threshold": 0.91},
    "sentences": {"min_words": 4, "max_words": 55, "min_complexity": 2, "require_action": False,
                  "min_entropy": 0.45, "entropy": "char", "min_perplexity": 1.7,
                  "max_perplexity": 19.5, "minhash_threshold": 0.77,
                  "paraphrase_threshold": 0.83, "perplexity_scorer": "none",
                  "paraphrase_model": "my/paraphraser", "spacy_model": "en_core_web_md"},
}


def full_workspace(tmp_path: Path):
    """A workspace with ingest and balance stats, a funnel and the encoder in its manifest, and
    a config with every field the card shows away from its default."""
    config = parse_config({
        "workspace": str(tmp_path / "ws"),
        "extract": THRESHOLDS,
        "retrieve": {"top_k": 4, "nprobe": 6, "n_clusters": 21, "sentences_per_cluster": 333},
        "balance": {"score_text": "mean", "band": "cosines", "min_similarity": 0.21,
                    "max_similarity": 0.52, "images_per_cluster": 17, "target": 4321,
                    "cap": 99},
        "generate": {"captioner": "hf", "captioner_model": "my/captioner", "tagger": "zero_shot",
                     "llm": {"backend": "openai", "base_url": "http://llm.example:8000/v1",
                             "model": "qwen-7b"}},
    })
    workspace = Workspace(config.workspace)
    workspace.write_json("stages/ingest/stats.json",
                         {"documents": 12345, "records_in": 11, "images": 67890})
    workspace.write_json("stages/balance/stats.json", {
        "records_in": 5432, "records_out": 2109, "dropped_below_band": 1001,
        "dropped_above_band": 1202, "dropped_cluster_cap": 1120})
    # Stored with sorted keys, as the funnel writes it: the card puts them in pipeline order.
    workspace.write_json("report/funnel.json", {
        "image_drops": {"too_small": 1500, "bad_aspect": 3},
        "images": {"after_perceptual_dedup": 1300, "after_quality": 1400,
                   "after_semantic_dedup": 1200, "decoded": 1450, "extracted": 2000},
        "sentence_drops": {"short": 7000},
        "sentences": {"after_exact_near_dedup": 3000, "after_quality": 4000,
                      "extracted": 9000},
    })
    workspace.update_manifest(encoder={"identity": "open_clip ViT-B-32 laion2b"},
                              perplexity_scorer="kenlm /models/5gram.bin")
    return config, workspace


def test_the_whole_card_of_a_known_workspace(tmp_path):
    config, workspace = full_workspace(tmp_path)
    stats = {"records_out": 2045, "dropped_missing_image": 1033, "dropped_failed_to_decode": 31}
    expected = CARD.format(
        size="1K<n<10K",
        counts="\n".join([
            "- documents read: 12,345",
            "- images in the documents: 67,890",
            "- image-text pairs before balancing: 5,432; kept by balancing: 2,109 (below the "
            "band 1,001, above 1,202, per-cluster cap 1,120)",
            "- samples written: 2,045 (missing image 1,033, undecodable 31)"]),
        funnel="\n".join([
            "- images: extracted 2,000 → decoded 1,450 → after quality 1,400 → after perceptual "
            "dedup 1,300 → after semantic dedup 1,200",
            "  - dropped: bad_aspect 3, too_small 1,500",  # as stored: sorted
            "- sentences: extracted 9,000 → after quality 4,000 → after exact near dedup 3,000",
            "  - dropped: short 7,000"]),
        models=table([
            ("joint image-text encoder", "`open_clip ViT-B-32 laion2b`"),
            ("perplexity scorer", "`kenlm /models/5gram.bin`"),
            ("dependency parser", "`en_core_web_md`"),
            ("paraphrase model", "`my/paraphraser`"),
            ("captioner", "`hf my/captioner`"),
            ("tagger", "`zero_shot`"),
            ("fusion LLM", "`openai: qwen-7b at http://llm.example:8000/v1`")]),
        thresholds=table([
            ("`extract.images.min_side`", "123"),
            ("`extract.images.min_aspect / max_aspect`", "0.1235 / 7.654"),
            ("`extract.images.phash_max_distance`", "7"),
            ("`extract.images.semantic_dedup_threshold`", "0.91"),
            ("`extract.sentences.min_words / max_words`", "4 / 55"),
            ("`extract.sentences.min_complexity, require_action`", "C2, False"),
            ("`extract.sentences.min_entropy`", "0.45 (char)"),
            ("`extract.sentences.min/max_perplexity`", "1.7 / 19.5"),
            ("`extract.sentences.minhash_threshold`", "0.77"),
            ("`extract.sentences.paraphrase_threshold`", "0.83"),
            ("`retrieve.top_k, nprobe`", "4, 6"),
            ("`retrieve.n_clusters / sentences_per_cluster`", "21 / 333"),
            ("`balance.score_text`", "mean"),
            ("`balance.min/max_similarity`", "0.21 / 0.52"),
            ("`balance.images_per_cluster, cap`", "17, 4321 (target)")]),
        fingerprint=sha256_of(config), workspace=str(tmp_path / "ws"))
    assert render_card(config, workspace, stats) == expected


def test_the_card_of_an_empty_workspace_with_the_defaults_around(tmp_path):
    """No stats, no funnel, no manifest: zeros, the configured models and the derived values."""
    config = parse_config({
        "workspace": str(tmp_path / "bare"),
        "extract": {"sentences": {"perplexity_scorer": "gguf", "min_perplexity": 2.5,
                                   "max_perplexity": 40.0}},
        "retrieve": {"top_k": 2},
        "balance": {"band": "quantiles", "low_quantile": 0.15, "high_quantile": 0.85},
        "generate": {"llm": {"model_path": "/models/tiny.gguf"}},
    })
    workspace = Workspace(config.workspace)
    expected = CARD.format(
        size="n<1K",
        counts="\n".join([
            "- documents read: 0", "- images in the documents: 0",
            "- image-text pairs before balancing: 0; kept by balancing: 0 (below the band 0, "
            "above 0, per-cluster cap 0)",
            "- samples written: 0 (missing image 0, undecodable 0)"]),
        funnel="(no funnel recorded)",
        models=table([
            ("joint image-text encoder", "`offline`"),
            ("perplexity scorer", "`gguf (default)`"),
            ("dependency parser", f"`{config.extract.sentences.spacy_model}`"),
            ("paraphrase model", "`the joint encoder's text tower`"),
            ("captioner", "`tags_llm`"),
            ("tagger", "`combined`"),
            ("fusion LLM", "`llamacpp: /models/tiny.gguf`")]),
        thresholds=table([
            ("`extract.images.min_side`", "100"),
            ("`extract.images.min_aspect / max_aspect`", "0.3333 / 3"),
            ("`extract.images.phash_max_distance`", "10"),
            ("`extract.images.semantic_dedup_threshold`", "0.95"),
            ("`extract.sentences.min_words / max_words`", "3 / 81"),
            ("`extract.sentences.min_complexity, require_action`", "C1, True"),
            ("`extract.sentences.min_entropy`", "0.3 (word_normalized)"),
            ("`extract.sentences.min/max_perplexity`", "2.5 / 40.0"),
            ("`extract.sentences.minhash_threshold`", "0.8"),
            ("`extract.sentences.paraphrase_threshold`", "0.85"),
            ("`retrieve.top_k, nprobe`", "2, None"),
            ("`retrieve.n_clusters / sentences_per_cluster`", "derived / 420"),
            ("`balance.score_text`", "text1"),
            ("`balance.low/high_quantile`", "0.15 / 0.85 (of the run's scores)"),
            ("`balance.images_per_cluster, cap`", "168, derived")]),
        fingerprint=sha256_of(config), workspace=str(tmp_path / "bare"))
    assert render_card(config, workspace, {}) == expected


def models_and_thresholds(card: str) -> dict[str, str]:
    """The rows of the card's two-column tables, by their first cell."""
    rows = [line.strip("|").split(" | ") for line in card.splitlines() if line.startswith("| ")]
    return {row[0].strip(): row[1].strip() for row in rows if len(row) == 2}


@pytest.mark.parametrize(("settings", "manifest", "expected"), [
    # the documents count falls back to records_in; the encoder entry can be a plain string
    ({"llm": {"backend": "vllm", "model": "big"}}, {"encoder": "plain-encoder"},
     {"joint image-text encoder": "`plain-encoder`", "fusion LLM": "`vllm: big at vLLM`"}),
    # an encoder entry without identity falls back to the config's encoder
    ({"llm": {"backend": "llamacpp"}, "captioner_model": "only/model"}, {"encoder": {"x": 1}},
     {"joint image-text encoder": "`offline`",
      "fusion LLM": "`llamacpp: Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF (offline default)`",
      "captioner": "`tags_llm only/model`"}),
])
def test_the_model_rows_fall_back_in_order(tmp_path, settings, manifest, expected):
    config = parse_config({"workspace": str(tmp_path / "ws"), "generate": settings})
    workspace = Workspace(config.workspace)
    workspace.update_manifest(**manifest)
    rows = models_and_thresholds(render_card(config, workspace, {}))
    assert {name: rows[name] for name in expected} == expected


def test_documents_fall_back_to_the_records_read_and_a_cap_shows_without_target(tmp_path):
    config = parse_config({"workspace": str(tmp_path / "ws"),
                           "balance": {"cap": 77, "images_per_cluster": 5}})
    workspace = Workspace(config.workspace)
    workspace.write_json("stages/ingest/stats.json", {"records_in": 4567})
    card = render_card(config, workspace, {"records_out": 10_000})
    assert "\n- documents read: 4,567\n" in card
    assert models_and_thresholds(card)["`balance.images_per_cluster, cap`"] == "5, 77"
    assert "\n- 10K<n<100K\n" in card


def test_a_funnel_of_images_only_keeps_the_pipeline_order(tmp_path):
    config = parse_config({"workspace": str(tmp_path / "ws")})
    workspace = Workspace(config.workspace)
    workspace.write_json("report/funnel.json", {"images": {"decoded": 5, "extracted": 9},
                                                "sentence_drops": {}, "sentences": {}})
    card = render_card(config, workspace, {})
    assert "## Extraction funnel\n\n- images: extracted 9 → decoded 5\n\n## Models" in card


@pytest.mark.parametrize(("samples", "category"), [
    (0, "n<1K"), (999, "n<1K"), (1_000, "1K<n<10K"), (9_999, "1K<n<10K"),
    (10_000, "10K<n<100K"), (99_999, "10K<n<100K"), (100_000, "100K<n<1M"),
    (999_999, "100K<n<1M"), (1_000_000, "1M<n<10M"), (9_999_999, "1M<n<10M"),
    (10_000_000, "10M<n<100M"), (99_999_999, "10M<n<100M"), (100_000_000, "100M<n<1B"),
    (999_999_999, "100M<n<1B"),
])
def test_size_categories_are_the_hub_s_buckets(samples, category):
    assert header(samples)["size_categories"] == [category]
    shards = yaml.safe_load(render_shards_card(samples).split("---\n")[1])
    assert shards["size_categories"] == [category]


def test_the_shards_card_is_its_own_webdataset_config():
    assert render_shards_card(12_000) == SHARDS_CARD.format(size="10K<n<100K")


def test_write_card_writes_both_cards_whole_and_no_temporary(tmp_path):
    config, workspace = full_workspace(tmp_path)
    stats = {"records_out": 150_000}
    output = tmp_path / "out"
    path = write_card(config, workspace, str(output), stats)
    assert Path(path) == output / "README.md"
    assert (output / "README.md").read_text() == render_card(config, workspace, stats)
    assert (output / "shards" / "README.md").read_text() == SHARDS_CARD.format(
        size="100K<n<1M")
    assert sorted(p.name for p in output.rglob("*")) == ["README.md", "README.md", "shards"]
    # written again over an existing card
    write_card(config, workspace, str(output), {"records_out": 5})
    assert "\n- n<1K\n" in (output / "README.md").read_text()
    assert (output / "shards" / "README.md").read_text() == SHARDS_CARD.format(size="n<1K")


def test_the_write_stage_puts_its_counts_in_the_card(make_context, material):
    ctx = make_context({"samples_per_shard": 10, "image_size": 64})
    ids = build_generated_workspace(ctx.workspace, material, copies=1)
    LocalExecutor(1).run(BalanceStage(), ctx)
    LocalExecutor(1).run(WriteStage(), ctx)
    output = Path(ctx.workspace.root) / "output"
    card = (output / "README.md").read_text()
    corrupt = sum("corrupt" in image_id for image_id in ids)
    assert (f"\n- samples written: {len(ids) - corrupt} (missing image 0, undecodable "
            f"{corrupt})\n") in card
    assert f"`{sha256_of(ctx.config)}`" in card
    front = yaml.safe_load((output / "shards" / "README.md").read_text().split("---\n")[1])
    assert front["size_categories"] == ["n<1K"]
    assert not list(output.rglob(".tmp-*"))


def test_each_card_is_swapped_in_from_a_temporary_beside_it(tmp_path, monkeypatch):
    """The temporary lies in the card's own folder (never the process's working folder), so
    that the move publishing it is a rename in one folder; a run with no counts at all (no
    shard written) still gets both cards."""
    moves = []
    move = LocalFileSystem.mv

    def recorded(self, source, target, *args, **kwargs):
        moves.append((Path(source), Path(target)))
        return move(self, source, target, *args, **kwargs)

    config, workspace = full_workspace(tmp_path)
    monkeypatch.setattr(LocalFileSystem, "mv", recorded)
    monkeypatch.chdir(tmp_path)
    output = tmp_path / "out"
    write_card(config, workspace, str(output), {})
    assert [(source.parent, target) for source, target in moves] == [
        (output / "shards", output / "shards" / "README.md"), (output, output / "README.md")]
    assert all(source.name != "README.md" for source, _ in moves)
    assert (output / "shards" / "README.md").read_text() == SHARDS_CARD.format(size="n<1K")
    assert "\n- samples written: 0 (missing image 0, undecodable 0)\n" in (
        output / "README.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "ws"]
