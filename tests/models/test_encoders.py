from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from realsyn.config import EncoderConfig
from realsyn.models.encoders import (
    OFFLINE_IDENTITY,
    Encoder,
    encoder_identity,
    load_encoder,
    load_offline_classifier,
)
from realsyn.models.encoders.openclip import OpenClipEncoder
from realsyn.models.imagenet import imagenet_classes, imagenet_labels

pytestmark = pytest.mark.slow  # loads real models


@pytest.fixture(scope="module")
def offline() -> Encoder:
    return load_encoder(EncoderConfig(backend="offline", device="cpu"))


@pytest.fixture(scope="module")
def tiny(tiny_open_clip_config) -> Encoder:
    return load_encoder(EncoderConfig(backend="open_clip", model=str(tiny_open_clip_config),
                                      device="cpu"))


def assert_unit_rows(rows: np.ndarray, count: int, dim: int) -> None:
    assert rows.shape == (count, dim)
    assert rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)


# ---------------------------------------------------------------------- ImageNet names
def test_imagenet_labels_are_readable_and_in_class_order():
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert labels[0] == "tench"
    assert labels[281] == "tabby"  # the class order of every ImageNet-1k classifier
    assert imagenet_classes()[281].lemmas == ("tabby", "tabby cat")
    assert all(label and "," not in label for label in labels)


# ---------------------------------------------------------------------- offline encoder
def test_offline_ranks_each_photos_own_description_first(offline, photos):
    names = list(photos)
    images = offline.embed_images([photos[name][0] for name in names])
    texts = offline.embed_texts([photos[name][1] for name in names])
    similarity = images @ texts.T
    best = [names[column] for column in similarity.argmax(axis=1)]
    assert best == names, np.round(similarity, 2)


def test_offline_separates_related_from_unrelated_text(offline, photos):
    cat = offline.embed_images([photos["chelsea"][0]])
    texts = offline.embed_texts(["a photo of a cat", "a photo of a truck"])
    related, unrelated = (cat @ texts.T)[0]
    assert related > unrelated + 0.3


def test_offline_shapes_norms_and_batch_invariance(offline, photos):
    assert offline.identity == OFFLINE_IDENTITY == encoder_identity(EncoderConfig())
    assert offline.dim == 384
    assert offline.context_length == 256
    images = [image for image, _ in photos.values()]
    together = offline.embed_images(images)
    one_by_one = np.concatenate([offline.embed_images([image]) for image in images])
    assert_unit_rows(together, len(images), 384)
    np.testing.assert_allclose(together, one_by_one, atol=1e-3)
    texts = ["a cat", "a much longer sentence about a red motorcycle in a garage", ""]
    assert_unit_rows(offline.embed_texts(texts), 3, 384)
    np.testing.assert_allclose(offline.embed_texts(texts)[:1], offline.embed_texts(texts[:1]),
                               atol=1e-3)
    assert offline.embed_images([]).shape == (0, 384)
    assert offline.embed_texts([]).shape == (0, 384)


def test_models_load_once_per_process(offline):
    assert load_encoder(EncoderConfig(backend="offline", device="cpu")) is offline
    assert load_offline_classifier("cpu") is offline.classifier


def test_classifier_top_labels(photos):
    classifier = load_offline_classifier("cpu")
    tops = classifier.top_labels([photos["chelsea"][0], photos["coffee"][0]], k=3)
    assert [len(top) for top in tops] == [3, 3]
    cat_labels = {label for label, _ in tops[0]}
    assert cat_labels & {"tabby", "tiger cat", "Egyptian cat"}
    assert tops[1][0][0] == "espresso"
    for top in tops:
        scores = [score for _, score in top]
        assert scores == sorted(scores, reverse=True)
        assert 0 < sum(scores) <= 1.0 + 1e-6


def test_preprocess_matches_the_classifier_recipe(offline):
    # A 512x256 image: short side to 256, centre crop 224 (uint8; scaled to [-1, 1] later).
    gradient = np.tile(np.linspace(0, 255, 512, dtype=np.uint8), (256, 1))
    tensor = offline.preprocess(Image.fromarray(gradient).convert("L"))
    assert tuple(tensor.shape) == (3, 224, 224) and tensor.dtype == torch.uint8
    # The crop is centred: the middle column is mid-grey in the source.
    assert abs(float(tensor[0, :, 112].float().mean()) - 127.5) < 4
    # Columns 144..367 of the 512: the crop is the middle of the gradient.
    assert 55 < int(tensor[0, 0, 0]) < 75 and 180 < int(tensor[0, 0, -1]) < 200


# ---------------------------------------------------------------------- open_clip backend
def test_open_clip_tiny_shapes_norms_and_identity(tiny, tiny_open_clip_config, photos):
    config = EncoderConfig(backend="open_clip", model=str(tiny_open_clip_config))
    assert tiny.identity == "open_clip:realsyn-tiny-test:random-seed0" == encoder_identity(config)
    assert (tiny.dim, tiny.context_length, tiny.image_size) == (64, 32, 64)
    images = [image for image, _ in photos.values()]
    assert_unit_rows(tiny.embed_images(images), len(images), 64)
    assert_unit_rows(tiny.embed_texts(["a cat", "a dog", "x"]), 3, 64)


def test_open_clip_same_vectors_whatever_the_batch_size(tiny, photos):
    images = [image for image, _ in photos.values()]
    together = tiny.embed_images(images)
    for size in (1, 3):
        parts = [tiny.embed_images(images[i:i + size]) for i in range(0, len(images), size)]
        np.testing.assert_allclose(np.concatenate(parts), together, atol=1e-3)
    texts = [description for _, description in photos.values()]
    together = tiny.embed_texts(texts)
    parts = [tiny.embed_texts(texts[i:i + 2]) for i in range(0, len(texts), 2)]
    np.testing.assert_allclose(np.concatenate(parts), together, atol=1e-3)


def test_open_clip_truncates_texts_to_its_context_length(tiny):
    head = " ".join(["word"] * 40)  # more than 32 tokens
    first, second = tiny.embed_texts([head + " cat", head + " entirely different ending"])
    np.testing.assert_allclose(first, second, atol=1e-6)
    assert not np.allclose(*tiny.embed_texts(["a cat", "a dog"]), atol=1e-3)


def test_open_clip_random_weights_are_reproducible_across_loads(tiny, tiny_open_clip_config):
    # Each worker process builds its own model: random weights must come out the same.
    fresh = OpenClipEncoder(str(tiny_open_clip_config), None, device="cpu")
    texts = ["a cat", "a red motorcycle"]
    np.testing.assert_allclose(fresh.embed_texts(texts), tiny.embed_texts(texts), atol=1e-6)


def test_open_clip_unknown_pretrained_fails_clearly(tiny_open_clip_config):
    with pytest.raises(RuntimeError, match="not a known tag or valid file path"):
        OpenClipEncoder(str(tiny_open_clip_config), "no-such-tag-or-file", device="cpu")


def test_open_clip_loads_a_local_checkpoint(tiny, tiny_open_clip_config, tmp_path):
    state = {key: value.clone() for key, value in tiny.model.state_dict().items()}
    generator = torch.Generator().manual_seed(123)
    state["text_projection"] = torch.randn(state["text_projection"].shape, generator=generator)
    checkpoint = tmp_path / "tiny.pt"
    torch.save({"state_dict": state}, checkpoint)
    config = EncoderConfig(backend="open_clip", model=str(tiny_open_clip_config),
                           pretrained=str(checkpoint), device="cpu")
    loaded = load_encoder(config)
    assert loaded.identity == f"open_clip:realsyn-tiny-test:{checkpoint.resolve()}"
    assert torch.equal(loaded.model.state_dict()["text_projection"], state["text_projection"])
    texts = ["a cat", "a red motorcycle"]
    assert not np.allclose(loaded.embed_texts(texts), tiny.embed_texts(texts), atol=1e-3)
