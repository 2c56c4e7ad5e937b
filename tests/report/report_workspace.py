"""A finished workspace for the report tests, built in seconds.

The upstream stages (ingest .. generate) are tested elsewhere and cost minutes: their stats and
datasets are written here with the contract names, from real photos, and the real `balance` and
`write` stages then run on them through the pipeline, so the report reads what a run leaves.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

from real_photos import encode, photo
from realsyn.config import parse_config
from realsyn.extract import funnel
from realsyn.pipeline import run_pipeline
from realsyn.workspace import Workspace

PHOTOS = ("chelsea", "coffee", "rocket", "astronaut", "motorcycle", "china", "flower",
          "grace_hopper")
N_IMAGES = 48
N_DOCS = 8

# Counters of the upstream stages, as a run of the sample corpus writes them.
UPSTREAM_STATS = {
    "ingest": {"records_in": 56, "documents": 56, "texts": 1861, "images": 431, "images_ok": 431,
               "wall_s": 0.9},
    "extract_images": {"records_in": 431, "images_decoded": 431, "images_out": 330,
                       "dropped_too_small": 91, "dropped_aspect_ratio": 10, "wall_s": 1.2},
    "extract_sentences": {"records_in": 1861, "sentences_extracted": 2990,
                          "dropped_too_few_words": 900, "dropped_no_action": 658,
                          "dropped_low_perplexity": 500, "dropped_high_perplexity": 74,
                          "sentences_out": 858, "wall_s": 140.0},
    "dedup": {"records_in": 1188, "images_out": 164, "sentences_out": 746,
              "dropped_perceptual_duplicate": 166, "dropped_exact_duplicate": 100,
              "dropped_near_duplicate": 12},
    "embed": {"records_in": 910, "wall_s": 20.0},
    "semantic_dedup": {"records_in": 910, "images_out": N_IMAGES, "sentences_out": 681,
                       "dropped_images_semantic_duplicate": 164 - N_IMAGES,
                       "dropped_sentences_paraphrase": 65},
    "retrieve": {"records_in": N_IMAGES},
    "generate": {"records_in": N_IMAGES, "llm_requests": 2 * N_IMAGES, "cache_hits": 0},
}


def image_bytes(index: int) -> bytes:
    """A distinct JPEG per index: a real photo, cropped and sized by the index."""
    picture = photo(PHOTOS[index % len(PHOTOS)])
    side = 160 + 8 * index
    crop = picture.crop((index, index, picture.width - index, picture.height - index))
    return encode(crop.resize((side, side * 3 // 4), Image.Resampling.BILINEAR), "JPEG",
                  quality=85)


def write_upstream(workspace: Workspace) -> None:
    rng = np.random.default_rng(0)
    ids = [f"img{i:03d}" for i in range(N_IMAGES)]
    docs = [f"doc{i % N_DOCS}" for i in range(N_IMAGES)]
    workspace.write_table("documents", "00000", pa.table({
        "doc_id": [f"doc{d}" for d in range(N_DOCS)],
        "url": [f"https://docs.example.org/page{d}.html" for d in range(N_DOCS)],
        "source": [f"sample.parquet#row={d}" for d in range(N_DOCS)]}))
    centres = rng.standard_normal((6, 16))
    vectors = centres[np.arange(N_IMAGES) % 6] + 0.1 * rng.standard_normal((N_IMAGES, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for number, start in enumerate(range(0, N_IMAGES, 20)):
        part = slice(start, start + 20)
        shard = f"{number:05d}"
        workspace.write_table("images_final", shard, pa.table({
            "image_id": ids[part], "doc_id": docs[part],
            "url": [f"https://img.example.org/{i}.jpg" for i in ids[part]],
            "bytes": pa.array([image_bytes(i) for i in range(N_IMAGES)][part], pa.binary())}))
        workspace.write_array("images_final", shard, vectors[part].astype(np.float16))
    # Retrieval: scores spread over the band and beyond; a few sentences serve many images.
    score1 = np.linspace(0.12, 0.58, N_IMAGES)[rng.permutation(N_IMAGES)]
    columns = {"image_id": ids, "doc_id": docs,
               "position": pa.array([i % 5 for i in range(N_IMAGES)], pa.int32()),
               "url": [f"https://img.example.org/{i}.jpg" for i in ids],
               "image_cluster_id": pa.array([i % 4 for i in range(N_IMAGES)], pa.int64())}
    for k in (1, 2, 3):
        sentence = [f"s{(i * k) % 30}" for i in range(N_IMAGES)]
        columns[f"text{k}"] = [f"The sentence number {s[1:]} describes a scene in detail."
                               for s in sentence]
        columns[f"score{k}"] = pa.array(score1 - 0.02 * (k - 1), pa.float32())
        columns[f"sentence_id{k}"] = sentence
        columns[f"sentence_doc_id{k}"] = [docs[i] if i % 3 == 0 else f"doc{(i + k) % N_DOCS}"
                                          for i in range(N_IMAGES)]
        columns[f"cluster_id{k}"] = pa.array([i % 4 for i in range(N_IMAGES)], pa.int64())
    workspace.write_table("retrieved", "00000", pa.table(columns))
    status = ["fallback:too_long" if i % 11 == 5 else "ok" for i in range(N_IMAGES)]
    columns["caption"] = [f"A photo of a {PHOTOS[i % len(PHOTOS)]}." for i in range(N_IMAGES)]
    columns["tags"] = [json.dumps([[PHOTOS[i % len(PHOTOS)], 0.61], ["object", 0.12]])
                       for i in range(N_IMAGES)]
    columns["syn_text"] = [t1 if s != "ok" or i % 7 == 0 else t1[:-1] + ", shown in a photo."
                           for i, (t1, s) in enumerate(zip(columns["text1"], status,
                                                           strict=True))]
    columns["syn_status"] = status
    workspace.write_table("generated", "00000", pa.table(columns))
    for stage, stats in UPSTREAM_STATS.items():
        workspace.mark_done(stage, "all", stats)
        workspace.merge_stats(stage)
    funnel.store(workspace)


def build_workspace(root: Path):
    config = parse_config({
        "workspace": str(root),
        "executor": {"workers": 1, "shard_size": 20},
        "balance": {"min_similarity": 0.2, "max_similarity": 0.5, "images_per_cluster": 6,
                    "cap": 4},
        "write": {"samples_per_shard": 10}})
    workspace = Workspace(config.workspace)
    write_upstream(workspace)
    run_pipeline(config, only=["balance", "write"], report=lambda line: None)
    return config, workspace
