"""Sentence splitting, cleaning and counting take linear time on pathological text (each
pattern below took minutes at 100 KB when a regex rescanned a run from every position)."""

from __future__ import annotations

import pytest

from linear_time import MAX_RATIO, growth
from realsyn.extract.sentences import clean_sentence, count_words, entropy, split_sentences

PATTERNS = {
    "hyphenated": "a-",  # domain-name pattern of the URL cleaner
    "dotted": "a.",  # labels without a top-level domain
    "punctuation": "-",  # the word counter
    "spaces": " ",  # spaces before punctuation, line breaks
    "tabs": "\t",
    "emoji": "\U0001F600 ",  # emoji removed, leaving a run of spaces
    "www": "www.",
    "comma": "x ,",
}
FUNCTIONS = {"split": split_sentences, "clean": clean_sentence, "count_words": count_words,
             "entropy": entropy}


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_text_handling_grows_linearly(pattern):
    unit = PATTERNS[pattern]
    ratios = {name: growth(function, lambda n: "Start " + unit * n + " end", 20_000)
              for name, function in FUNCTIONS.items()}
    assert max(ratios.values()) < MAX_RATIO, ratios
