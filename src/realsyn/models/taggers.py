"""Image taggers: top tags with scores, thresholded.

- `ZeroShotTagger`: the joint encoder scores the image against every tag of a vocabulary
  (CLIP-style: cosine similarities, softmax with a logit scale), so tags come from an open
  list, not just the classifier's classes.
- `ClassifierTagger`: the offline ImageNet classifier's top labels with their probabilities.
- `CombinedTagger`: both, merged by tag (highest score wins).
Every tagger takes the classifier labels already computed for the batch (`labels`), so the
stage runs the classifier once for tagging and captioning.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

Tags = list[tuple[str, float]]


def labels_per_image(owner: str, images: Sequence[Image.Image],
                     labels: Sequence[Tags] | None) -> Sequence[Tags]:
    """`labels`, checked to hold one label list per image (the stage computes them with the
    classifier once per batch); `owner` names the component that needs them."""
    if labels is None or len(labels) != len(images):
        raise ValueError(f"{owner} needs one label list per image")
    return labels
# How a tag is written before the text encoder embeds it (CLIP's zero-shot prompt).
TAG_PROMPT = "a photo of a {}."
# Softmax scales: CLIP's learned one (~100) suits its narrow cosine range; the offline
# encoder's cosines spread wider, and 20 keeps general tags ("cat" beside "tabby cat").
CLIP_LOGIT_SCALE = 100.0
OFFLINE_LOGIT_SCALE = 20.0


def default_logit_scale(encoder) -> float:
    scale = getattr(encoder, "logit_scale", None)
    if isinstance(scale, int | float):
        return float(scale)
    if str(getattr(encoder, "identity", "")).startswith("offline:"):
        return OFFLINE_LOGIT_SCALE
    return CLIP_LOGIT_SCALE


class Tagger(Protocol):
    def tag(self, images: Sequence[Image.Image],
            labels: Sequence[Tags] | None = None) -> list[Tags]: ...


def select_tags(scored: Tags, max_tags: int, min_score: float) -> Tags:
    """The best `max_tags` of (tag, score) pairs scoring at least `min_score`; one entry per
    tag (its best score); ties broken by name so the result is deterministic."""
    best: dict[str, float] = {}
    for tag, score in scored:
        if score >= min_score and score > best.get(tag, -np.inf):
            best[tag] = float(score)
    ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))
    return [(tag, round(score, 4)) for tag, score in ranked[:max_tags]]


class ZeroShotTagger:
    def __init__(self, encoder, vocabulary: Sequence[str], *, max_tags: int = 5,
                 min_score: float = 0.05, logit_scale: float | None = None,
                 cache_dir: str | Path | None = None, batch_size: int = 512):
        if not vocabulary:
            raise ValueError("the zero-shot tagger needs a non-empty vocabulary")
        self.encoder = encoder
        self.vocabulary = list(vocabulary)
        self.max_tags = max_tags
        self.min_score = min_score
        self.logit_scale = logit_scale or default_logit_scale(encoder)
        self.batch_size = batch_size
        self.tag_embeddings = self._tag_embeddings(Path(cache_dir) if cache_dir else None)

    def _tag_embeddings(self, cache_dir: Path | None) -> np.ndarray:
        """(V, dim) unit rows. Embedding thousands of prompts takes a while on a CPU, so they
        are kept on disk keyed by encoder identity, prompt and vocabulary."""
        prompts = [TAG_PROMPT.format(tag) for tag in self.vocabulary]
        path = None
        if cache_dir is not None:
            key = hashlib.sha256("\n".join([str(self.encoder.identity), *prompts]).encode())
            path = cache_dir / f"tag-embeddings-{key.hexdigest()[:24]}.npy"
            if path.exists():
                return np.load(path, allow_pickle=False)
        rows = np.concatenate(
            [np.asarray(self.encoder.embed_texts(prompts[i:i + self.batch_size]),
                        dtype=np.float32) for i in range(0, len(prompts), self.batch_size)])
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".tmp-{uuid.uuid4().hex}.npy")
            np.save(temporary, rows, allow_pickle=False)
            temporary.replace(path)
        return rows

    def scores(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(N, V) softmax probabilities of each tag for each image."""
        image_embeddings = np.asarray(self.encoder.embed_images(list(images)), dtype=np.float32)
        logits = self.logit_scale * image_embeddings @ self.tag_embeddings.T
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def tag(self, images: Sequence[Image.Image],
            labels: Sequence[Tags] | None = None) -> list[Tags]:
        if not images:
            return []
        probabilities = self.scores(images)
        result = []
        for row in probabilities:
            top = np.argsort(-row, kind="stable")[: self.max_tags]
            result.append(select_tags([(self.vocabulary[i], float(row[i])) for i in top],
                                      self.max_tags, self.min_score))
        return result


class ClassifierTagger:
    """Needs `labels` (the stage computes them with the classifier once per batch)."""

    def __init__(self, *, max_tags: int = 5, min_score: float = 0.05):
        self.max_tags = max_tags
        self.min_score = min_score

    def tag(self, images: Sequence[Image.Image],
            labels: Sequence[Tags] | None = None) -> list[Tags]:
        return [select_tags([(name.lower(), p) for name, p in row], self.max_tags,
                            self.min_score)
                for row in labels_per_image("ClassifierTagger", images, labels)]


class CombinedTagger:
    def __init__(self, taggers: Sequence[Tagger], *, max_tags: int = 5,
                 min_score: float = 0.05):
        self.taggers = list(taggers)
        self.max_tags = max_tags
        self.min_score = min_score

    def tag(self, images: Sequence[Image.Image],
            labels: Sequence[Tags] | None = None) -> list[Tags]:
        per_tagger = [tagger.tag(images, labels) for tagger in self.taggers]
        return [select_tags([pair for result in rows for pair in result], self.max_tags,
                            self.min_score) for rows in zip(*per_tagger, strict=True)]


class NoTagger:
    """No tags: for setups whose captioner (e.g. a vision-language model) says enough."""

    def tag(self, images: Sequence[Image.Image],
            labels: Sequence[Tags] | None = None) -> list[Tags]:
        return [[] for _ in images]
