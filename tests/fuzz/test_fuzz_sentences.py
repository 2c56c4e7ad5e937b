"""Property-based tests of the sentence splitter and cleaner."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from realsyn.extract.sentences import clean_sentence, count_words, entropy, split_sentences

FUZZ = settings(max_examples=300, deadline=None)
PIECES = st.sampled_from(["a-", "a.", "www.", "http://", "x.com", " ", "\n", "\t", ",", ".",
                          "\U0001F600", "Word", "-", "https://h.test/p?q=1", "\u200d"])
TEXT = st.one_of(st.text(max_size=300),
                 st.lists(PIECES, max_size=200).map("".join))


@settings(max_examples=300, deadline=None)
@given(TEXT, st.booleans())
def test_splitting_keeps_only_stripped_nonempty_sentences(text, newlines):
    for sentence in split_sentences(text, newlines):
        assert sentence and sentence == sentence.strip()
        if newlines:
            assert "\n" not in sentence


@FUZZ
@given(TEXT)
def test_cleaning_leaves_normalised_text_and_never_grows_it(text):
    cleaned = clean_sentence(text)
    assert "  " not in cleaned.text and cleaned.text == cleaned.text.strip()
    # Not idempotent in general: removing an emoji can join "0" and ".cn" into a new domain.
    assert len(clean_sentence(cleaned.text).text) <= len(cleaned.text)
    assert not clean_sentence(cleaned.text).had_emoji


@FUZZ
@given(TEXT, st.text(alphabet="abcxyz0123/-_?=&", max_size=20), TEXT)
def test_standalone_urls_are_removed(before, path, after):
    cleaned = clean_sentence(f"{before} https://images.test/{path} {after}")
    assert cleaned.had_url and "images.test/" not in cleaned.text


@FUZZ
@given(TEXT)
def test_word_counts_and_entropy_are_bounded(text):
    assert 0 <= count_words(text) <= len(text.split())
    for kind in ("word_normalized", "char"):
        assert 0.0 <= entropy(text, kind) <= 1.0 + 1e-9
