"""The `balance` stage: similarity band, image k-means and per-cluster cap over `generated`.

Inputs: dataset `generated` (one row per image: image_id, url, text1..3, score1..3, syn_text, ...)
and the image embeddings: arrays `images_final`, row-aligned with dataset `images_final`, joined by
image_id. Output: dataset `balanced`, the kept rows of `generated` in their input order, plus
`balance_score` (the similarity that passed the band), `balance_cluster` (k-means cluster) and
`image_shard` / `image_row` (where the image's bytes are in `images_final`, for the writer).
The cluster-size distribution before and after the cap, with its entropy, and the histogram of
similarity scores go to `report/balance.json`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from realsyn import datasets
from realsyn.balance import sampling
from realsyn.config import BalanceConfig
from realsyn.retrieve import clustering
from realsyn.stage import RECORDS, Context, GlobalStage
from realsyn.workspace import Workspace

INPUT = datasets.GENERATED
IMAGES = datasets.IMAGES_FINAL
OUTPUT = datasets.BALANCED
REPORT = "report/balance.json"
RETRIEVED_TEXTS = ("text1", "text2", "text3")


class ImageEmbeddings:
    """The embeddings of `images_final`, addressable by image_id, without loading them all."""

    def __init__(self, workspace: Workspace, dataset: str = IMAGES):
        shards = workspace.shards(dataset)
        if not shards:
            raise FileNotFoundError(f"dataset {dataset!r} is empty or missing in {workspace.url}")
        if shards != workspace.array_shards(dataset):
            raise ValueError(f"dataset {dataset!r} and its embeddings have different shards: "
                             f"{shards} vs {workspace.array_shards(dataset)}")
        ids, shard_of, row_of, self.blocks = [], [], [], []
        for shard in shards:
            column = workspace.read_table(dataset, shard, columns=["image_id"]).column("image_id")
            block = workspace.read_array(dataset, shard)
            if len(block) != len(column):
                raise ValueError(f"{IMAGES}/{shard}: {len(column)} records but {len(block)} "
                                 "embedding rows")
            ids.append(column)
            shard_of.append(pa.array([shard] * len(column), pa.string()))
            row_of.append(pa.array(np.arange(len(column), dtype=np.int64)))
            self.blocks.append(block)
        self.ids = pa.chunked_array(ids, pa.string())
        self.shard_of = pa.chunked_array(shard_of, pa.string())
        self.row_of = pa.chunked_array(row_of, pa.int64())

    def lookup(self, image_ids: pa.ChunkedArray) -> np.ndarray:
        """Global row of each image id in the concatenated embeddings; -1 when absent."""
        rows = pc.index_in(image_ids, value_set=self.ids.combine_chunks())
        return np.asarray(rows.fill_null(-1).to_numpy(), dtype=np.int64)

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """float32 embeddings of the given global rows, in the given order."""
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), self.blocks[0].shape[1] if self.blocks else 0), np.float32)
        out[order] = clustering.gather_rows(self.blocks, rows[order])
        return out


def column_floats(table: pa.Table, name: str) -> np.ndarray:
    """A numeric column as float64 with NaN for nulls."""
    column = table.column(name).cast(pa.float64())
    return np.asarray(column.fill_null(np.nan).to_numpy(), dtype=np.float64)


class TextScorer:
    """Cosine of each image with one of its texts; embeds texts only when no score is stored."""

    def __init__(self, encoder: Any, batch_size: int):
        self.encoder = encoder
        self.batch_size = batch_size

    def scores(self, table: pa.Table, column: str, images: np.ndarray) -> np.ndarray:
        score_column = f"score{column[-1]}" if column in RETRIEVED_TEXTS else None
        if score_column and score_column in table.column_names:
            return column_floats(table, score_column)
        if self.encoder is None:
            raise ValueError(f"scoring {column!r} needs a text encoder")
        texts = table.column(column).to_pylist()
        out = np.full(len(texts), np.nan)
        present = [i for i, text in enumerate(texts) if text and text.strip()]
        for start in range(0, len(present), self.batch_size):
            rows = present[start:start + self.batch_size]
            vectors = np.asarray(self.encoder.embed_texts([texts[i] for i in rows]), np.float32)
            out[rows] = sampling.rowwise_cosine(images[rows], vectors)
        return out


def needs_encoder(config: BalanceConfig, columns: list[str]) -> bool:
    if config.score_text == "syn_text":
        return True
    if config.score_text == "text1":
        return "score1" not in columns
    return True  # mean: syn_text always needs one


def similarity(config: BalanceConfig, table: pa.Table, images: np.ndarray,
               scorer: TextScorer) -> np.ndarray:
    """The configured image-text similarity per row (NaN where the text is missing)."""
    if config.score_text in ("text1", "syn_text"):
        return scorer.scores(table, config.score_text, images)
    columns = [c for c in (*RETRIEVED_TEXTS, "syn_text") if c in table.column_names]
    stacked = np.vstack([scorer.scores(table, c, images) for c in columns])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN (no text)
        return np.nanmean(stacked, axis=0)


def load_text_encoder(ctx: Context) -> Any:
    """The run's joint encoder; it must be the one that embedded the images (checked before
    any model is loaded)."""
    from realsyn.models.encoders import encoder_identity, load_encoder

    config = ctx.config.embed.encoder
    recorded = ctx.workspace.manifest().get("encoder")
    recorded_identity = recorded.get("identity") if isinstance(recorded, dict) else recorded
    identity = encoder_identity(config)
    if recorded_identity and recorded_identity != identity:
        raise ValueError(f"images were embedded with {recorded_identity!r} but the configured "
                         f"encoder is {identity!r}: their similarities are meaningless")
    return load_encoder(config)


class BalanceStage(GlobalStage):
    name = "balance"
    description = "Similarity band, image k-means and per-cluster cap (spec section 4)."

    config_paths = ("balance", "embed.encoder", "executor.shard_size")

    def __init__(self, encoder: Any = None, generated: str = INPUT, images: str = IMAGES,
                 output: str = OUTPUT):
        # An encoder may be injected (tests, notebooks); otherwise loaded only when needed.
        self.encoder = encoder
        self.generated, self.images, self.output = generated, images, output

    def reads(self, config) -> list[str]:
        return [datasets.dataset(self.generated), datasets.dataset(self.images),
                datasets.array(self.images)]

    def writes(self, config) -> list[str]:
        return [datasets.dataset(self.output)]

    def run(self, ctx: Context) -> dict[str, Any]:
        workspace, config = ctx.workspace, ctx.config.balance
        table = workspace.read_dataset(self.generated)
        stats: dict[str, Any] = {RECORDS: table.num_rows}
        embeddings = ImageEmbeddings(workspace, self.images)

        rows = embeddings.lookup(table.column("image_id"))
        images = embeddings.gather(np.where(rows >= 0, rows, 0))
        # `embed` leaves an all-zero row for an image it could not decode: no embedding either
        has_embedding = (rows >= 0) & (np.linalg.norm(images, axis=1) > 0.5)
        stats["dropped_no_embedding"] = int((~has_embedding).sum())
        table = table.filter(pa.array(has_embedding))
        rows, images = rows[has_embedding], images[has_embedding]

        if self.encoder is None and needs_encoder(config, table.column_names):
            self.encoder = load_text_encoder(ctx)
        scorer = TextScorer(self.encoder, ctx.config.embed.text_batch_size)
        scores = similarity(config, table, images, scorer)
        scored = np.isfinite(scores)
        in_band = sampling.band_mask(scores, config.min_similarity, config.max_similarity)
        stats["dropped_no_score"] = int((~scored).sum())
        stats["dropped_below_band"] = int((scored & (scores < config.min_similarity)).sum())
        stats["dropped_above_band"] = int((scored & (scores > config.max_similarity)).sum())

        band_rows = np.flatnonzero(in_band)
        n_clusters = config.n_clusters or sampling.default_n_clusters(
            len(band_rows), config.images_per_cluster)
        labels = sampling.cluster_images(
            images[band_rows], n_clusters, config.kmeans_iterations, config.seed,
            config.training_points_per_cluster, config.max_training_points)
        result = sampling.balance_clusters(labels, config.cap, config.target,
                                           config.fill_target, config.seed)
        kept = band_rows[result.kept]
        stats["dropped_cluster_cap"] = int(len(band_rows) - len(kept))
        dropped = dropped_examples(table, scores, in_band, kept, config)
        stats["records_out"] = len(kept)

        output = table.take(pa.array(kept, pa.int64()))
        output = output.append_column("balance_score", pa.array(scores[kept], pa.float32()))
        output = output.append_column("balance_cluster", pa.array(labels[result.kept], pa.int64()))
        global_rows = pa.array(rows[kept], pa.int64())
        output = output.append_column("image_shard", embeddings.shard_of.take(global_rows))
        output = output.append_column("image_row", embeddings.row_of.take(global_rows))
        write_sharded(workspace, self.output, output, ctx.config.executor.shard_size)

        n_used_clusters = int(result.before.get("clusters", 0))
        stats.update(clusters=n_used_clusters, cap_t=result.cap, cap_extra=result.extra,
                     entropy_before=result.before["entropy_bits"],
                     entropy_after=result.after["entropy_bits"])
        workspace.write_json(REPORT, {
            "score_text": config.score_text,
            "band": [config.min_similarity, config.max_similarity],
            "score_histogram": sampling.score_histogram(scores),
            "kmeans_clusters": int(min(n_clusters, len(band_rows))),
            "cap_t": result.cap, "cap_extra": result.extra, "target": config.target,
            "seed": config.seed,
            "clusters_before": result.before, "clusters_after": result.after,
            "stats": stats, "dropped_examples": dropped,
        })
        return stats

    def summary(self, ctx: Context, stats: dict[str, Any]) -> str:
        config = ctx.config.balance
        return (f"kept {stats.get('records_out', 0)} of {stats.get(RECORDS, 0)} images; band "
                f"[{config.min_similarity}, {config.max_similarity}] on {config.score_text} "
                f"dropped {stats.get('dropped_below_band', 0)} below, "
                f"{stats.get('dropped_above_band', 0)} above; cap t={stats.get('cap_t')} over "
                f"{stats.get('clusters', 0)} clusters dropped {stats.get('dropped_cluster_cap', 0)}"
                f"; entropy {stats.get('entropy_before', 0):.3f} -> "
                f"{stats.get('entropy_after', 0):.3f} bits; report: "
                f"{ctx.workspace.path(REPORT)}")


def dropped_examples(table: pa.Table, scores: np.ndarray, in_band: np.ndarray,
                     kept: np.ndarray, config: BalanceConfig, per_reason: int = 12) -> list[dict]:
    """The first few dropped rows of each reason (image_id, reason, score), for the report."""
    capped = in_band.copy()
    capped[kept] = False
    reasons = {"below_band": scores < config.min_similarity,
               "above_band": scores > config.max_similarity,
               "no_score": ~np.isfinite(scores), "cluster_cap": capped}
    ids = table.column("image_id").to_pylist()
    return [{"image_id": ids[row], "reason": reason,
             "score": float(scores[row]) if np.isfinite(scores[row]) else None}
            for reason, mask in reasons.items() for row in np.flatnonzero(mask)[:per_reason]]


def write_sharded(workspace: Workspace, name: str, table: pa.Table, shard_size: int) -> None:
    """Replace dataset `name` by `table` cut into shards of `shard_size` rows (at least one)."""
    folder = workspace.path("datasets", name)
    if workspace.fs.exists(folder):
        workspace.fs.rm(folder, recursive=True)
    starts = range(0, max(table.num_rows, 1), shard_size)
    for number, start in enumerate(starts):
        workspace.write_table(name, f"{number:05d}", table.slice(start, shard_size))
