"""The retrieve centres, kept in `index/retrieve/` across runs: reused when the sentence vectors
and the build settings are unchanged, so re-running with another `nprobe` or `top_k` does not
re-cluster."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from realsyn import datasets
from realsyn.commit import folder_identity, location_url
from realsyn.dataflow import kmeans, sampling
from realsyn.partitioning import MB
from realsyn.retrieve.lists import USABLE, list_count
from realsyn.stage import Context
from realsyn.workspace import Workspace

INDEX_DIR = "index/retrieve"


def cached_centroids(ctx: Context, sentences: str, shards: list[str], usable_counts: list[int]
                     ) -> tuple[kmeans.Centres, dict[str, Any]]:
    """The centres (two-level: with their coarse level), reused from `index/retrieve` when its
    inputs and build settings are unchanged (another nprobe or top_k does not re-cluster)."""
    workspace, config = ctx.workspace, ctx.config.retrieve
    n = sum(usable_counts)
    n_clusters = list_count(n, config.n_clusters, config.sentences_per_cluster,
                            config.list_split)
    size = sampling.training_sample_size(n, n_clusters, config.training_points_per_cluster,
                                         config.max_training_points)
    params = {"n_clusters": n_clusters, "iterations": config.kmeans_iterations,
              "training_points": size, "seed": config.seed}
    if n_clusters > config.flat_centre_limit:  # flat centres keep their earlier fingerprint
        params.update(two_level=True, centre_probes=config.centre_probes)  # probes refine them
    identity = sentence_identity(workspace, sentences, shards)
    fingerprint = _fingerprint(shards, usable_counts, identity, params,
                               workspace.manifest().get("encoder"))
    cached = workspace.committed.read_json(f"{INDEX_DIR}/meta.json", {})
    if cached.get("fingerprint") == fingerprint:
        return _read(workspace, cached), cached

    def read(i: int, rows: np.ndarray) -> np.ndarray:  # rows among the shard's usable ones
        usable = workspace.read_npy(ctx.scratch_read(USABLE, f"{shards[i]}.npy"))
        return workspace.read_array(sentences, shards[i])[usable[rows]]

    sample = sampling.sample_across(usable_counts, size, config.seed, read)
    centres = kmeans.train_centres(sample, n_clusters, config.kmeans_iterations, config.seed,
                                   config.flat_centre_limit, config.centre_probes)
    meta = {**params, "fingerprint": fingerprint}
    workspace.committed.write_npy(f"{INDEX_DIR}/centroids.npy", centres.fine)
    if centres.two_level:
        workspace.committed.write_npy(f"{INDEX_DIR}/coarse.npy", centres.coarse)
        workspace.committed.write_npy(f"{INDEX_DIR}/cells.npy", centres.cells)
    workspace.committed.write_json(f"{INDEX_DIR}/meta.json", meta)
    return centres, meta


def _read(workspace: Workspace, meta: dict[str, Any]) -> kmeans.Centres:
    fine = workspace.committed.read_npy(f"{INDEX_DIR}/centroids.npy")
    if not meta.get("two_level"):
        return kmeans.Centres.flat(fine)
    return kmeans.Centres(fine, workspace.committed.read_npy(f"{INDEX_DIR}/coarse.npy"),
                          workspace.committed.read_npy(f"{INDEX_DIR}/cells.npy"))


def sentence_identity(workspace: Workspace, sentences: str, shards: list[str]) -> list[str]:
    """What the sentence vectors are, so that other vectors never reuse the centres: the
    commit identity (fingerprint and generation) of the dataset and array folders a stage
    wrote, or for folders written outside a stage (no commit marker) the sha256 of each
    shard's bytes. Never size and mtime: float16 shards of one shape have one size, object
    stores keep whole seconds, and copies keep mtimes."""
    committed = [folder_identity(location_url(workspace.committed, location))
                 for location in (datasets.dataset(sentences), datasets.array(sentences))]
    if all(committed):
        return [str(identity) for identity in committed]
    return [_sha256(workspace, f"{datasets.array(sentences)}/{shard}.npy") for shard in shards]


def _sha256(workspace: Workspace, relpath: str) -> str:
    digest = hashlib.sha256()
    with workspace.fs.open(workspace.path(relpath), "rb") as handle:
        while block := handle.read(MB):
            digest.update(block)
    return digest.hexdigest()


def _fingerprint(shards: list[str], counts: list[int], identity: list[str],
                 params: dict[str, Any], encoder: Any) -> str:
    blob = json.dumps({"shards": shards, "counts": counts, "identity": identity,
                       "params": params, "encoder": encoder}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
