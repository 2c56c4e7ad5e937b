"""Each training step uses one of the image's texts, drawn inside open_clip's own pipeline."""

from __future__ import annotations

import collections

import pytest
from train_helpers import write_shards

from realsyn.train.texts import TEXT_MODES, TextChooser, choosing_texts, draw

open_clip = pytest.importorskip("open_clip")
data = pytest.importorskip("open_clip_train.data")
main = pytest.importorskip("open_clip_train.main")
params = pytest.importorskip("open_clip_train.params")
chisquare = pytest.importorskip("scipy.stats").chisquare

EPOCHS = 12


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    texts = write_shards(folder, shards=4, per_shard=10)
    return sorted(folder.glob("*.tar")), texts


def _drawn_per_epoch(shards, texts, mode: str, workers: int = 0):
    """Run open_clip's training pipeline for EPOCHS epochs with the hook active; returns, per
    epoch, the (sample, text field) of every caption that reached the tokenizer."""
    paths, _ = shards
    args = params.parse_args([
        "--dataset-type", "webdataset", "--train-data", "::".join(map(str, paths)),
        "--train-num-samples", str(len(texts)), "--batch-size", "5", "--workers", str(workers),
        "--seed", "3"])
    args.world_size, args.rank = 1, 0
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    field_of = {tuple(tokenizer([text])[0].tolist()): (index, field)
                for index, sample in enumerate(texts) for field, text in sample.items()}
    preprocess = open_clip.image_transform(32, is_train=False)
    with choosing_texts(mode, seed=3) as chooser:
        info = main.get_data(args, (preprocess, preprocess), tokenizer=tokenizer)["train"]
    epochs = []
    for epoch in range(EPOCHS):
        info.set_epoch(epoch)
        drawn = [field_of[tuple(row.tolist())] for _, tokens in info.dataloader for row in tokens]
        epochs.append(drawn)
    return epochs, chooser


@pytest.mark.parametrize("mode", list(TEXT_MODES))
def test_each_mode_draws_uniformly_from_its_texts(shards, mode):
    epochs, chooser = _drawn_per_epoch(shards, shards[1], mode)
    drawn = collections.Counter(field for epoch in epochs for _, field in epoch)
    assert set(drawn) == set(TEXT_MODES[mode])
    if len(TEXT_MODES[mode]) > 1:  # 480 draws; uniform unless p is tiny
        assert chisquare(list(drawn.values())).pvalue > 0.001, drawn
    # the hook's own counts (what the report stores) saw every draw that reached the model
    counted = {field: n for field, n in chooser.counted().items() if n}
    assert set(counted) == set(drawn)
    assert all(counted[field] >= drawn[field] for field in drawn)


def test_a_sample_is_drawn_again_every_epoch_and_reruns_match(shards):
    first, _ = _drawn_per_epoch(shards, shards[1], "random4")
    per_sample = collections.defaultdict(set)
    for epoch in first:
        for index, field in epoch:
            per_sample[index].add(field)
    assert sum(len(fields) > 1 for fields in per_sample.values()) > len(per_sample) * 0.9
    again, _ = _drawn_per_epoch(shards, shards[1], "random4", workers=2)
    # the draw depends on (seed, epoch, key) only, not on the loader workers
    assert [sorted(epoch) for epoch in again] == [sorted(epoch) for epoch in first]


def test_missing_texts_are_skipped_and_a_sample_without_any_keeps_its_caption():
    chooser = TextChooser("random4", seed=0, read_samples=iter)
    sample = {"__key__": "k", "txt": b"caption", "json": b'{"text1": "one", "text2": " ",'
                                                         b' "text3": null, "syn_text": "syn"}'}
    seen = {chooser.choose(dict(sample), epoch) for epoch in range(40)}
    assert seen == {"text1", "syn_text"}
    bare = {"__key__": "k", "txt": b"caption", "json": b"not json"}
    assert chooser.choose(bare, 0) == "caption" and bare["txt"] == b"caption"
    with pytest.raises(ValueError, match="--texts random5"):
        TextChooser("random5", seed=0, read_samples=iter)


def test_draw_is_a_pure_function_of_seed_epoch_and_key():
    fields = ["a", "b", "c", "d"]
    assert draw(fields, 1, 2, "key") == draw(fields, 1, 2, "key")
    assert {draw(fields, seed, 0, "key") for seed in range(50)} == set(fields)


def test_the_hook_is_removed_after_the_run():
    reader, get_data = data.tarfile_to_samples_nothrow, main.get_data
    with choosing_texts("syn", seed=0):
        assert main.get_data is not get_data
    assert main.get_data is get_data and data.tarfile_to_samples_nothrow is reader
