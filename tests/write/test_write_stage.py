"""`balance` then `write` on a synthetic workspace; shards read back by webdataset and open_clip."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
import webdataset as wds
from write_helpers import build_generated_workspace

from realsyn.balance.stage import BalanceStage
from realsyn.executors.local import LocalExecutor
from realsyn.write.stage import WriteStage

PER_SHARD = 10


@pytest.fixture
def written(make_context, material):
    ctx = make_context({"samples_per_shard": PER_SHARD, "image_size": 160})
    ids = build_generated_workspace(ctx.workspace, material)
    LocalExecutor(1).run(BalanceStage(), ctx)
    stats = LocalExecutor(1).run(WriteStage(), ctx)
    return ctx, ids, stats


def out_dir(ctx) -> Path:
    return Path(ctx.workspace.root) / "output"


def test_counts_and_layout(written):
    ctx, ids, stats = written
    n_shards = -(-len(ids) // PER_SHARD)
    corrupt = sum("corrupt" in i for i in ids)
    assert stats["records_in"] == len(ids)
    assert stats["dropped_failed_to_decode"] == corrupt
    assert stats["dropped_missing_image"] == 0
    assert stats["records_out"] == len(ids) - corrupt
    shards = out_dir(ctx) / "shards"
    assert sorted(p.name for p in shards.glob("*.tar")) == [
        f"{k:05d}.tar" for k in range(n_shards)]
    sizes = json.loads((shards / "sizes.json").read_text())
    assert sum(sizes.values()) == stats["records_out"] and len(sizes) == n_shards
    for k in range(n_shards):
        shard_stats = json.loads((shards / f"{k:05d}_stats.json").read_text())
        assert shard_stats["successes"] == sizes[f"{k:05d}.tar"]


def test_webdataset_round_trip(written):
    ctx, _, stats = written
    balanced = {r["image_id"]: r for r in ctx.workspace.read_dataset("balanced").to_pylist()}
    urls = str(out_dir(ctx) / "shards" / "{00000..00003}.tar")
    samples = list(wds.WebDataset(urls, shardshuffle=False).decode("pil"))
    assert len(samples) == stats["records_out"]
    keys = [s["__key__"] for s in samples]
    assert len(set(keys)) == len(keys)
    for sample in samples:
        meta = sample["json"]
        row = balanced[meta["image_id"]]
        assert sample["txt"] == row["text1"]
        for name in ("text1", "text2", "text3", "syn_text", "sentence_id1", "doc_id", "url"):
            assert meta[name] == row[name]
        assert meta["score1"] == pytest.approx(row["score1"])
        assert meta["balance_score"] == pytest.approx(row["balance_score"])
        assert meta["key"] == sample["__key__"]
        assert meta["raw_image_url"] in (row["url"],
                                         f"https://example.org/images/{row['image_id']}.jpg")
        assert sample["jpg"].mode == "RGB" and min(sample["jpg"].size) <= 160


def test_release_and_extended_parquet(written):
    ctx, ids, stats = written
    release = pq.read_table(out_dir(ctx) / "release")
    assert release.column_names == ["raw_image_url", "text1", "text2", "text3", "syn_text"]
    assert release.num_rows == stats["records_out"]
    extended = pq.read_table(out_dir(ctx) / "extended")
    assert extended.num_rows == stats["records_out"]
    assert {"key", "shard", "width", "height", "sha256", "image_id", "score1", "score3",
            "sentence_id2", "balance_score", "balance_cluster"} <= set(extended.column_names)
    assert "bytes" not in extended.column_names
    # The document's URL where it gave one; the local path only where it did not, flagged.
    raw = release.column("raw_image_url").to_pylist()
    assert raw == extended.column("raw_image_url").to_pylist()
    expected = {image_id: (f"https://example.org/images/{image_id}.jpg", False)
                if n % 3 != 2 else (f"pages/images/{image_id}.jpg", True)
                for n, image_id in enumerate(ids)}
    got = zip(extended.column("image_id").to_pylist(), raw,
              extended.column("raw_image_url_is_local").to_pylist(), strict=True)
    assert {image_id: (url, local) for image_id, url, local in got} == {
        image_id: expected[image_id] for image_id in extended.column("image_id").to_pylist()}
    assert sum(extended.column("raw_image_url_is_local").to_pylist()) > 0


def test_rerun_skips_and_outputs_are_deterministic(written, make_context, material):
    ctx, _, _ = written
    before = {p.name: p.read_bytes() for p in (out_dir(ctx) / "shards").iterdir()}
    LocalExecutor(1).run(WriteStage(), ctx)  # all shards have markers: nothing rewritten
    other = make_context({"samples_per_shard": PER_SHARD, "image_size": 160}, name="again")
    build_generated_workspace(other.workspace, material)
    LocalExecutor(1).run(BalanceStage(), other)
    LocalExecutor(1).run(WriteStage(), other)
    after = {p.name: p.read_bytes() for p in (out_dir(other) / "shards").iterdir()}
    assert before == after


def test_open_clip_wds_pipeline_reads_the_shards(written):
    """open_clip's own training data loader (open_clip_train.data.get_wds_dataset)."""
    open_clip = pytest.importorskip("open_clip")
    data = pytest.importorskip("open_clip_train.data")
    ctx, _, stats = written
    urls = str(out_dir(ctx) / "shards" / "{00000..00003}.tar")
    # open_clip sizes the training set from sizes.json beside the shards
    assert data.get_dataset_size(urls) == (stats["records_out"], 4)

    preprocess = open_clip.image_transform(64, is_train=False)
    args = Namespace(val_data=urls, val_num_samples=stats["records_out"], batch_size=4,
                     workers=0, world_size=1, seed=0)
    info = data.get_wds_dataset(args, preprocess, is_train=False, tokenizer=open_clip.tokenize)
    images, texts = [], []
    for image_batch, text_batch in info.dataloader:
        images.append(image_batch)
        texts.append(text_batch)
    images, texts = torch.cat(images), torch.cat(texts)
    assert images.shape == (stats["records_out"], 3, 64, 64)
    balanced = ctx.workspace.read_dataset("balanced").to_pylist()
    written_texts = [r["text1"] for r in balanced if "corrupt" not in r["image_id"]]
    expected = open_clip.tokenize(written_texts)
    assert sorted(map(tuple, texts.tolist())) == sorted(map(tuple, expected.tolist()))


def _files(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob("*")) if path.is_file()}


def test_a_writer_killed_mid_shard_never_publishes_its_temporary(tmp_path, make_context,
                                                                 material):
    """write.output outside the workspace: the writer is SIGKILLed with shard 1's tar half
    written; the resumed run publishes only complete files, the same bytes as a run that was
    never killed (the staging folder outside the workspace is cleaned like the workspace)."""
    write = {"samples_per_shard": 4, "image_size": 96}
    reference = make_context({**write, "output": str(tmp_path / "reference-out")}, name="ref")
    build_generated_workspace(reference.workspace, material)
    LocalExecutor(1).run(BalanceStage(), reference)
    LocalExecutor(1).run(WriteStage(), reference)

    output = tmp_path / "elsewhere" / "release"
    ctx = make_context({**write, "output": str(output)})
    build_generated_workspace(ctx.workspace, material)
    LocalExecutor(1).run(BalanceStage(), ctx)
    config = json.dumps(ctx.config.model_dump(mode="json"))
    killed = subprocess.run([sys.executable, str(Path(__file__).parent / "kill_writer.py"),
                             config, "1", "2"], capture_output=True, text=True,
                            start_new_session=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    staged = list((tmp_path / "elsewhere").rglob(".tmp-*"))
    assert staged, "the kill left the half-written shard's temporary in the staging folder"
    assert not output.exists()

    LocalExecutor(1).run(WriteStage(), ctx)  # resumes: shard 0 is done, shard 1 is redone
    published = _files(output)
    assert not [name for name in published if "/.tmp-" in f"/{name}"]
    assert not list((tmp_path / "elsewhere").rglob(".tmp-*"))
    expected = _files(tmp_path / "reference-out")
    cards = []
    for files in (published, expected):
        files.pop(".realsyn.json")  # the commit's own generation
        # The card names the workspace and the config's hash: its lines, not its bytes.
        cards.append([line.split(b"`")[0] for line in files.pop("README.md").splitlines()])
    assert cards[0] == cards[1]
    assert published == expected
