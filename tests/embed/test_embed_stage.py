from __future__ import annotations

import re

import numpy as np
import pytest
from embed_helpers import IMAGE_NAMES, SENTENCES, make_context, sentences_table

from realsyn.dataflow.rows import usable_rows
from realsyn.embed.stage import (
    EmbedStage,
    EncoderMismatchError,
    claim_encoder,
    forget_embeddings,
    split_shard_key,
)
from realsyn.executors.local import LocalExecutor, StageError
from realsyn.models.encoders import OFFLINE_IDENTITY

pytestmark = pytest.mark.slow  # loads real models


def offline_context(workspace, **embed):
    return make_context(workspace, encoder={"backend": "offline", "device": "cpu"}, **embed)


def tiny_context(workspace, model_json, **embed):
    return make_context(workspace, encoder={"backend": "open_clip", "model": model_json,
                                            "device": "cpu"}, **embed)


def test_offline_stage_writes_aligned_unit_float16_arrays(filled_workspace):
    workspace = filled_workspace
    ctx = offline_context(workspace, image_batch_size=2, text_batch_size=2)
    stage = EmbedStage()
    assert stage.shards(ctx) == ["images_dedup-00000", "images_dedup-00001",
                                 "sentences_dedup-00000", "sentences_dedup-00001"]
    stats = LocalExecutor(1).run(stage, ctx)
    assert stats.pop("wall_s") > 0  # per-shard wall time, summed
    assert stats == {"records_in": 11, "images_embedded": 4, "images_zero_no_bytes": 1,
                     "images_zero_undecodable": 1, "texts_embedded": 4, "texts_zero_null": 1}
    assert workspace.manifest()["encoder"] == {"identity": OFFLINE_IDENTITY, "dim": 384}
    assert workspace.array_shards("images_dedup") == workspace.shards("images_dedup")
    assert workspace.array_shards("sentences_dedup") == workspace.shards("sentences_dedup")

    images = np.concatenate([workspace.read_array("images_dedup", s)
                             for s in workspace.array_shards("images_dedup")])
    texts = np.concatenate([workspace.read_array("sentences_dedup", s)
                            for s in workspace.array_shards("sentences_dedup")])
    assert images.dtype == texts.dtype == np.float16
    assert images.shape == (6, 384) and texts.shape == (5, 384)
    image_names = [name for shard in IMAGE_NAMES for name in shard]
    sentences = [text for shard in SENTENCES for text in shard]
    assert usable_rows(images).tolist() == [n not in ("broken", "missing") for n in image_names]
    assert usable_rows(texts).tolist() == [text is not None for text in sentences]
    norms = np.linalg.norm(np.concatenate([images, texts]).astype(np.float32), axis=1)
    np.testing.assert_allclose(norms[norms > 0], 1.0, atol=2e-3)

    # Row alignment carries meaning: each photo's best sentence is its own description.
    own = {"cat": "a photo of a cat", "coffee": "a cup of coffee",
           "rocket": "a rocket on a launch pad", "flower": "a pink flower"}
    scores = images.astype(np.float32) @ texts.astype(np.float32).T
    for row, name in enumerate(image_names):
        if name in own:
            assert sentences[int(scores[row].argmax())] == own[name]


class FailingOnOneShard(EmbedStage):
    """The embed stage of a run that dies on one shard (same name and fingerprint)."""

    def process(self, ctx, shard):
        if shard == "images_dedup-00001":
            raise RuntimeError("killed")
        return super().process(ctx, shard)


def test_stage_resumes_per_shard_with_identical_output(filled_workspace, tmp_path):
    from realsyn.workspace import Workspace

    clean = Workspace(str(tmp_path / "clean"))
    filled_workspace.fs.copy(filled_workspace.path("datasets"), clean.path("datasets"),
                             recursive=True)
    LocalExecutor(1).run(EmbedStage(), offline_context(clean))

    workspace = filled_workspace
    ctx = offline_context(workspace)
    with pytest.raises(StageError, match="killed"):
        LocalExecutor(1).run(FailingOnOneShard(), ctx)
    # Nothing is committed before every shard is done; finished shards wait in staging.
    assert workspace.array_shards("images_dedup") == []
    staged = workspace.staged(["arrays/images_dedup"])
    untouched = staged.fs.modified(staged.path("arrays/images_dedup/00000.npy"))
    stats = LocalExecutor(1).run(EmbedStage(), ctx)  # only the lost shard is redone
    for name in ("images_dedup", "sentences_dedup"):
        for shard in clean.array_shards(name):
            path = f"arrays/{name}/{shard}.npy"
            assert workspace.read_bytes(path) == clean.read_bytes(path)
    assert workspace.fs.modified(workspace.path("arrays/images_dedup/00000.npy")) == untouched
    assert stats["records_in"] == 11  # merged over all finished shards


def test_stage_never_mixes_encoders(filled_workspace, tiny_model_json):
    workspace = filled_workspace
    LocalExecutor(1).run(EmbedStage(), offline_context(workspace))
    other = tiny_context(workspace, tiny_model_json)
    with pytest.raises(EncoderMismatchError, match=re.escape(OFFLINE_IDENTITY)):
        EmbedStage().shards(other)  # adding shards of another encoder: refused
    # A run with another encoder has another fingerprint: it embeds everything again and
    # replaces every array as a whole.
    stats = LocalExecutor(1).run(EmbedStage(), other)
    assert stats["images_embedded"] == 4
    assert workspace.manifest()["encoder"]["dim"] == 64
    for name in ("images_dedup", "sentences_dedup"):
        assert {workspace.read_array(name, s).shape[1] for s in workspace.array_shards(name)} \
            == {64}
    # forget_embeddings still clears a workspace by hand.
    forget_embeddings(workspace)
    assert "encoder" not in workspace.manifest()
    assert workspace.array_shards("images_dedup") == []
    stats = LocalExecutor(1).run(EmbedStage(), other)
    assert stats["images_embedded"] == 4
    assert workspace.manifest()["encoder"]["dim"] == 64
    assert workspace.read_array("images_dedup", "00000").shape == (3, 64)


def test_a_dimension_mismatch_is_refused(filled_workspace):
    class Fake:
        identity = OFFLINE_IDENTITY
        dim = 512

    workspace = filled_workspace
    workspace.update_manifest(encoder={"identity": OFFLINE_IDENTITY, "dim": 384})
    with pytest.raises(EncoderMismatchError, match="dim 512"):
        claim_encoder(workspace, Fake())


def test_open_clip_stage_output_is_independent_of_batching_and_threads(filled_workspace,
                                                                       tiny_model_json):
    workspace = filled_workspace
    results = []
    for batch, workers in ((1, 0), (4, 3)):
        forget_embeddings(workspace)
        ctx = tiny_context(workspace, tiny_model_json, image_batch_size=batch,
                           text_batch_size=batch, decode_workers=workers)
        stats = LocalExecutor(1).run(EmbedStage(), ctx)
        assert stats["images_embedded"] == 4 and stats["texts_embedded"] == 4
        results.append([workspace.read_array(name, shard, mmap=False).astype(np.float32)
                        for name in ("images_dedup", "sentences_dedup")
                        for shard in ("00000", "00001")])
    for inline, threaded in zip(*results, strict=True):
        np.testing.assert_allclose(inline, threaded, atol=2e-3)


def test_stage_with_two_worker_processes(filled_workspace, tiny_model_json):
    # Spawned workers rebuild the custom architecture from its JSON and the same random seed.
    workspace = filled_workspace
    ctx = tiny_context(workspace, tiny_model_json)
    stats = LocalExecutor(2).run(EmbedStage(), ctx)
    assert stats["records_in"] == 11
    separate = workspace.read_array("images_dedup", "00000", mmap=False)
    forget_embeddings(workspace)
    LocalExecutor(1).run(EmbedStage(), ctx)
    np.testing.assert_allclose(separate.astype(np.float32),
                               workspace.read_array("images_dedup", "00000").astype(np.float32),
                               atol=2e-3)


def test_empty_shard_gives_an_empty_array(tmp_path, tiny_model_json):
    from realsyn.workspace import Workspace

    workspace = Workspace(str(tmp_path / "ws"))
    workspace.write_table("sentences_dedup", "00000", sentences_table([], "d"))
    ctx = tiny_context(workspace, tiny_model_json)
    stats = LocalExecutor(1).run(EmbedStage(["sentences_dedup"]), ctx)
    assert stats.pop("wall_s") >= 0
    assert stats == {"records_in": 0, "texts_embedded": 0}
    assert workspace.read_array("sentences_dedup", "00000").shape == (0, 64)


def test_stage_failure_names_the_shard(tmp_path, tiny_model_json):
    from realsyn.workspace import Workspace

    workspace = Workspace(str(tmp_path / "ws"))
    import pyarrow as pa

    workspace.write_table("sentences_dedup", "00000", pa.table({"words": [1, 2]}))
    ctx = tiny_context(workspace, tiny_model_json)
    with pytest.raises(StageError, match="sentences_dedup-00000"):
        LocalExecutor(1).run(EmbedStage(["sentences_dedup"]), ctx)


def test_split_shard_key_prefers_the_longest_dataset_name():
    datasets = ["images", "images_dedup"]
    assert split_shard_key("images_dedup-00003", datasets) == ("images_dedup", "00003")
    assert split_shard_key("images-00003", datasets) == ("images", "00003")
    with pytest.raises(ValueError):
        split_shard_key("texts-00000", datasets)
