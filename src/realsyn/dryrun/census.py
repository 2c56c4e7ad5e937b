"""What the inputs hold, read cheaply: documents, images and text items counted by the ingest
readers without fetching or decoding anything, and a few hundred sentences sampled through the
cheap sentence filters (cleaning, word counts, entropy; no parser, no language model).

An image sample (bytes at hand only) goes through the image stages' own dedup: quality and pHash
as extract_images and dedup, then, when the run has semantic_dedup, the survivors are embedded
with the configured encoder and grouped at the stage's cosine threshold with the stage's pair
search (exhaustive here: the sample is small).

Reading stops after `max_documents` or `max_seconds`; the counts of the work units not read are
extrapolated from those read (by units, since unit sizes are bounded by the ingest plan).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from realsyn.config import RealsynConfig
from realsyn.extract.dedup import group_labels
from realsyn.extract.images import ImageRejected, decode_image, quality_reason
from realsyn.extract.paper_filters import SentenceFilter
from realsyn.extract.phash import linking_pairs, phash
from realsyn.extract.semantic_partition import partition_edges
from realsyn.extract.sentences import split_sentences
from realsyn.ingest.images import LocalImages, location_kind
from realsyn.ingest.sources import WorkUnit, plan_inputs
from realsyn.ingest.stage import READERS
from realsyn.pipeline import select_stages


@dataclass
class Census:
    units_total: int = 0
    # Ingest shards of the plan the run makes (sources.make_plan, same settings): later per-shard
    # stages keep ingest's shards.
    shards_total: int = 0
    units_read: int = 0
    documents: int = 0
    images: int = 0
    texts: int = 0
    text_chars: int = 0
    sentences_sampled: int = 0
    sentence_filter: Counter = field(default_factory=Counter)
    sentences_per_text: float = 0.0
    # The same sample through every sentence filter of extract_sentences (parser and perplexity
    # scorer included; empty when the pipeline has no extract_sentences): its kept share is
    # how many sentences reach dedup and embedding, measured on far more than the probe's few
    # documents.
    sentence_filter_full: Counter = field(default_factory=Counter)
    # Images with bytes at hand (embedded or local files; never fetched), sampled, decoded and
    # pHash-deduplicated as the extract and dedup stages do: duplicates span documents, so a
    # few probe documents cannot show how many there are.
    images_sampled: int = 0
    images_quality_ok: int = 0
    images_unique: int = 0
    # Images left by pHash dedup that were embedded, and the semantic groups among them (None:
    # the run has no semantic image dedup, or nothing was embedded).
    images_embedded: int = 0
    images_semantic_unique: int | None = None

    @property
    def unique_share(self) -> float | None:
        """Images left by perceptual dedup per image passing quality, on the sample."""
        return self.images_unique / self.images_quality_ok if self.images_quality_ok else None

    @property
    def semantic_share(self) -> float | None:
        """Images left by semantic dedup per image left by perceptual dedup, on the sample."""
        if self.images_semantic_unique is None or not self.images_embedded:
            return None
        return self.images_semantic_unique / self.images_embedded

    @property
    def scale(self) -> float:
        """Factor from the units read to all units."""
        return self.units_total / self.units_read if self.units_read else 0.0

    def expected(self, count: int) -> int:
        return round(count * self.scale)

    @property
    def cheap_pass_rate(self) -> float:
        total = sum(self.sentence_filter.values())
        return self.sentence_filter.get("kept", 0) / total if total else 0.0

    @property
    def sentence_kept_share(self) -> float | None:
        """Sampled sentences every filter keeps (None: not measured)."""
        if not self.sentence_filter_full or not self.sentences_sampled:
            return None
        return self.sentence_filter_full.get("kept", 0) / self.sentences_sampled


def planned_shards(config: RealsynConfig) -> int:
    """The ingest shards of the plan the run makes (the same planner, same settings)."""
    plan = plan_inputs([(spec.path, spec.format) for spec in config.inputs], config)
    return len(plan["shards"])


def take_census(config: RealsynConfig, max_documents: int = 20_000, max_seconds: float = 30.0,
                sample_sentences: int = 400, sample_images: int = 2000, embed_images: int = 1000,
                seed: int = 0) -> Census:
    """`embed_images`: at most so many pHash survivors of the image sample are embedded for the
    semantic dedup share (the encoder's time; a subsample sees fewer of the duplicates)."""
    plan = plan_inputs([(spec.path, spec.format) for spec in config.inputs], config)
    units = [unit for shard in plan["shards"] for unit in shard]
    census = Census(units_total=len(units), shards_total=len(plan["shards"]))
    # Units in a seeded random order, so that a stopped census is a sample of the whole input.
    order = list(range(len(units)))
    random.Random(seed).shuffle(order)
    texts: list[str] = []
    images: list[tuple[str, dict]] = []
    stats: Counter[str] = Counter()
    started = time.monotonic()
    for index in order:
        if census.documents >= max_documents or time.monotonic() - started > max_seconds:
            break
        unit = WorkUnit.from_json(units[index])
        try:
            for document in READERS[unit.file.kind](unit, config.ingest, stats):
                census.documents += 1
                for item in document["items"]:
                    if item["kind"] == "image":
                        census.images += 1
                        images.append((unit.file.root, item))
                    elif item.get("text"):
                        census.texts += 1
                        census.text_chars += len(item["text"])
                        texts.append(item["text"])
        except Exception:  # the run counts unreadable files; the estimate skips them
            continue
        census.units_read += 1
    rng = random.Random(seed)
    sampled = rng.sample(texts, min(len(texts), sample_sentences))
    sentences = [s for text in sampled
                 for s in split_sentences(text, config.extract.sentences.split_on_newlines)]
    census.sentences_per_text = len(sentences) / len(sampled) if sampled else 0.0
    sentences = rng.sample(sentences, min(len(sentences), sample_sentences))
    census.sentences_sampled = len(sentences)
    _, census.sentence_filter = SentenceFilter(config.extract.sentences).run(sentences)
    if "extract_sentences" in select_stages(config):
        census.sentence_filter_full = full_sentence_filter(config).run(sentences)[1]
    kept = _dedup_sample(config, census, rng.sample(images, min(len(images), sample_images)))
    if "semantic_dedup" in select_stages(config) and config.extract.images.semantic_dedup:
        _semantic_sample(config, census, rng.sample(kept, min(len(kept), embed_images)))
    return census


def full_sentence_filter(config: RealsynConfig) -> SentenceFilter:
    """extract_sentences' filters with its parser and perplexity scorer, as its setup makes
    them."""
    from realsyn.extract.sentences import load_parser
    from realsyn.models.perplexity import make_scorer

    cfg = config.extract.sentences
    nlp = load_parser(cfg.spacy_model) if cfg.min_complexity > 0 or cfg.require_action else None
    scorer = make_scorer(cfg.perplexity_scorer, cfg.perplexity_model,
                         threads=cfg.perplexity_threads)
    return SentenceFilter(cfg, nlp, scorer)


def usable_image(data: bytes, cfg):
    """The image decoded as extract_images decodes it, when it passes its size and aspect
    rules (None when it does not, or does not decode)."""
    try:
        decoded = decode_image(data, cfg.max_pixels)
    except ImageRejected:
        return None
    if quality_reason(decoded.width, decoded.height, cfg.min_side, cfg.min_aspect,
                      cfg.max_aspect) is not None:
        return None
    return decoded


def _image_bytes(local: LocalImages, root: str, item: dict) -> bytes | None:
    if item.get("image_bytes"):
        return item["image_bytes"]
    url = item.get("image_url")
    if url and location_kind(url) in ("local", "file"):
        return local.read(root, url)[0]
    return None


def _local_images(config: RealsynConfig) -> LocalImages:
    return LocalImages(config.ingest.max_image_bytes, config.ingest.allow_paths_outside_root)


def _dedup_sample(config: RealsynConfig, census: Census, images: list[tuple[str, dict]]
                  ) -> list[tuple[str, dict]]:
    """Counts quality and pHash survivors; returns one image of each pHash group."""
    cfg = config.extract.images
    local = _local_images(config)
    hashes, passed = [], []
    for root, item in images:
        data = _image_bytes(local, root, item)
        if data is None:
            continue
        census.images_sampled += 1
        decoded = usable_image(data, cfg)  # as extract_images: same hashes
        if decoded is not None:
            hashes.append(phash(decoded.image))
            passed.append((root, item))
    census.images_quality_ok = len(hashes)
    if not hashes:
        return []
    codes = np.array(hashes, dtype=np.int64)
    labels = group_labels(len(codes), linking_pairs(codes, cfg.phash_max_distance))
    _, first = np.unique(labels, return_index=True)
    census.images_unique = len(first)
    return [passed[i] for i in first]


def _semantic_sample(config: RealsynConfig, census: Census, images: list[tuple[str, dict]]
                     ) -> None:
    """Embeds `images` as the embed stage does and groups them as semantic_dedup does: pairs at
    cosine >= the threshold (the stage's per-partition search, over one partition holding the
    whole sample), one image kept per connected group."""
    if not images:
        return
    from realsyn.embed.stage import embed_image_bytes  # torch: only when there is work
    from realsyn.models.encoders import load_encoder

    local = _local_images(config)
    data = [_image_bytes(local, root, item) for root, item in images]
    vectors, _ = embed_image_bytes(load_encoder(config.embed.encoder), data, config.embed)
    vectors = np.asarray(vectors, dtype=np.float32)
    ids = np.arange(len(vectors), dtype=np.int64)
    edges = partition_edges(ids, vectors, ids, vectors,
                            config.extract.images.semantic_dedup_threshold)
    census.images_embedded = len(vectors)
    census.images_semantic_unique = len(np.unique(group_labels(len(vectors), edges)))
