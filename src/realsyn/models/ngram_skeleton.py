"""The word-order skeleton of a sentence, for the n-gram model's skeleton score (ngram_lm).

A word model trained on a small text scores a plain sentence of words it rarely saw together
about as badly as the same words shuffled: both are runs of unseen bigrams. The skeleton keeps
the most frequent English words (articles, prepositions, auxiliaries, pronouns: the grammar of
a sentence) and punctuation as they are, and replaces every other word with its class (a word,
or a word ending in -ing, -ed, -ly or -s; a number). A higher-order n-gram model of skeletons
then knows "the X of X Xed" from any prose, whatever its vocabulary, while shuffled words give
skeletons English does not have ("X the of . Xs").
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# Classes of the words the skeleton does not keep; spelt so that no token can be one.
NUMBER = "<N>"
WORD = "<X>"
# Suffixes that mark a word's part of speech cheaply (-ing, -ed: verbs; -ly: adverbs; -s:
# plurals and third-person verbs); the word must be longer than the suffix by 3 letters.
SUFFIXES = ("ing", "ed", "ly", "s")
_MIN_STEM = 3


def word_class(word: str, kept: frozenset[str] | set[str]) -> str:
    """The skeleton token of one normalised token (see the module doc)."""
    if word in kept or not word[0].isalnum():
        return word
    if word[0].isdigit():
        return NUMBER
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) >= len(suffix) + _MIN_STEM:
            return f"<X{suffix}>"
    return WORD


def skeleton(words: Iterable[str], kept: frozenset[str] | set[str]) -> list[str]:
    return [word_class(word, kept) for word in words]


def class_ids(vocab: list[str], kept: frozenset[str] | set[str], skeleton_ids: dict[str, int],
              unknown_id: int) -> np.ndarray:
    """For each word id of a model's vocabulary, the skeleton model's id of its class; the
    skeleton model's <unk> for a class it never saw. The words of `vocab` that are not words
    (<unk>, <s>, </s>) map to the skeleton's own ids of the same name."""
    mapping = np.empty(len(vocab), dtype=np.int64)
    for i, word in enumerate(vocab):
        token = word if word in skeleton_ids else word_class(word, kept)
        mapping[i] = skeleton_ids.get(token, unknown_id)
    return mapping
