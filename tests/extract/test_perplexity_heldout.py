"""The default perplexity scorer on the former held-out set
(tests/extract/perplexity_heldout_set.py), since issue #25 part 1 the second tuning set: sources
that did not train the model, among them prose the project did not write; until v3 it was only
measured. Issue #25: the v1 model (WordNet and Python docs only, plain perplexity, window
[59, 1600]) kept 90.7% of these clean sentences, dropped 62.4% of the bad ones (AUC 0.832)
and dropped all four of the issue's everyday examples; v2 (wordfreq prior and rarity
discount, [1.3, 23]) kept 96.3% and dropped 65.6% (AUC 0.928), 37% of the repeated words.
v3 added a repeat penalty and an order contrast (96.7% kept, 82.8% dropped at [2.9e-05, 21]);
v4, chosen on this set and the first together, a symbol and an unknown-word penalty; v5,
chosen on the three tuning sets (the former unseen set is the third), a skeleton score
(docs/getting-started.md). The figures on text nobody tuned to: test_perplexity_fresh.py."""

from __future__ import annotations

import sys

import pytest
from tests.extract import perplexity_heldout_set as heldout
from tests.extract import perplexity_labelled_set as tuning

from realsyn.config import SentenceFilterConfig
from realsyn.models import ngram_corpus
from realsyn.models.ngram_lm import tokenize

# Dropped as high_perplexity by v1 in two unseen corpora (issue #25).
ISSUE_EXAMPLES = [
    "Our old tabby cat spent the whole afternoon sleeping on the warm windowsill.",
    "The barista poured a double espresso into a small white porcelain cup.",
    "A vintage red convertible was shown at the classic car exhibition.",
    "Tiny beetles such as ladybirds help gardeners by eating aphids on the flowers.",
]


@pytest.fixture(scope="module")
def scorer():
    return tuning.default_ngram_scorer()


@pytest.fixture(scope="module")
def quality(scorer):
    return tuning.default_window_quality(scorer, heldout)


def test_heldout_set_is_apart_from_the_tuning_set():
    clean = heldout.clean_sentences()
    assert [len(v) for v in clean.values()] == [200, 200, 60]
    tuned = {s for group in tuning.clean_sentences().values() for s in group}
    assert not tuned & {s for group in clean.values() for s in group}
    bad = heldout.bad_sentences()
    assert set(bad) == set(heldout.BAD_KINDS)
    assert all(len(v) == heldout.BAD_PER_KIND for v in bad.values())
    assert bad == heldout.bad_sentences()  # a fixed seed: the same set every run
    # the boilerplate pool is not the tuning set's menu items
    assert not set(heldout.BOILERPLATE) & set(tuning.MENU_ITEMS)


def test_issue_examples(scorer):
    """v1 dropped all four, v2 kept all four; v3 kept three (the ladybirds sentence scored
    26.9, above its upper bound 21); v4 kept all four (2.3, 0.59, 0.31 and 5.2 under 23), and
    so do v5 (1.7, 0.23, 0.14 and 11.2 under 44) and v6 (the same values under 77)."""
    config = SentenceFilterConfig()
    values = scorer.perplexities(ISSUE_EXAMPLES)
    print(dict(zip(ISSUE_EXAMPLES, values, strict=True)))
    kept = [config.min_perplexity <= v <= config.max_perplexity for v in values]
    assert kept == [True, True, True, True]
    assert heldout.clean_sentences()["everyday"][:4] == ISSUE_EXAMPLES


def test_everyday_words_are_in_the_vocabulary(scorer):
    """"tabby", "barista" and "ladybirds" were unknown words to v1 (WordNet and Python docs);
    wordfreq's frequencies put them, and every word of the held-out everyday set, in v2."""
    words = {w for text in heldout.clean_sentences()["everyday"]
             for w in tokenize(text) if w.isalpha()}
    assert {"tabby", "barista", "ladybirds"} <= words
    assert not {w for w in words if w not in scorer.model.ids}


def test_missing_wordfreq_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "wordfreq", None)  # import fails as if not installed
    with pytest.raises(ngram_corpus.CorpusMissing, match="pip install wordfreq"):
        ngram_corpus.wordfreq_prior()


def test_default_model_on_the_second_tuning_set(quality):
    """Measured at the window calibrated by source on the four tuning sets (v6 at
    [7.9e-08, 77]: AUC 0.985, 98.7% kept, 88.6% dropped; v5 at [7.9e-08, 44]: 0.985, 98.3%,
    90.8%; v4 at the window of two sets: 0.984, 98.9%, 83.6%; v3: 0.966, 96.7%, 82.8% at its
    own window)."""
    assert quality["auc"] >= 0.984  # v3: 0.966, v4: 0.984, v5: 0.985, v6: 0.9847
    assert quality["clean_kept"] >= 0.985  # v3: 0.967, v4: 0.989, v5: 0.983, v6: 0.987
    assert quality["bad_dropped"] >= 0.885  # v3: 0.828, v4: 0.836, v5: 0.908, v6: 0.886
    assert min(quality["kept_by_kind"].values()) >= 0.98  # the fortunes (v5: 0.97, v6: 0.98)
    assert quality["dropped_by_kind"]["repeated_words"] >= 0.925  # 93 of 100 (v5: 0.97)
    assert quality["dropped_by_kind"]["shuffled"] >= 0.735  # 74 (v3: 0.75, v4: 0.50, v5: 0.78)
    assert quality["dropped_by_kind"]["char_noise"] >= 0.865  # 87 (v4: 0.90, v5: 0.88)
    assert quality["dropped_by_kind"]["boilerplate"] >= 0.915  # 92 (v4: 0.87, v5: 0.93)
    assert quality["dropped_by_kind"]["code"] >= 0.965  # 97 (v3: 0.63, v5: 0.98)
