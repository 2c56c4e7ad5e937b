"""The `embed` stage: one float16 embedding row per record of the deduplicated datasets.

For each dataset it is built with (default `images_dedup`, `sentences_dedup`) and each of its
shards, writes `arrays/<dataset>/<shard>.npy`: row i is the L2-normalised embedding of dataset
row i, float16, shape (rows, dim). A dataset with a `bytes` column is embedded as images, any
other by its `text` column. The stage's shard keys are "<dataset>-<shard>".

Nothing is dropped, so arrays stay row-aligned with their datasets: an image that is missing or
cannot be decoded, or a null text, gets an all-zero row (norm 0, similarity 0 to everything; see
`realsyn.dataflow.rows.usable_rows`) and is counted in the stats (`images_zero_undecodable`, ...).

The workspace manifest records the encoder (`{"encoder": {"identity": ..., "dim": ...}}`); the
stage refuses to add embeddings from another encoder to a workspace that has some.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from realsyn import datasets as names
from realsyn import progress
from realsyn.config import EmbedConfig
from realsyn.embed.decode import try_decode_image
from realsyn.embed.prefetch import prefetch_batches
from realsyn.models.encoders import Encoder, encoder_identity, load_encoder
from realsyn.stage import RECORDS, Context, Stage
from realsyn.workspace import Workspace

MANIFEST_KEY = "encoder"
IMAGE_COLUMN = "bytes"
TEXT_COLUMN = "text"


class EncoderMismatchError(RuntimeError):
    """The workspace holds embeddings from a different encoder."""


# What the pipeline embeds: the deduplicated images and sentences (a `bytes` column is embedded
# as images, else `text`); another pipeline passes its own to the constructor.
DEFAULT_DATASETS = (names.IMAGES_DEDUP, names.SENTENCES_DEDUP)


def recorded_encoder(workspace: Workspace) -> dict[str, Any] | None:
    return workspace.manifest().get(MANIFEST_KEY)


def check_encoder(workspace: Workspace, identity: str, dim: int | None = None) -> None:
    """Raise EncoderMismatchError if the workspace records another encoder (or dimension)."""
    recorded = recorded_encoder(workspace)
    if recorded is None:
        return
    if recorded.get("identity") != identity or (dim is not None and recorded.get("dim") != dim):
        raise EncoderMismatchError(
            f"workspace {workspace.url} holds embeddings from encoder {recorded.get('identity')!r} "
            f"(dim {recorded.get('dim')}); this run's encoder is {identity!r}"
            f"{f' (dim {dim})' if dim is not None else ''}. Embeddings of different encoders "
            "cannot be mixed: use a new workspace, or remove the old embeddings first with "
            "realsyn.embed.stage.forget_embeddings(workspace).")


def claim_encoder(workspace: Workspace, encoder: Encoder) -> None:
    """Record `encoder` in the manifest, or check it against the one recorded."""
    check_encoder(workspace, encoder.identity, encoder.dim)
    if recorded_encoder(workspace) is None:
        workspace.update_manifest(**{MANIFEST_KEY: {"identity": encoder.identity,
                                                    "dim": encoder.dim}})


def forget_embeddings(workspace: Workspace, datasets: Sequence[str] | None = None) -> None:
    """Delete the embed stage's arrays, markers and encoder record (to switch encoders)."""
    for name in datasets or DEFAULT_DATASETS:
        folder = workspace.path("arrays", name)
        if workspace.fs.exists(folder):
            workspace.fs.rm(folder, recursive=True)
    workspace.reset_stage(EmbedStage.name)
    release_encoder(workspace)


def release_encoder(workspace: Workspace) -> None:
    """Forget the recorded encoder (its embeddings are gone or about to be replaced)."""
    workspace.forget_manifest_entry(MANIFEST_KEY)


class EmbedStage(Stage):
    name = "embed"
    description = "Embed deduplicated images and sentences with the joint encoder."
    num_cpus = 2.0
    config_paths = ("embed.encoder",)

    def __init__(self, datasets: Sequence[str] = DEFAULT_DATASETS) -> None:
        self.encoder: Encoder | None = None
        self.datasets = list(datasets)

    def fingerprint_extra(self, config) -> dict[str, Any]:
        return {"datasets": self.datasets}

    def reads(self, config) -> list[str]:
        return [names.dataset(name) for name in self.datasets]

    def writes(self, config) -> list[str]:
        return [names.array(name) for name in self.datasets]

    # ------------------------------------------------------------------ stage protocol
    def setup(self, ctx: Context) -> None:
        self.encoder = load_encoder(ctx.config.embed.encoder)
        claim_encoder(ctx.workspace, self.encoder)

    def shards(self, ctx: Context) -> list[str]:
        if not ctx.workspace.completed(self.name):
            # A fresh run replaces every array as a whole (executors/base.py), so the
            # encoder record starts over with it: embeddings can no longer be mixed.
            release_encoder(ctx.workspace)
        # Fail before any model loads if the workspace belongs to another encoder.
        check_encoder(ctx.workspace, encoder_identity(ctx.config.embed.encoder))
        return [f"{dataset}-{shard}" for dataset in self.datasets
                for shard in ctx.workspace.shards(dataset)]

    def process(self, ctx: Context, shard: str) -> dict[str, Any]:
        if self.encoder is None:
            self.setup(ctx)
        assert self.encoder is not None
        dataset, part = split_shard_key(shard, self.datasets)
        if IMAGE_COLUMN in dataset_columns(ctx.workspace, dataset, part):
            data = ctx.workspace.read_table(dataset, part, [IMAGE_COLUMN]).column(0).to_pylist()
            embeddings, stats = embed_image_bytes(self.encoder, data, ctx.config.embed)
        else:
            texts = ctx.workspace.read_table(dataset, part, [TEXT_COLUMN]).column(0).to_pylist()
            embeddings, stats = embed_text_column(self.encoder, texts, ctx.config.embed)
        ctx.workspace.write_array(dataset, part, embeddings)
        return {RECORDS: len(embeddings), **stats}

    def summary(self, ctx: Context, stats: dict[str, Any]) -> str:
        encoder = recorded_encoder(ctx.workspace) or {}
        counts = ", ".join(f"{key}={value}" for key, value in stats.items())
        return f"encoder {encoder.get('identity')} (dim {encoder.get('dim')}): {counts}"


def dataset_columns(workspace: Workspace, dataset: str, shard: str) -> list[str]:
    """Column names of a parquet shard, read from its footer only."""
    with workspace.parquet_file(dataset, shard) as parquet:
        return parquet.schema_arrow.names


def split_shard_key(key: str, datasets: Sequence[str]) -> tuple[str, str]:
    # Longest name first, so "images" never claims a key of "images_dedup".
    for dataset in sorted(datasets, key=len, reverse=True):
        if key.startswith(f"{dataset}-"):
            return dataset, key[len(dataset) + 1:]
    raise ValueError(f"shard key {key!r} names none of the datasets {list(datasets)}")


# ---------------------------------------------------------------------- the embedding loops
def embed_image_bytes(encoder: Encoder, data: Sequence[bytes | None], config: EmbedConfig
                      ) -> tuple[np.ndarray, dict[str, int]]:
    """Float16 unit rows for encoded images; zero rows for missing or undecodable ones."""
    out = np.zeros((len(data), encoder.dim), dtype=np.float16)
    failures: Counter[str] = Counter()
    indexed = list(enumerate(data))
    progress.expect(len(data))

    def prepare(batch: Sequence[tuple[int, bytes | None]]):
        rows, pixels, reasons = [], [], []
        for row, blob in batch:
            image, reason = try_decode_image(blob, encoder.image_size)
            if image is None:
                reasons.append(reason)
                continue
            try:
                pixels.append(encoder.preprocess(image))
            except Exception:  # a decodable but degenerate image (e.g. 0 pixels wide)
                reasons.append("undecodable")
                continue
            rows.append(row)
        return rows, (torch.stack(pixels) if pixels else None), reasons

    for rows, pixels, reasons in prefetch_batches(indexed, config.image_batch_size, prepare,
                                                  config.decode_workers):
        failures.update(reasons)
        if pixels is not None:
            out[rows] = encoder.embed_pixels(pixels).astype(np.float16)
        progress.advance(len(rows) + len(reasons))
    stats = {"images_embedded": len(data) - sum(failures.values())}
    stats.update({f"images_zero_{reason}": count for reason, count in sorted(failures.items())})
    return out, stats


def text_batches(texts: Sequence[str | None], batch_size: int) -> list[list[int]]:
    """Row numbers of the non-null texts in batches of similar length.

    Tokenizers pad a batch to its longest text, so one long sentence among short ones
    multiplies the work; grouping by length (stable, hence deterministic) avoids that.
    """
    rows = sorted((row for row, text in enumerate(texts) if text is not None),
                  key=lambda row: len(texts[row]))
    return [rows[start:start + batch_size] for start in range(0, len(rows), batch_size)]


def embed_text_column(encoder: Encoder, texts: Sequence[str | None], config: EmbedConfig
                      ) -> tuple[np.ndarray, dict[str, int]]:
    """Float16 unit rows for texts; zero rows for null texts."""
    out = np.zeros((len(texts), encoder.dim), dtype=np.float16)
    batches = text_batches(texts, config.text_batch_size)

    def prepare(batch: Sequence[list[int]]):
        rows = batch[0]
        return rows, encoder.tokenize([texts[row] for row in rows])

    # One thread at most: fast tokenizers are not safe to call from several threads at once.
    embedded = sum(len(rows) for rows in batches)
    progress.expect(len(texts))
    progress.advance(len(texts) - embedded)  # null texts: zero rows, nothing to encode
    for rows, tokens in prefetch_batches(batches, 1, prepare, min(config.decode_workers, 1)):
        out[rows] = encoder.embed_tokens(tokens).astype(np.float16)
        progress.advance(len(rows))
    stats = {"texts_embedded": embedded}
    if embedded < len(texts):
        stats["texts_zero_null"] = len(texts) - embedded
    return out, stats
