"""The whole pipeline chained through `realsyn run` (a subprocess, as a user runs it), with the
real LLM backend: every stage reads what the one before it wrote, the outputs load in
webdataset and in open_clip's training loader, and `--only`, `--from` and `--rerun` do what
the README says."""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from argparse import Namespace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import webdataset as wds
from chained_pipeline import DATA, digests, realsyn, stages_ran

from realsyn.registry import STAGES

ALL = list(STAGES)


def workspace_of(config: Path) -> Path:
    return config.parent / "ws"


def column(root: Path, dataset: str, name: str) -> list:
    return pq.read_table(root / "datasets" / dataset).column(name).to_pylist()


def everything(root: Path) -> dict[str, str]:
    """Digests of every file of a workspace but the run logs (each run appends its own)."""
    folders = tuple(p.name for p in root.iterdir() if p.is_dir() and p.name != "logs")
    files = tuple(p.name for p in root.iterdir() if p.is_file())
    return digests(root, folders) | {
        name: hashlib.sha256((root / name).read_bytes()).hexdigest() for name in files}


def mtimes(root: Path, folders: tuple[str, ...]) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for name in folders
            for p in sorted((root / name).rglob("*")) if p.is_file()}


def test_every_stage_runs_in_order_and_reads_what_the_one_before_wrote(chained):
    folder, _, stdout = chained
    root = folder / "ws"
    assert stages_ran(stdout) == ALL
    # The real LLM wrote syn_text for the retrieved images: as many answers as the stage
    # reports, from requests that went to the model (no cache yet), some unlike text1.
    generated, total = map(int, re.search(r"\[generate\] .* (\d+)/(\d+) synthetic", stdout)
                           .groups())
    assert re.search(r"llm cache hits=0 misses=[1-9]", stdout)
    status = column(root, "generated", "syn_status")
    assert total == len(status) >= 4 and status.count("ok") == generated >= 1
    # Rewritten are the rows the model answered, less those it returned unchanged (counted
    # by the stage); a fallback keeps text1.
    generated_rows = pq.read_table(root / "datasets" / "generated").to_pylist()
    same = json.loads((root / "stages" / "generate" / "stats.json").read_text()).get(
        "syn_same_as_text1", 0)
    assert all(row["syn_text"] == (row["text1"] or "") for row in generated_rows
               if row["syn_status"] != "ok")
    rewritten = [row for row in generated_rows if row["syn_text"] != row["text1"]]
    assert all(row["syn_status"] == "ok" for row in rewritten)
    assert len(rewritten) == generated - same >= 1
    # Each stage's output is the next stage's input: retrieve and generate keep every image;
    # balance keeps at most BALANCE_CAP per cluster, the rows unchanged; write writes those.
    final = column(root, "images_final", "image_id")
    assert sorted(column(root, "retrieved", "image_id")) == sorted(final)
    by_id = {row["image_id"]: row for row in generated_rows}
    assert sorted(by_id) == sorted(final)
    balanced = pq.read_table(root / "datasets" / "balanced").to_pylist()
    assert 0 < len(balanced) < len(final)
    for row in balanced:
        assert {key: row[key] for key in by_id[row["image_id"]]} == by_id[row["image_id"]]
    clusters = [row["balance_cluster"] for row in balanced]
    assert len(set(clusters)) == len(clusters) <= 2  # one kept per cluster, two clusters
    report = json.loads((root / "report" / "balance.json").read_text())
    assert report["clusters_before"]["members"] == len(final)  # the band keeps every image
    assert report["clusters_after"]["members"] == len(balanced)
    images = np.load(sorted((root / "arrays" / "images_final").rglob("*.npy"))[0])
    assert images.shape[1] == 384  # the offline encoder's embeddings of those images
    sizes = json.loads((root / "output" / "shards" / "sizes.json").read_text())
    assert sum(sizes.values()) == len(balanced)
    written = []
    for tar in sorted((root / "output" / "shards").glob("*.tar")):
        with tarfile.open(tar) as archive:
            written += [json.loads(archive.extractfile(member).read())["image_id"]
                        for member in archive.getmembers() if member.name.endswith(".json")]
    assert sorted(written) == sorted(row["image_id"] for row in balanced)


def test_the_outputs_load_in_webdataset_and_open_clip(chained):
    open_clip = pytest.importorskip("open_clip")
    data = pytest.importorskip("open_clip_train.data")
    root = chained[0] / "ws"
    shards = root / "output" / "shards"
    sizes = json.loads((shards / "sizes.json").read_text())
    urls = str(shards / f"{{00000..{len(sizes) - 1:05d}}}.tar")
    balanced = {r["image_id"]: r for r in pq.read_table(root / "datasets" / "balanced")
                .to_pylist()}

    samples = list(wds.WebDataset(urls, shardshuffle=False).decode("pil")
                   .to_tuple("jpg", "txt", "json"))
    assert len(samples) == sum(sizes.values()) == len(balanced)
    for image, text, meta in samples:
        assert image.size == (meta["width"], meta["height"])
        assert text == balanced[meta["image_id"]]["text1"]
        assert meta["syn_text"] == balanced[meta["image_id"]]["syn_text"]

    # open_clip's own training data pipeline: its image transform and tokenizer on a batch.
    assert data.get_dataset_size(urls) == (len(balanced), len(sizes))
    preprocess = open_clip.image_transform(64, is_train=False)
    args = Namespace(val_data=urls, val_num_samples=len(balanced), batch_size=2, workers=0,
                     world_size=1, seed=0)
    info = data.get_wds_dataset(args, preprocess, is_train=False,
                                tokenizer=open_clip.get_tokenizer("RN50"))
    images, texts = next(iter(info.dataloader))
    assert images.shape == (2, 3, 64, 64) and images.dtype == torch.float32
    assert texts.shape == (2, 77) and texts.dtype == torch.long
    expected = open_clip.get_tokenizer("RN50")([text for _, text, _ in samples[:2]])
    assert torch.equal(texts, expected)


def test_a_second_run_changes_nothing(copy_chained):
    # On a copy, so that the reference the other tests compare with is never written to.
    # The copy lives elsewhere, and its first run records that in config.yaml: the second
    # run is the one that must change nothing.
    root = workspace_of(copy_chained)
    assert stages_ran(realsyn("run", str(copy_chained)).stdout) == []
    before, times = everything(root), mtimes(root, (*DATA, "stages"))
    process = realsyn("run", str(copy_chained))
    assert stages_ran(process.stdout) == []
    assert [line for line in process.stdout.splitlines() if line.startswith("[")] == [
        f"[{name}] skipped (up to date)" for name in ALL]
    assert everything(root) == before
    assert mtimes(root, (*DATA, "stages")) == times  # nothing rewritten, not even in place


def test_only_runs_just_the_named_stage(copy_chained):
    root = workspace_of(copy_chained)
    kept = column(root, "balanced", "image_id")
    # one cluster instead of two: its cap keeps one image
    threshold = "balance.n_clusters=1"
    output = digests(root, ("output",))
    process = realsyn("run", str(copy_chained), "--only", "balance", "--set", threshold)
    assert stages_ran(process.stdout) == ["balance"]
    assert len(column(root, "balanced", "image_id")) == 1 < len(kept)
    assert digests(root, ("output",)) == output  # write did not run: stale, as status says
    status = realsyn("status", str(copy_chained), "--set", threshold).stdout
    assert re.search(r"^write +stale", status, re.M)
    assert re.search(r"^balance +up to date", status, re.M)


def test_from_runs_a_stage_and_every_later_one_only(copy_chained):
    root = workspace_of(copy_chained)
    # An early stage made stale must stay so: --from balance never goes back to it.
    early = "extract.sentences.min_words=5"
    sentences = digests(root, ("datasets/sentences_filtered",))
    process = realsyn("run", str(copy_chained), "--from", "balance", "--rerun", "--set", early)
    assert stages_ran(process.stdout) == ["balance", "write"]
    assert digests(root, ("datasets/sentences_filtered",)) == sentences
    status = realsyn("status", str(copy_chained), "--set", early).stdout
    assert re.search(r"^extract_sentences +stale", status, re.M)


def test_rerun_redoes_a_stage_and_later_stages_follow_to_the_same_bytes(chained,
                                                                        copy_chained):
    root = workspace_of(copy_chained)
    process = realsyn("run", str(copy_chained), "--only", "retrieve", "--rerun")
    assert stages_ran(process.stdout) == ["retrieve"]
    status = realsyn("status", str(copy_chained)).stdout
    for name in ("generate", "balance", "write"):
        assert re.search(rf"^{name} +stale", status, re.M), status
    assert "input datasets/retrieved changed" in status
    process = realsyn("run", str(copy_chained))
    assert stages_ran(process.stdout) == ["generate", "balance", "write"]
    assert re.search(r"llm cache hits=[1-9]\d* misses=0", process.stdout)  # answers reused
    assert digests(root) == digests(chained[0] / "ws")
